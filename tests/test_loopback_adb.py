"""The loopback device against the REAL adb client: discovery, shell v2, sync, install and faults."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from loopback_adb.device import LoopbackDevice, device_state, run_adb
from loopback_adb.services import _Unmapper
from loopback_adb.state import DeviceConfig

LEGACY = DeviceConfig(features=[], model="Galaxy S8", serialno="LEGACY01")


def _apk(path: Path, package: str = "org.affdeploy.bench") -> Path:
    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr("AndroidManifest.xml", f'<manifest package="{package}"/>')
        apk.writestr("classes.dex", os.urandom(2048))
    return path


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_devices_lists_the_loopback_phone_with_its_model(loopback_device: LoopbackDevice) -> None:
    out = run_adb(loopback_device.env, "devices", "-l").stdout
    line = next(line for line in out.splitlines() if line.startswith(loopback_device.serial))
    assert " device " in line
    assert "model:Pixel_7" in line and "product:panther" in line and "device:panther" in line
    assert not 5555 <= loopback_device.port <= 5585


def test_shell_v2_returns_exit_code_and_separate_stderr(loopback_device: LoopbackDevice) -> None:
    result = loopback_device.adb("shell", "echo hi; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "hi\n", "err\n")
    assert loopback_device.service_log()[-1].startswith("shell,v2,")


def test_shell_v2_forwards_stdin(loopback_device: LoopbackDevice) -> None:
    result = loopback_device.adb("shell", "tr a-z A-Z", input="hello\n")
    assert (result.returncode, result.stdout) == (0, "HELLO\n")


@pytest.mark.parametrize("loopback_device", [LEGACY], indirect=True)
def test_legacy_shell_without_shell_v2_merges_output_and_loses_exit_code(loopback_device: LoopbackDevice) -> None:
    result = loopback_device.adb("shell", "echo hi; echo err >&2; exit 3")
    assert result.returncode == 0 and result.stdout == "hi\nerr\n"
    assert loopback_device.service_log()[-1] == "shell:echo hi; echo err >&2; exit 3"


def test_getprop_one_and_all(loopback_device: LoopbackDevice) -> None:
    one = loopback_device.adb("shell", "getprop ro.product.model; getprop ro.soc.model; getprop no.such.prop x")
    assert one.stdout.splitlines() == ["Pixel 7", "Tensor G2", "x"]
    listing = loopback_device.adb("shell", "getprop").stdout
    assert "[ro.build.version.sdk]: [34]" in listing.splitlines()
    assert "[ro.product.cpu.abi]: [arm64-v8a]" in listing.splitlines()


def test_device_paths_are_mapped_into_the_scratch_root(loopback_device: LoopbackDevice) -> None:
    result = loopback_device.adb("shell", "cd /data/local/tmp && echo x > f && ls /data/local/tmp && readlink -f f")
    assert result.stdout.splitlines() == ["f", "/data/local/tmp/f"]
    assert loopback_device.adb("shell", "pwd").stdout == "/\n"
    assert (loopback_device.root / "data/local/tmp/f").read_text() == "x\n"
    cpus = loopback_device.adb("shell", "cat /sys/devices/system/cpu/cpu6/cpufreq/cpuinfo_max_freq "
                               "/sys/devices/system/cpu/cpu4/cpufreq/related_cpus")
    assert cpus.stdout.split("\n")[:2] == ["2850000", "4 5"]
    grep = loopback_device.adb("shell", "grep . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq").stdout
    assert grep.splitlines()[0] == "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1803000"
    assert len(grep.splitlines()) == 8


def test_push_then_pull_is_byte_identical(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    small, big = tmp_path / "small.txt", tmp_path / "runner"
    small.write_text("hello")
    big.write_bytes(os.urandom(1_500_000))
    big.chmod(0o755)
    for local in (small, big):
        pushed = loopback_device.adb("push", str(local), f"/data/local/tmp/affdeploy/{local.name}")
        assert pushed.returncode == 0, pushed.stderr
        back = tmp_path / f"{local.name}.back"
        pulled = loopback_device.adb("pull", f"/data/local/tmp/affdeploy/{local.name}", str(back))
        assert pulled.returncode == 0, pulled.stderr
        assert back.read_bytes() == local.read_bytes()
    on_device = loopback_device.adb("shell", "sha256sum /data/local/tmp/affdeploy/runner; ls -l /data/local/tmp/affdeploy")
    assert on_device.stdout.split()[0] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert "-rwxr-xr-x" in on_device.stdout  # the mode travelled with SEND
    raw = subprocess.run(["adb", "-s", loopback_device.serial, "exec-out", "cat /data/local/tmp/affdeploy/runner"],
                         env=loopback_device.env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    assert raw.stdout == big.read_bytes()


def test_pull_of_missing_file_fails_cleanly(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    result = loopback_device.adb("pull", "/data/local/tmp/none.json", str(tmp_path))
    assert result.returncode != 0 and "No such file or directory" in result.stdout + result.stderr


def test_push_and_pull_a_directory(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    (tmp_path / "models/sub").mkdir(parents=True)
    (tmp_path / "models/a.pte").write_bytes(b"a" * 10)
    (tmp_path / "models/sub/b.onnx").write_bytes(b"b" * 20)
    assert loopback_device.adb("push", str(tmp_path / "models"), "/sdcard/").returncode == 0
    assert loopback_device.adb("pull", "/sdcard/models", str(tmp_path / "back")).returncode == 0
    assert (tmp_path / "back/sub/b.onnx").read_bytes() == b"b" * 20
    listing = loopback_device.adb("ls", "/storage/emulated/0/models").stdout.splitlines()
    assert sorted(line.split()[-1] for line in listing) == ["a.pte", "sub"]


@pytest.mark.parametrize(
    ("loopback_device", "service"),
    [(DeviceConfig(), "abb_exec:package\0install"),
     (DeviceConfig(features=["shell_v2", "cmd", "stat_v2"]), "exec:cmd package 'install'"),
     (LEGACY, "shell:pm 'install'")],
    indirect=["loopback_device"], ids=["abb_exec", "cmd", "push-install"],
)
def test_install_apk(loopback_device: LoopbackDevice, service: str, tmp_path: Path) -> None:
    result = loopback_device.adb("install", "-r", str(_apk(tmp_path / "bench.apk")))
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr
    assert any(s.startswith(service) for s in loopback_device.service_log())
    assert "org.affdeploy.bench" in loopback_device.installed_packages()
    listed = loopback_device.adb("shell", "pm list packages affdeploy; run-as org.affdeploy.bench pwd")
    assert listed.stdout.splitlines() == ["package:org.affdeploy.bench", "/data/data/org.affdeploy.bench"]


def test_install_of_a_non_apk_fails(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.apk"
    bogus.write_bytes(b"not a zip")
    result = loopback_device.adb("install", str(bogus))
    assert result.returncode != 0 and "INSTALL_PARSE_FAILED_NOT_APK" in result.stdout + result.stderr
    assert loopback_device.installed_packages() == {}


def test_full_disk_fails_the_push_and_leaves_nothing(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    model = tmp_path / "model.pte"
    model.write_bytes(os.urandom(200_000))
    loopback_device.set_free_bytes(100_000)
    df = loopback_device.adb("shell", "df /data/local/tmp").stdout.splitlines()
    assert df[0].split()[3] == "Available" and df[1].split()[3] == str(100_000 // 1024)
    assert df[1].split()[-1] == "/data"
    result = loopback_device.adb("push", str(model), "/data/local/tmp/model.pte")
    assert result.returncode != 0 and "No space left on device" in result.stdout + result.stderr
    assert not loopback_device.device_path("/data/local/tmp/model.pte").exists()
    loopback_device.set_free_bytes(10_000_000)
    assert loopback_device.adb("push", str(model), "/data/local/tmp/model.pte").returncode == 0


def test_killed_device_goes_offline_and_commands_fail(loopback_device: LoopbackDevice) -> None:
    assert loopback_device.adb("shell", "true").returncode == 0
    loopback_device.kill()
    result = loopback_device.adb("shell", "true", timeout=20)
    assert result.returncode != 0
    assert "offline" in result.stderr or "not found" in result.stderr
    assert device_state(loopback_device.env, loopback_device.serial) in ("offline", None)


def test_device_killed_mid_command_ends_the_client(loopback_device: LoopbackDevice) -> None:
    """adb 1.0.41 exits 0 with no message when the transport drops mid-shell: callers must not trust rc alone."""
    client = subprocess.Popen(
        ["adb", "-s", loopback_device.serial, "shell", "echo started; sleep 60; echo finished"],
        env=loopback_device.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "started\n"
        loopback_device.kill()
        client.wait(timeout=20)
        assert "finished" not in client.stdout.read()
    finally:
        client.kill()
        client.communicate(timeout=10)
    after = loopback_device.adb("shell", "echo finished", timeout=20)
    assert after.returncode != 0 and "finished" not in after.stdout


def test_temperatures_hot_then_cooling(loopback_device: LoopbackDevice) -> None:
    read = "cat /sys/class/thermal/thermal_zone0/type /sys/class/thermal/thermal_zone0/temp; dumpsys battery"
    loopback_device.set_temperatures(45.0, battery=41.5)
    hot = loopback_device.adb("shell", read).stdout
    assert hot.splitlines()[:2] == ["BIG", "45000"] and "  temperature: 415" in hot.splitlines()
    loopback_device.set_temperatures(45.0, battery=41.5, cool_to=30.0, cool_seconds=0.3)
    time.sleep(0.4)
    cool = loopback_device.adb("shell", read).stdout
    assert cool.splitlines()[1] == "30000" and "  temperature: 300" in cool.splitlines()


def test_taskset_runs_the_command_and_records_the_pinning(loopback_device: LoopbackDevice) -> None:
    result = loopback_device.adb("shell", "taskset c0 echo pinned; taskset -a -p f0 1234; taskset 300 true")
    assert result.stdout == "pinned\n"
    assert result.returncode == 1 and "Invalid argument" in result.stderr  # cpus 8-9 do not exist
    log = loopback_device.taskset_log()
    assert [(r["cpus"], r["command"], r["pid"], r["all_threads"]) for r in log] == [
        ([6, 7], ["echo", "pinned"], None, False), ([4, 5, 6, 7], None, 1234, True)]


def test_am_start_records_intent_and_runs_the_handler(loopback_device: LoopbackDevice, tmp_path: Path) -> None:
    refused = loopback_device.adb("shell", "am start -n org.affdeploy.bench/.BenchActivity")
    assert refused.returncode != 0 and "does not exist" in refused.stderr
    assert loopback_device.adb("install", str(_apk(tmp_path / "b.apk"))).returncode == 0
    handler = ("import json, os; i = json.loads(os.environ['LOOPBACK_INTENT']); "
               "open('files.json', 'w').write(json.dumps(i['extras']))")
    loopback_device.set_intent_handler("org.affdeploy.bench", [sys.executable, "-c", handler])
    started = loopback_device.adb("shell", "am start -W -n org.affdeploy.bench/.BenchActivity "
                                  "--es model /data/local/tmp/m.pte --ei iterations 5 --ez fp16 true")
    assert started.returncode == 0 and "cmp=org.affdeploy.bench/.BenchActivity" in started.stdout
    intent = loopback_device.intent_log()[-1]
    assert intent["component"] == "org.affdeploy.bench/org.affdeploy.bench.BenchActivity"
    assert intent["extras"] == {"model": "/data/local/tmp/m.pte", "iterations": 5, "fp16": True}
    results = loopback_device.device_path("/data/data/org.affdeploy.bench/files.json")
    _wait_for(results.exists)
    _wait_for(lambda: loopback_device.adb("shell", "run-as org.affdeploy.bench cat files.json").stdout != "")


def test_unmapper_handles_paths_split_across_chunks() -> None:
    unmapper = _Unmapper(Path("/tmp/x/root"))
    text = b"a /tmp/x/root/data/f b /tmp/x/rootless /tmp/x/root\n /tmp/x/ro"
    out = b"".join(unmapper.feed(text[i:i + 3]) for i in range(0, len(text), 3)) + unmapper.flush()
    assert out == b"a /data/f b /tmp/x/rootless /\n /tmp/x/ro"
