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
import re
import sys
import time
import zipfile
from pathlib import Path

import pytest
from cli_helpers import cli
from loopback_adb.device import DeviceConfig, LoopbackDevice
from reduced_affnet import SHARED_MODEL

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import load_results
from affdeploy.devices import resolve_device
from affdeploy.devices.android import AndroidDevice
from affdeploy.devices.android import session as android_session
from affdeploy.devices.android.adb import Adb
from affdeploy.devices.android.bench import run_bench
from affdeploy.devices.android.probes import Cluster
from affdeploy.devices.android.runners import RUNNERS as NATIVE_RUNNERS
from affdeploy.devices.android.runners import RunnerPaths
from affdeploy.devices.android.session import DEVICE_DIR, AndroidSession
from affdeploy.errors import DeviceError, ToolMissingError, UsageError
from affdeploy.export.registry import target_names
from affdeploy.vocab import DeviceKind

RUNNERS = Path(__file__).parent / "runners"
IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def pte(affnet_et_64_models: Path) -> Path:
    """The session's shared AFFNet-ET .pte (XNNPACK, DFT) at 64x64, as `affdeploy export` wrote it."""
    (path,) = affnet_et_64_models.glob("*.pte")
    return path


def host_binary(folder: Path, name: str, body: str) -> Path:
    """A "native binary" for the phone: a shell script (the loopback phone's shell runs it on this machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def stand_in(folder: Path, name: str, env: str = "") -> Path:
    """The tests/runners stand-in for ``name`` (executor_runner, onnxruntime_perf_test) as a pushable binary."""
    return host_binary(folder, name, f'{env} exec {sys.executable} {RUNNERS / (name + ".py")} "$@"'.strip())


def executorch_runner(folder: Path, env: str = "") -> RunnerPaths:
    return RunnerPaths({"executorch": stand_in(folder, "executor_runner", env)})


def phone(selector: str = "pixel7") -> AndroidDevice:
    device = resolve_device(selector)
    assert isinstance(device, AndroidDevice)
    return device


def session_on(device: AndroidDevice) -> AndroidSession:
    return AndroidSession(device.id, [Cluster.from_dict(c) for c in device.info.extra["clusters"]])


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
    defaults: dict[str, object] = dict(models=[SHARED_MODEL], targets=["executorch"], fft="dft", threads=[1], warmup=1,
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


def test_verbose_logs_every_adb_call_with_its_duration(on_phone: LoopbackDevice, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--verbose", "devices", "--json")
    assert code == 0 and json.loads(out)["devices"]
    calls = [line for line in err.splitlines() if "affdeploy.devices.calls: $ " in line]
    assert any(re.search(r"adb devices -l -> exit 0 \(\d+\.\d{3} s\)$", line) for line in calls)
    assert any(f"-s {on_phone.serial} shell getprop -> exit 0" in line for line in calls)
    code, _, err = cli(capsys, "devices", "--json")
    assert code == 0 and "affdeploy.devices.calls" not in err  # quiet again without --verbose


def test_adb_missing_is_one_clear_line(on_phone: LoopbackDevice, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    code, out, err = cli(capsys, "devices")
    assert code == 1
    assert "adb is not installed" in err and "apt-get install adb" in err and "Traceback" not in err
    with pytest.raises(ToolMissingError, match="adb is not installed"):
        resolve_device("pixel7")
    assert resolve_device(None).kind == "host"  # no ANDROID_SERIAL: this machine, adb is not needed


# ----------------------------------------------------------------------------- device selection


def test_profile_and_serial_select_the_phone(on_phone: LoopbackDevice) -> None:
    by_profile = resolve_device("pixel7")
    assert by_profile.kind == "android" and by_profile.id == on_phone.serial
    assert by_profile.profile is not None and by_profile.profile.name == "pixel7"
    assert by_profile.info.name == "pixel7" and by_profile.info.extra["clusters"][-1]["cpus"] == [6, 7]
    assert resolve_device(on_phone.serial).id == on_phone.serial
    assert resolve_device("android").id == on_phone.serial  # the only attached device
    assert resolve_device(None).kind == "host"  # without ANDROID_SERIAL, bench stays on this machine


def test_android_serial_picks_the_phone(on_phone: LoopbackDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDROID_SERIAL", on_phone.serial)
    assert (resolve_device(None).kind, resolve_device(None).id) == ("android", on_phone.serial)
    monkeypatch.setenv("ANDROID_SERIAL", "127.0.0.1:1")
    with pytest.raises(DeviceError, match="ANDROID_SERIAL=127.0.0.1:1 is not attached"):
        resolve_device(None)


@pytest.mark.parametrize("loopback_device", [DeviceConfig(model="SM-S911U1", manufacturer="samsung")], indirect=True)
def test_regional_model_number_matches_its_profile(on_phone: LoopbackDevice) -> None:
    device = phone("galaxy-s23")  # a US-unlocked Galaxy S23 reports SM-S911U1
    assert device.id == on_phone.serial and device.info.name == "galaxy-s23"


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


def test_bench_cli_end_to_end_with_native_runners(on_phone: LoopbackDevice, affnet_et_64_every_target: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANDROID_SERIAL", on_phone.serial)  # no --device: the README says bench takes this phone
    out_json = tmp_path / "results.json"
    code, out, err = cli(capsys, "bench", "--model", SHARED_MODEL, "--target", "all", "--image-size", str(IMAGE_SIZE),
                         "--threads", "2", "--warmup", "2", "--iters", "4", "--models-dir", str(affnet_et_64_every_target),
                         "--executor-runner", str(stand_in(tmp_path / "bin", "executor_runner")),
                         "--ort-perf-test", str(stand_in(tmp_path / "bin", "onnxruntime_perf_test")),
                         "--tflite-benchmark", str(stand_in(tmp_path / "bin", "benchmark_model")),
                         "--json", str(out_json))
    assert code == 0, err
    assert SHARED_MODEL in out and "pixel7" in out  # the results table
    records = {(r.runner, r.threads): r for r in load_results(out_json)}
    runners = {NATIVE_RUNNERS[t].name for t in target_names(DeviceKind.ANDROID)}  # LiteRT's when its packages are installed
    assert set(records) == {(name, 2) for name in runners} and {"executor_runner", "onnxruntime_perf_test"} <= runners
    for rec in records.values():
        assert rec.device.kind == "android" and rec.device.serial == on_phone.serial and rec.device.name == "pixel7"
        assert len(rec.samples_ms) == 4 and all(s > 0 for s in rec.samples_ms) and rec.stats.count == 4
        assert rec.load_ms is not None and rec.load_ms > 0 and rec.first_inference_ms is not None
        assert rec.fft in ("dft", "native") and rec.image_size == IMAGE_SIZE and rec.macs and rec.gmacs_per_s
        assert any("pinned to CPUs [6, 7] (taskset c0)" in n for n in rec.notes)
    assert records[("executor_runner", 2)].backend == "xnnpack"
    assert records[("onnxruntime_perf_test", 2)].backend == "ort-cpu"
    assert any(n.startswith("pushed ") and "executor_runner" in n for n in records[("executor_runner", 2)].notes)
    # What the phone saw: big-core pinning of both runners, models and runners in place, no temp files left.
    pinned = [entry for entry in on_phone.taskset_log() if entry["command"]]
    assert {entry["mask"] for entry in pinned} == {"c0"}
    assert {Path(entry["command"][0]).name for entry in pinned} == runners
    on_device = sorted(p.name for p in on_phone.device_path(DEVICE_DIR).iterdir())
    assert [n for n in on_device if n.endswith((".pte", ".onnx"))] and "executor_runner" in on_device
    assert not [n for n in on_device if n.endswith(".csv")]


def test_device_killed_mid_run_keeps_collected_records(on_phone: LoopbackDevice, pte: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial.json"

    def unplug_before_second(message: str, fraction: float | None = None) -> None:
        if fraction:  # one of two configurations is done
            on_phone.kill()

    with pytest.raises(DeviceError) as err:
        run_bench(request_for(pte, threads=[1, 2]), phone(), progress=unplug_before_second,
                  runners=executorch_runner(tmp_path / "bin"), partial_path=partial)
    assert "disconnected" in err.value.message and str(partial) in err.value.message
    kept = load_results(partial)
    assert len(kept) == 1 and kept[0].threads == 1 and len(kept[0].samples_ms) == 3


def test_full_disk_fails_before_pushing_and_same_files_are_not_pushed_again(on_phone: LoopbackDevice, pte: Path,
                                                                           tmp_path: Path) -> None:
    on_phone.set_free_bytes(1_000_000)
    with pytest.raises(DeviceError, match="not enough free space") as err:
        run_bench(request_for(pte), phone(), runners=executorch_runner(tmp_path / "bin"))
    assert "MiB free" in err.value.message
    assert not on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").exists()
    on_phone.set_free_bytes(10**9)
    session = session_on(phone())
    files = [(pte, f"{DEVICE_DIR}/{pte.name}")]
    assert session.sync(files) == [f"pushed {pte.name}"]
    assert on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").read_bytes() == pte.read_bytes()
    assert "not pushed again" in session.sync(files)[0]
    on_phone.device_path(f"{DEVICE_DIR}/{pte.name}").write_bytes(b"stale")  # a different file of that name
    assert session.sync(files) == [f"pushed {pte.name}"]


def test_failing_runner_reports_its_stderr(on_phone: LoopbackDevice, pte: Path, tmp_path: Path) -> None:
    broken = host_binary(tmp_path / "bin", "executor_runner",
                         'echo "E 00:00:00.000311 executorch:executor_runner.cpp:469] Failed to parse model file $1" '
                         '>&2\nexit 3')
    with pytest.raises(DeviceError, match="executor_runner exited with code 3") as err:
        run_bench(request_for(pte), phone(), runners=RunnerPaths({"executorch": broken}))
    assert "Failed to parse model file --model_path=/data/local/tmp/affdeploy/" in err.value.message


def test_runner_hung_in_timed_runs_is_stopped_naming_the_step_and_keeps_records(
    on_phone: LoopbackDevice, pte: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 2-thread run hangs after 2 of its 4 executions: stopped within the margin after its measured runs."""
    monkeypatch.setattr(android_session, "MARGIN_S", 2.0)
    hang_at_two_threads = 'case "$*" in *--cpu_threads=2*) export FAKE_HANG_AFTER=2;; esac'
    runner = host_binary(tmp_path / "bin", "executor_runner",
                         f'{hang_at_two_threads}\nexec {sys.executable} {RUNNERS / "executor_runner.py"} "$@"')
    partial = tmp_path / "partial.json"
    started = time.monotonic()
    with pytest.raises(DeviceError) as err:
        run_bench(request_for(pte, threads=[1, 2]), phone(), runners=RunnerPaths({"executorch": runner}),
                  partial_path=partial)
    assert time.monotonic() - started < 30  # the hang costs the derived ~2 s, not 300 s + 10 s per run
    assert f"executor_runner hung on {on_phone.serial} during timed runs (run 2 of 3)" in err.value.message
    assert "derived from the runs before it" in err.value.message and str(partial) in err.value.message
    (kept,) = load_results(partial)
    assert kept.threads == 1 and len(kept.samples_ms) == 3


def test_runner_hung_loading_gets_the_bounded_first_step_only(on_phone: LoopbackDevice, pte: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(android_session, "FIRST_STEP_S", 2.0)
    started = time.monotonic()
    with pytest.raises(DeviceError) as err:
        run_bench(request_for(pte, iters=100_000), phone(),
                  runners=executorch_runner(tmp_path / "bin", "FAKE_HANG_AFTER=load"))
    assert time.monotonic() - started < 15  # not scaled by --iters
    assert err.value.message == (f"executor_runner hung on {on_phone.serial} during loading the model: not done "
                                 "within the 2 s allowed before anything is measured")
    assert "fewer --iters" in (err.value.hint or "")


def test_runner_without_results_file_is_no_output_not_a_failed_pull(on_phone: LoopbackDevice, affnet_et_64_models: Path,
                                                                     tmp_path: Path) -> None:
    (onnx,) = affnet_et_64_models.glob("*.onnx")
    silent = host_binary(tmp_path / "bin", "onnxruntime_perf_test", 'echo "W: CPU features unknown" >&2\nexit 0')
    with pytest.raises(DeviceError) as err:
        run_bench(request_for(onnx, targets=["onnx"]), phone(), runners=RunnerPaths({"onnx": silent}))
    assert re.fullmatch(rf"onnxruntime_perf_test produced no output on {re.escape(on_phone.serial)}: it exited with "
                        rf"code 0 without writing {DEVICE_DIR}/ort-result-\d+\.csv; its last lines: W: CPU features "
                        "unknown", err.value.message), err.value.message
    assert "pull" not in err.value.message


def test_release_built_runner_fails_at_once_naming_the_logging_flag(
    on_phone: LoopbackDevice, affnet_et_64_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Release executor_runner prints no ET_LOG line: the first process ends the run with the cause and the fix."""
    monkeypatch.setenv("AFFDEPLOY_EXECUTOR_RUNNER",
                       str(stand_in(tmp_path / "bin", "executor_runner", "FAKE_ET_LOGGING=off")))
    code, _, err = cli(capsys, "bench", "--device", "pixel7", "--model", SHARED_MODEL, "--target", "executorch",
                       "--image-size", str(IMAGE_SIZE), "--warmup", "1", "--iters", "50",
                       "--models-dir", str(affnet_et_64_models))
    assert code == 1
    (line,) = err.strip().splitlines()
    assert "without printing a single ET_LOG line" in line and "Debug builds" in line
    assert "-DEXECUTORCH_ENABLE_LOGGING=ON" in line
    assert len([e for e in on_phone.taskset_log() if e["command"]]) == 1  # no retry, no process per sample


def test_no_runner_configured_says_how_to_get_one(on_phone: LoopbackDevice, pte: Path) -> None:
    with pytest.raises(ToolMissingError, match="--executor-runner / AFFDEPLOY_EXECUTOR_RUNNER") as err:
        run_bench(request_for(pte), phone(), runners=RunnerPaths())
    assert "--runner-path" not in str(err.value)


def test_runner_paths_from_options_then_environment(tmp_path: Path) -> None:
    given, from_env = stand_in(tmp_path / "a", "executor_runner"), stand_in(tmp_path / "b", "onnxruntime_perf_test")
    env = {"AFFDEPLOY_EXECUTOR_RUNNER": str(tmp_path / "elsewhere"), "AFFDEPLOY_ORT_PERF_TEST": str(from_env)}
    paths = RunnerPaths.resolve({"executorch": given}, env)
    assert paths.paths == {"executorch": given, "onnx": from_env} and paths.choice == "auto"
    with pytest.raises(UsageError, match=r"onnxruntime_perf_test .*missing does not exist \(check --ort-perf-test"):
        RunnerPaths.resolve({"onnx": tmp_path / "missing"}, {})
    with pytest.raises(UsageError, match="AFFDEPLOY_ANDROID_RUNNER must be one of auto, native, app"):
        RunnerPaths.resolve({}, {"AFFDEPLOY_ANDROID_RUNNER": "fast"})
    assert RunnerPaths.resolve({"executorch": given}, {"AFFDEPLOY_ANDROID_RUNNER": "app"}).native("executorch") is None


def test_cool_down_waits_then_reports_a_still_hot_phone(on_phone: LoopbackDevice, pte: Path) -> None:
    session = session_on(phone())
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
os.makedirs("files", exist_ok=True)
if extras["image_size"] != 64:  # the app feeds the model an input of this size: a wrong one fails in the runtime
    with open("files/benchmark_error.txt", "w") as f:
        f.write(f"IllegalStateException: input 1x3x{extras['image_size']}x{extras['image_size']} does not fit the model\\n")
    sys.exit(0)
samples = [12.0 + 0.5 * i for i in range(extras["iterations"])]
record = BenchRecord(model=extras["model_name"], target="executorch", backend=extras["backend"], fft=extras["fft"],
    threads=extras["threads"], precision=extras["precision"], image_size=extras["image_size"],
    device=DeviceInfo(kind="android", name="app"), runner="android-app", samples_ms=samples,
    stats=compute_stats(samples), warmup=extras["warmup"], load_ms=40.0, first_inference_ms=30.0,
    tools={"executorch-android": "1.0.0"}, notes=["from the app"])
with open("files/benchmark_results.json.tmp", "w") as f:
    json.dump(dump_results([record]), f)
os.replace("files/benchmark_results.json.tmp", "files/benchmark_results.json")
"""
JAVA_ARGS = Path(__file__).parents[1] / "android_app/benchcore/src/main/java/org/affdeploy/bench/core/BenchmarkArgs.java"


def java_extra_keys() -> set[str]:
    """BenchmarkArgs.KEYS, read from the Java source: every extra the app understands."""
    source = JAVA_ARGS.read_text()
    names = re.search(r"KEYS\s*=\s*Arrays\.asList\(([^)]*)\)", source).group(1)
    constants = dict(re.findall(r'static final String (\w+) = "([^"]+)"', source))
    return {constants[n.strip()] for n in names.split(",")}


@pytest.fixture
def app_installed(on_phone: LoopbackDevice, tmp_path: Path) -> LoopbackDevice:
    """The benchmark app installed on the phone, played by APP_HANDLER."""
    apk = tmp_path / "app.apk"
    with zipfile.ZipFile(apk, "w") as zf:
        zf.writestr("AndroidManifest.xml", '<manifest package="org.affdeploy.bench"/>')
    assert "Success" in on_phone.adb("install", str(apk)).stdout
    handler = tmp_path / "app.py"
    handler.write_text(APP_HANDLER)
    on_phone.set_intent_handler("org.affdeploy.bench/.BenchmarkActivity", [sys.executable, str(handler)])
    return on_phone


def test_benchmark_app_route_passes_every_field_the_app_takes(app_installed: LoopbackDevice, pte: Path) -> None:
    (record,) = run_bench(request_for(pte, warmup=2, iters=6, threads=[2]), phone(), runners=RunnerPaths(choice="app"))
    assert record.runner == "android-app" and record.device.name == "pixel7" and record.device.kind == "android"
    assert record.samples_ms == [12.0 + 0.5 * i for i in range(6)] and record.stats.count == 6
    assert record.tools == {"executorch-android": "1.0.0"} and "from the app" in record.notes
    (intent,) = [i for i in app_installed.intent_log() if i["command"] == "start"]
    assert intent["component"] == "org.affdeploy.bench/org.affdeploy.bench.BenchmarkActivity"
    extras = intent["extras"]
    assert set(extras) == java_extra_keys() - {"model_meta"}  # a user model's metadata file (test_app_user_models.py)
    assert extras == {"model_path": f"{DEVICE_DIR}/{pte.name}", "backend": "xnnpack", "warmup": 2, "iterations": 6,
                      "threads": 2, "model_name": SHARED_MODEL, "fft": "dft", "image_size": IMAGE_SIZE,
                      "precision": "fp32", "macs": record.macs}
    assert "-W" in intent["flags"]
    assert not (app_installed.root / "data/data/org.affdeploy.bench/files/benchmark_results.json").exists()


def test_benchmark_app_error_ends_the_run_with_its_message(app_installed: LoopbackDevice, pte: Path) -> None:
    with pytest.raises(DeviceError, match=r"the benchmark app failed on .*: IllegalStateException: input 1x3x128x128"):
        run_bench(request_for(pte, image_size=128), phone(), runners=RunnerPaths(choice="app"))
