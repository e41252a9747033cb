"""The Android flow against a loopback phone, driven by the REAL adb client.

The phone is tests/loopback_adb (conftest fixture ``loopback_device``): a device-side ADB server
on 127.0.0.1 whose shell runs commands on this machine with /data, /sys... mapped into a scratch
root. The native runners are host programs in tests/runners/ that speak the real runners' command
lines and output formats and really run the exported model (ExecuTorch / ONNX Runtime Python
runtimes); they are pushed to the phone like the real binaries and run by its shell.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, load_results
from affdeploy.devices import resolve_device
from affdeploy.devices.adb import Adb
from affdeploy.devices.android import DEVICE_DIR, AndroidSession, RunnerPaths, run_bench
from affdeploy.errors import DeviceError, ToolMissingError
from cli_helpers import cli
from loopback_adb.device import LoopbackDevice

RUNNERS = Path(__file__).parent / "runners"
IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def pte(affnet_et_64_models: Path) -> Path:
    """The session's affnet-et .pte (XNNPACK, DFT) at 64x64, as the export cache holds it."""
    (path,) = affnet_et_64_models.glob("cache/*/*.pte")
    return path


def host_binary(folder: Path, name: str, body: str) -> Path:
    """A "native binary" for the phone: a shell script (the loopback phone's shell runs it on this machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def stand_in(folder: Path, name: str) -> Path:
    """The tests/runners stand-in for ``name`` (executor_runner, onnxruntime_perf_test) as a pushable binary."""
    return host_binary(folder, name, f'exec {sys.executable} {RUNNERS / (name + ".py")} "$@"')


@pytest.fixture
def on_phone(loopback_device: LoopbackDevice, monkeypatch: pytest.MonkeyPatch) -> LoopbackDevice:
    """This process talks to the loopback phone's private adb server, as a user's shell would."""
    for key, value in loopback_device.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    for key in ("AFFDEPLOY_EXECUTOR_RUNNER", "AFFDEPLOY_ORT_PERF_TEST", "AFFDEPLOY_ANDROID_RUNNER"):
        monkeypatch.delenv(key, raising=False)
    return loopback_device


def request_for(artifact: Path, **kwargs: object) -> BenchRequest:
    defaults: dict[str, object] = dict(models=["affnet-et"], targets=["executorch"], fft="dft", threads=[1], warmup=1,
                                       iters=3, image_size=IMAGE_SIZE, artifacts=[artifact])
    defaults.update(kwargs)
    return BenchRequest(**defaults)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- discovery


def test_devices_json_lists_the_phone(on_phone: LoopbackDevice, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "devices", "--json")
    assert code == 0
    (dev,) = [d for d in json.loads(out)["devices"] if d["serial"] == on_phone.serial]
    assert (dev["model"], dev["manufacturer"], dev["abi"], dev["profile"]) == ("Pixel 7", "Google", "arm64-v8a", "pixel7")
    assert dev["soc"] == "Tensor G2" and dev["os"] == "Android 14 (SDK 34)" and dev["sdk"] == 34
    assert dev["clusters"] == [
        {"cpus": [0, 1, 2, 3], "max_mhz": 1803}, {"cpus": [4, 5], "max_mhz": 2348}, {"cpus": [6, 7], "max_mhz": 2850},
    ]
    assert dev["battery"] == {"level": 85, "temperature_c": 29.0}
    assert {z["type"]: z["temp_c"] for z in dev["thermal"]}["BIG"] == 32.0


def test_devices_table_and_empty_listing(on_phone: LoopbackDevice, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "devices")
    assert code == 0 and "pixel7" in out and "Pixel 7" in out
    on_phone.detach()
    code, out, err = cli(capsys, "devices", "--json")
    assert code == 0 and json.loads(out)["devices"] == []
    assert "USB debugging" in err or "USB debugging" in out


def test_adb_missing_is_one_clear_line(on_phone: LoopbackDevice, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    code, out, err = cli(capsys, "devices")
    assert code == 1
    assert "adb is not installed" in err and "apt-get install adb" in err and "Traceback" not in err
    with pytest.raises(ToolMissingError, match="adb is not installed"):
        resolve_device("pixel7")


# ----------------------------------------------------------------------------- device selection


def test_profile_and_serial_select_the_phone(on_phone: LoopbackDevice) -> None:
    by_profile = resolve_device("pixel7")
    assert by_profile.kind == "android" and by_profile.id == on_phone.serial
    assert by_profile.profile is not None and by_profile.profile.name == "pixel7"
    assert by_profile.info.name == "pixel7" and by_profile.info.extra["clusters"][-1]["cpus"] == [6, 7]
    assert resolve_device(on_phone.serial).id == on_phone.serial
    assert resolve_device(None).id == on_phone.serial  # the only attached device


def test_unknown_or_missing_device_lists_what_is_attached(on_phone: LoopbackDevice) -> None:
    with pytest.raises(DeviceError, match="galaxy-s23") as missing:
        resolve_device("galaxy-s23")
    assert on_phone.serial in missing.value.message and "Pixel" in missing.value.message
    with pytest.raises(DeviceError, match="not a serial, UDID or known profile") as unknown:
        resolve_device("nokia3310")
    assert on_phone.serial in unknown.value.message


def test_two_matching_phones_are_ambiguous(on_phone: LoopbackDevice, tmp_path: Path) -> None:
    second = LoopbackDevice(tmp_path / "second")
    second.start()
    try:
        second.attach(on_phone.env)
        with pytest.raises(DeviceError, match="2 attached devices match profile pixel7") as err:
            resolve_device("pixel7")
        assert on_phone.serial in err.value.message and second.serial in err.value.message
        assert resolve_device(second.serial).id == second.serial
    finally:
        second.detach()
        second.kill()


# ----------------------------------------------------------------------------- files


def test_push_and_pull_round_trip(on_phone: LoopbackDevice, tmp_path: Path) -> None:
    payload = os.urandom(300_000)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    adb = Adb(on_phone.serial)
    adb.shell(f"mkdir -p {DEVICE_DIR}")
    adb.push(local, f"{DEVICE_DIR}/blob.bin")
    assert on_phone.device_path(f"{DEVICE_DIR}/blob.bin").read_bytes() == payload
    adb.pull(f"{DEVICE_DIR}/blob.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == payload
    with pytest.raises(DeviceError, match="adb pull"):
        adb.pull(f"{DEVICE_DIR}/missing.bin", tmp_path / "nothing.bin")


# ----------------------------------------------------------------------------- the bench flow


def test_bench_cli_end_to_end_with_native_runners(on_phone: LoopbackDevice, affnet_et_64_models: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AFFDEPLOY_EXECUTOR_RUNNER", str(stand_in(tmp_path / "bin", "executor_runner")))
    monkeypatch.setenv("AFFDEPLOY_ORT_PERF_TEST", str(stand_in(tmp_path / "bin", "onnxruntime_perf_test")))
    out_json = tmp_path / "results.json"
    code, out, err = cli(capsys, "bench", "--device", "pixel7", "--model", "affnet-et", "--target", "executorch,onnx",
                         "--image-size", str(IMAGE_SIZE), "--threads", "2", "--warmup", "2", "--iters", "4",
                         "--models-dir", str(affnet_et_64_models), "--json", str(out_json))
    assert code == 0, err
    assert "affnet-et" in out and "pixel7" in out  # the results table
    records = {(r.runner, r.threads): r for r in load_results(out_json)}
    assert set(records) == {("executor_runner", 2), ("onnxruntime_perf_test", 2)}
    for rec in records.values():
        assert rec.device.kind == "android" and rec.device.serial == on_phone.serial and rec.device.name == "pixel7"
        assert len(rec.samples_ms) == 4 and all(s > 0 for s in rec.samples_ms) and rec.stats.count == 4
        assert rec.load_ms is not None and rec.load_ms > 0 and rec.first_inference_ms is not None
        assert rec.fft in ("dft", "native") and rec.image_size == IMAGE_SIZE and rec.macs and rec.gmacs_per_s
        assert any("pinned to CPUs [6, 7] (taskset c0)" in n for n in rec.notes)
    assert records[("executor_runner", 2)].backend == "xnnpack" and records[("onnxruntime_perf_test", 2)].backend == "ort-cpu"
    assert any(n.startswith("pushed ") and "executor_runner" in n for n in records[("executor_runner", 2)].notes)
    # What the phone saw: big-core pinning of both runners, models and runners in place, no temp files left.
    pinned = [entry for entry in on_phone.taskset_log() if entry["command"]]
    assert {entry["mask"] for entry in pinned} == {"c0"}
    assert {Path(entry["command"][0]).name for entry in pinned} == {"executor_runner", "onnxruntime_perf_test"}
    on_device = sorted(p.name for p in on_phone.device_path(DEVICE_DIR).iterdir())
    assert [n for n in on_device if n.endswith((".pte", ".onnx"))] and "executor_runner" in on_device
    assert not [n for n in on_device if n.endswith(".csv")]


def test_device_killed_mid_run_keeps_collected_records(on_phone: LoopbackDevice, pte: Path, tmp_path: Path) -> None:
    runner = stand_in(tmp_path / "bin", "executor_runner")
    partial = tmp_path / "partial.json"
    seen: list[BenchRecord] = []

    def unplug_after_first(record: BenchRecord) -> None:
        seen.append(record)
        on_phone.kill()

    with pytest.raises(DeviceError) as err:
        run_bench(request_for(pte, threads=[1, 2]), resolve_device("pixel7"), on_record=unplug_after_first,
                  runners=RunnerPaths(executor_runner=runner), partial_path=partial)
    assert "disconnected" in err.value.message and str(partial) in err.value.message
    kept = load_results(partial)
    assert len(kept) == 1 and kept[0].threads == 1 and kept[0].samples_ms == seen[0].samples_ms


def test_full_disk_fails_before_pushing_and_same_files_are_not_pushed_again(on_phone: LoopbackDevice, pte: Path,
                                                                           tmp_path: Path) -> None:
    on_phone.set_free_bytes(1_000_000)
    with pytest.raises(DeviceError, match="not enough free space") as err:
        run_bench(request_for(pte), resolve_device("pixel7"),
                  runners=RunnerPaths(executor_runner=stand_in(tmp_path / "bin", "executor_runner")))
    assert "MiB free" in err.value.message
    assert not on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").exists()
    on_phone.set_free_bytes(10**9)
    session = AndroidSession(resolve_device("pixel7"), request_for(pte), RunnerPaths(), Adb())
    files = [(pte, f"{DEVICE_DIR}/{pte.name}")]
    assert session.sync(files) == [f"pushed {pte.name}"]
    assert on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").read_bytes() == pte.read_bytes()
    assert "not pushed again" in session.sync(files)[0]
    on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").write_bytes(b"stale")  # a different file of that name
    assert session.sync(files) == [f"pushed {pte.name}"]


def test_failing_runner_reports_its_stderr(on_phone: LoopbackDevice, pte: Path, tmp_path: Path) -> None:
    broken = host_binary(tmp_path / "bin", "executor_runner",
                         'echo "E 00:00:00.000311 executorch:executor_runner.cpp:469] Failed to parse model file $1" >&2\nexit 3')
    with pytest.raises(DeviceError, match="executor_runner exited with code 3") as err:
        run_bench(request_for(pte), resolve_device("pixel7"), runners=RunnerPaths(executor_runner=broken))
    assert "Failed to parse model file --model_path=/data/local/tmp/affdeploy/" in err.value.message


def test_no_runner_configured_says_how_to_get_one(on_phone: LoopbackDevice, pte: Path) -> None:
    with pytest.raises(ToolMissingError, match="AFFDEPLOY_EXECUTOR_RUNNER"):
        run_bench(request_for(pte), resolve_device("pixel7"), runners=RunnerPaths())


def test_cool_down_waits_then_reports_a_still_hot_phone(on_phone: LoopbackDevice, pte: Path) -> None:
    session = AndroidSession(resolve_device("pixel7"), request_for(pte), RunnerPaths(), Adb())
    assert session.cool_down(5.0) == []  # 32 °C: nothing to wait for
    on_phone.set_temperatures(60.0, battery=41.0)
    (note,) = session.cool_down(1.0)
    assert "still hot" in note and "60.0 °C" in note and "41.0 °C" in note
    on_phone.set_temperatures(55.0, battery=39.0, cool_to=30.0, cool_seconds=2.0)
    (note,) = session.cool_down(30.0)
    assert note.startswith("cooled down for")


# ----------------------------------------------------------------------------- the benchmark app

APP_HANDLER = """
import json, os, sys
from affdeploy.bench.schema import BenchRecord, DeviceInfo, dump_results
from affdeploy.bench.stats import compute_stats
extras = json.loads(os.environ["LOOPBACK_INTENT"])["extras"]
samples = [12.0 + 0.5 * i for i in range(extras["iterations"])]
record = BenchRecord(model=extras["model_name"], target="executorch", backend=extras["backend"], fft=extras["fft"],
    threads=extras["threads"], precision="fp32", image_size=64, device=DeviceInfo(kind="android", name="app"),
    runner="android-app", samples_ms=samples, stats=compute_stats(samples), warmup=extras["warmup"], load_ms=40.0,
    first_inference_ms=30.0, tools={"executorch-android": "1.0.0"}, notes=["from the app"])
os.makedirs("files", exist_ok=True)
with open("files/benchmark_results.json.tmp", "w") as f:
    json.dump(dump_results([record]), f)
os.replace("files/benchmark_results.json.tmp", "files/benchmark_results.json")
"""


def test_benchmark_app_route(on_phone: LoopbackDevice, pte: Path, tmp_path: Path) -> None:
    apk = tmp_path / "app.apk"
    import zipfile

    with zipfile.ZipFile(apk, "w") as zf:
        zf.writestr("AndroidManifest.xml", '<manifest package="org.affdeploy.bench"/>')
    assert "Success" in on_phone.adb("install", str(apk)).stdout
    handler = tmp_path / "app.py"
    handler.write_text(APP_HANDLER)
    on_phone.set_intent_handler("org.affdeploy.bench/.BenchmarkActivity", [sys.executable, str(handler)])
    (record,) = run_bench(request_for(pte, warmup=2, iters=6, threads=[2]), resolve_device("pixel7"),
                          runners=RunnerPaths(choice="app"))
    assert record.runner == "android-app" and record.device.name == "pixel7" and record.device.kind == "android"
    assert record.samples_ms == [12.0 + 0.5 * i for i in range(6)] and record.stats.count == 6
    assert record.tools == {"executorch-android": "1.0.0"} and "from the app" in record.notes
    (intent,) = [i for i in on_phone.intent_log() if i["command"] == "start"]
    assert intent["component"] == "org.affdeploy.bench/org.affdeploy.bench.BenchmarkActivity"
    assert intent["extras"] == {"model_path": f"{DEVICE_DIR}/{pte.name}", "backend": "xnnpack", "warmup": 2,
                                "iterations": 6, "threads": 2, "model_name": "affnet-et", "fft": "dft"}
    assert "-W" in intent["flags"]
    assert not (on_phone.root / "data/data/org.affdeploy.bench/files/benchmark_results.json").exists()
