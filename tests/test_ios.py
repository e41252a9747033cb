"""iOS runner: command lines, device selection, and reading results back (both xcresult formats).

The macOS flow runs end to end against stand-ins for xcrun/xcodebuild (tests/ios_fake_xcode.py)
that answer from recorded samples in tests/data/ios/; the app's results JSON goes through the
real affdeploy.bench.schema loader.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest
from cli_helpers import cli

from affdeploy.bench.appmodel import APP_CATALOG_SCHEMA
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import dump_results, load_results
from affdeploy.devices import ios
from affdeploy.devices.ios import app, discovery, xcode, xcresult
from affdeploy.errors import DeviceError, ToolMissingError, UsageError
from affdeploy.fsutil import atomic_write_text

DATA = Path(__file__).parent / "data" / "ios"
UDID = "00008130-001A2B3C4D5E6F70"


def _devices() -> list:
    return discovery.parse_devicectl_devices(json.loads((DATA / "devicectl_devices.json").read_text()))


@pytest.fixture
def fake_xcode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """xcrun and xcodebuild stand-ins first on PATH; returns the call log (one JSON line per call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = Path(__file__).parent / "ios_fake_xcode.py"
    for name in ("xcrun", "xcodebuild"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tool}" {name} "$@"\n')
        script.chmod(0o755)
    log = tmp_path / "xcode-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_XCODE_LOG", str(log))
    monkeypatch.setenv("AFFDEPLOY_IOS_TRANSPORT", "xcode")
    return log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


# --- what the app is asked to run --------------------------------------------------------------


def test_app_arguments_carry_the_request() -> None:
    request = BenchRequest(models=["affnet-t", "affnet-et"], targets=["onnx", "coreml"], warmup=3, iters=40, cooldown_s=2.5)
    assert app.app_arguments(request) == [
        "--benchmark", "--iterations", "40", "--warmup", "3", "--cooldown-s", "2.5",
        "--models", "affnet-t,affnet-et", "--targets", "coreml",
    ]  # fmt: skip
    assert app.test_runner_env(request) == {"TEST_RUNNER_AFFDEPLOY_ARGS": " ".join(app.app_arguments(request))}


def test_app_arguments_defaults_and_bad_counts() -> None:
    timed = BenchRequest(targets=["torch"], iters=None, min_s=5.0, warmup=None)
    args = app.app_arguments(timed)
    assert args[args.index("--iterations") + 1] == str(app.DEFAULT_ITERATIONS)
    assert args[args.index("--warmup") + 1] == "0"
    assert args[args.index("--targets") + 1] == "coreml,executorch"  # nothing iOS-runnable asked: both
    with pytest.raises(UsageError, match="--iters"):
        app.app_arguments(BenchRequest(iters=0))


# --- command lines ------------------------------------------------------------------------------


def test_xcodebuild_command_line() -> None:
    cmd = xcode.xcodebuild_test_command(Path("ios_app/AFFBench.xcodeproj"), UDID, Path("/tmp/r.xcresult"), team="ABCDE12345")
    assert cmd[:4] == ["xcodebuild", "test", "-project", "ios_app/AFFBench.xcodeproj"]
    assert cmd[cmd.index("-scheme") + 1] == "AFFBench"
    assert cmd[cmd.index("-destination") + 1] == f"id={UDID}"
    assert cmd[cmd.index("-resultBundlePath") + 1] == "/tmp/r.xcresult"
    assert "-only-testing:AFFBenchTests/BenchmarkTests/testBenchmarkAllModels" in cmd
    assert "-only-testing:AFFBenchTests/MetricTests" in cmd
    assert cmd[-1] == "DEVELOPMENT_TEAM=ABCDE12345"
    ws = xcode.xcodebuild_test_command(Path("A.xcworkspace"), UDID, Path("r.xcresult"), derived_data=Path("dd"))
    assert ws[2:4] == ["-workspace", "A.xcworkspace"] and ws[-2:] == ["-derivedDataPath", "dd"]
    assert not any(a.startswith("DEVELOPMENT_TEAM") for a in ws)


def test_xcrun_command_lines() -> None:
    bundle, out = Path("b.xcresult"), Path("out")
    assert xcode.devicectl_list_command(Path("d.json")) == ["xcrun", "devicectl", "list", "devices", "--json-output",
                                                            "d.json"]
    assert xcode.export_attachments_command(bundle, out) == [
        "xcrun", "xcresulttool", "export", "attachments", "--path", "b.xcresult", "--output-path", "out"]  # fmt: skip
    assert xcode.metrics_command(bundle) == ["xcrun", "xcresulttool", "get", "test-results", "metrics", "--path",
                                             "b.xcresult"]
    assert xcode.legacy_get_command(bundle) == ["xcrun", "xcresulttool", "get", "--format", "json", "--path", "b.xcresult"]
    assert xcode.legacy_get_command(bundle, "0~x")[-2:] == ["--id", "0~x"]
    assert xcode.legacy_export_command(bundle, "0~p", Path("f.json"))[-4:] == ["--id", "0~p", "--output-path", "f.json"]
    assert xcode.xcodegen_command(Path("ios_app")) == ["xcodegen", "generate", "--spec", "ios_app/project.yml", "--project",
                                                       "ios_app"]
    assert xcresult.parse_xcresulttool_version("xcresulttool version 23500, format version 3.53 (current)") == 23500
    assert xcresult.parse_xcresulttool_version("garbage") == 0


# --- devices ------------------------------------------------------------------------------------


def test_devicectl_listing_is_parsed() -> None:
    devices = _devices()
    assert [d.id for d in devices] == [UDID, "00008110-000E1D2C3B4A5968"]  # the Apple TV is not an iPhone
    pro = devices[0]
    assert pro.profile is not None and pro.profile.name == "iphone15pro"
    assert (pro.info.kind, pro.info.name, pro.info.model, pro.info.os) == ("ios", "iphone15pro", "iPhone16,1", "iOS 17.4.1")
    assert (pro.info.soc, pro.info.cores, pro.info.manufacturer) == ("Apple A17 Pro", 6, "Apple")
    assert pro.info.extra["developer_mode"] == "enabled" and pro.info.extra["transport"] == "wired"
    assert devices[1].info.extra["developer_mode"] == "disabled"


def test_select_device_by_profile_and_udid() -> None:
    devices = _devices()
    assert discovery.select_device(devices, "iphone15pro").id == UDID
    assert discovery.select_device(devices, "IPHONE13").id == "00008110-000E1D2C3B4A5968"
    assert discovery.select_device(devices, UDID.replace("-", "").lower()).id == UDID
    with pytest.raises(UsageError, match="android profile"):
        discovery.select_device(devices, "pixel7")
    with pytest.raises(DeviceError, match=r"no iPhone 16 Pro .*attached; attached: iPhone16,1"):
        discovery.select_device(devices, "iphone16pro")
    with pytest.raises(DeviceError, match="no iOS device matches 'nope'"):
        discovery.select_device(devices, "nope")
    with pytest.raises(DeviceError, match="several iPhone 15 Pros"):
        discovery.select_device(devices + devices[:1], "iphone15pro")
    with pytest.raises(DeviceError, match="no iOS device attached"):
        discovery.select_device([], "iphone15pro")


def test_list_devices_through_devicectl(fake_xcode: Path) -> None:
    assert ios.find_device("iphone15pro").id == UDID
    call = _calls(fake_xcode)[0]
    assert call["args"][:4] == ["devicectl", "list", "devices", "--json-output"]


def test_missing_xcode_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no xcrun anywhere, as on a Mac without Xcode
    monkeypatch.setenv("AFFDEPLOY_IOS_TRANSPORT", "xcode")
    with pytest.raises(ToolMissingError, match="xcrun not found: Xcode is not installed") as err:
        ios.list_devices()
    assert "xcode-select" in str(err.value)
    monkeypatch.setenv("AFFDEPLOY_IOS_TRANSPORT", "bluetooth")
    with pytest.raises(UsageError, match="AFFDEPLOY_IOS_TRANSPORT"):
        ios.list_devices()


# --- results --------------------------------------------------------------------------------------


def test_app_results_file_round_trips(tmp_path: Path) -> None:
    records = load_results(DATA / "app_results.json")
    assert [r.backend for r in records] == ["coreml-cpu", "coreml-gpu", "coreml-ane", "coreml-all", "xnnpack"]
    first = records[0]
    assert (first.target, first.runner, first.device.kind, first.device.model) == ("coreml", "ios-app", "ios", "iPhone16,1")
    assert first.stats.count == len(first.samples_ms) == 12 and first.stats.min <= first.stats.p50 <= first.stats.max
    assert records[2].load_ms is None and records[4].macs is None and records[4].gmacs_per_s is None  # keys the app omits
    again = tmp_path / "again.json"
    atomic_write_text(again, json.dumps(dump_results(records)))
    assert load_results(again) == records


def test_xcresult_of_xcode16(fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_XCRESULTTOOL_VERSION", "23500")
    bundle = tmp_path / "r.xcresult"
    bundle.mkdir()
    records, metrics = xcode.read_xcresult(bundle, tmp_path)
    assert len(records) == 5 and all(r.runner == "ios-xctest" for r in records)
    assert {(m.test, m.name) for m in metrics} >= {("MetricTests/testPredict_coreml_ane()", "Memory Physical")}
    tools = [c["args"][1:3] for c in _calls(fake_xcode)]
    assert ["export", "attachments"] in tools and ["get", "test-results"] in tools


def test_xcresult_of_xcode15_legacy_graph(fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_XCRESULTTOOL_VERSION", "22608")
    bundle = tmp_path / "r.xcresult"
    bundle.mkdir()
    records, metrics = xcode.read_xcresult(bundle, tmp_path)
    new_records = load_results(DATA / "xcresult16" / "attachments" / "6F1E0B7A-3C2D-4E5F-8A9B-0C1D2E3F4A5B.json")
    assert records == new_records
    assert {m.test for m in metrics} == {"MetricTests/testLoad_coreml_ane()", "MetricTests/testPredict_coreml_ane()"}
    assert not any(c["args"][1] == "export" and "attachments" in c["args"] for c in _calls(fake_xcode))


def test_both_metric_formats_parse_alike() -> None:
    new = xcresult.metrics_from_test_results(json.loads((DATA / "xcresult16" / "metrics.json").read_text()))
    legacy = []
    for name in ("summary_load_ane.json", "summary_predict_ane.json", "summary_predict_gpu.json"):
        legacy += xcresult.legacy_metrics(json.loads((DATA / "xcresult15" / name).read_text()))
    wanted = lambda ms: sorted((m.test, m.identifier, m.unit, tuple(m.measurements)) for m in ms if "xnnpack" not in m.test)  # noqa: E731
    assert wanted(new) == wanted(legacy)
    plan = json.loads((DATA / "xcresult15" / "tests.json").read_text())
    root = json.loads((DATA / "xcresult15" / "root.json").read_text())
    assert xcresult.legacy_tests_refs(root) == ["0~TsPlanRunSummaries_7Qk2"]
    assert ("BenchmarkTests/testBenchmarkAllModels()", "0~Sum_bench") in xcresult.legacy_summary_refs(plan)
    assert xcresult.legacy_attachments(json.loads((DATA / "xcresult15" / "summary_bench.json").read_text())) == [
        ("0~Payload_results_91x", "benchmark_results_1_6F1E0B7A-3C2D-4E5F-8A9B-0C1D2E3F4A5B.json")]  # fmt: skip


def test_metrics_fill_what_the_app_left_empty() -> None:
    records = load_results(DATA / "app_results.json")
    metrics = xcresult.metrics_from_test_results(json.loads((DATA / "xcresult16" / "metrics.json").read_text()))
    merged = {r.backend: r for r in xcresult.merge_metrics(records, metrics, "affnet-t")}
    ane = merged["coreml-ane"]
    assert ane.load_ms == pytest.approx(97.7)  # median of the load test's clock, s -> ms
    assert ane.peak_rss_growth_bytes == int(32.768 * 1024)
    assert any("XCTClockMetric predict: median 2.110 ms over 5" in n for n in ane.notes)
    assert merged["xnnpack"].load_ms == 35.1  # the app's own value wins
    assert any("XCTClockMetric predict: median 19.000 ms" in n for n in merged["xnnpack"].notes)
    assert merged["coreml-cpu"].notes == records[0].notes
    untouched = xcresult.merge_metrics(records, metrics, "affnet")  # metrics were measured on affnet-t only
    assert [r.notes for r in untouched] == [r.notes for r in records]


# --- the whole macOS flow ---------------------------------------------------------------------------


def _app_dir(tmp_path: Path, with_models: bool = True) -> Path:
    app = tmp_path / "ios_app"
    (app / "AFFBench.xcodeproj").mkdir(parents=True)
    shutil.copy(Path(__file__).parent.parent / "ios_app" / "project.yml", app / "project.yml")
    if with_models:
        (app / "AFFBench" / "Models").mkdir(parents=True)
        (app / "AFFBench" / "Models" / "models.json").write_text(json.dumps({"schema": APP_CATALOG_SCHEMA, "models": []}))
    return app


def test_run_bench_on_macos(fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(_app_dir(tmp_path)))
    monkeypatch.setenv("AFFDEPLOY_TEAM_ID", "ABCDE12345")
    request = BenchRequest(models=["affnet-t"], targets=["coreml", "executorch"], warmup=2, iters=12)
    records = ios.find_device(UDID).run(request)
    assert len(records) == 5
    assert all(r.device.serial == UDID and r.device.name == "iphone15pro" and r.device.soc == "Apple A17 Pro"
               for r in records)
    assert next(r for r in records if r.backend == "coreml-ane").load_ms == pytest.approx(97.7)
    build = next(c for c in _calls(fake_xcode) if c["tool"] == "xcodebuild")
    assert build["args"][build["args"].index("-destination") + 1] == f"id={UDID}"
    assert build["args"][-1] == "DEVELOPMENT_TEAM=ABCDE12345"
    assert build["env"]["TEST_RUNNER_AFFDEPLOY_ARGS"].startswith("--benchmark --iterations 12 --warmup 2")


def test_run_bench_needs_models_in_the_app(fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(_app_dir(tmp_path, with_models=False)))
    with pytest.raises(Exception, match="the iOS app has no models yet .*affdeploy ios-assets"):
        ios.find_device(UDID).run(BenchRequest(targets=["all"]))
    assert not any(c["tool"] == "xcodebuild" for c in _calls(fake_xcode))


def test_xcodebuild_failure_is_one_line_with_a_hint(fake_xcode: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(_app_dir(tmp_path)))
    monkeypatch.setenv("FAKE_XCODEBUILD_SIGNING_ERROR", "1")
    with pytest.raises(DeviceError, match=r"xcodebuild test failed \(exit 65\): .*requires a development team") as err:
        ios.find_device(UDID).run(BenchRequest(targets=["all"]))
    assert "AFFDEPLOY_TEAM_ID" in str(err.value)


# --- what an iPhone cannot honour -----------------------------------------------------------------


def test_iphone_refuses_what_the_app_cannot_honour(fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(_app_dir(tmp_path)))
    code, _, err = cli(capsys, "bench", "--device", "iphone15pro", "--threads", "2", "--fft", "dft", "--image-size", "224",
                       "--min-s", "1", "--weights", str(DATA / "app_results.json"))
    assert code == 2
    (line,) = err.strip().splitlines()
    for flag in ("--threads", "--fft", "--image-size", "--min-s", "--weights"):
        assert flag in line
    assert "ios device iphone15pro cannot honour" in line and "--iters" not in line.split("cannot honour")[0]
    code, _, err = cli(capsys, "bench", "--device", "iphone15pro", "--artifact", str(DATA / "app_results.json"))
    assert code == 2 and "--artifact (the app runs the models `affdeploy ios-assets` bundled" in err
    code, _, err = cli(capsys, "bench", "--device", "iphone15pro", "--executor-runner", str(DATA / "app_results.json"))
    assert code == 2 and "--executor-runner names an Android runner binary" in err
    code, _, err = cli(capsys, "bench", "--device", "iphone15pro", "--target", "onnx")
    assert code == 2 and "target 'onnx' cannot run on ios devices" in err
    assert not any(c["tool"] == "xcodebuild" for c in _calls(fake_xcode))
    device = ios.find_device(UDID)
    assert {"models", "targets", "warmup", "iters", "cooldown_s"} <= device.honours
    assert not {"threads", "fft", "image_size", "artifacts", "weights", "min_s"} & device.honours


class _RefusingProcessControlService:
    """The processcontrol channel of a phone that will not launch the app: it answers PID 0."""

    async def launch_suspended_process_with_device_path_bundle_identifier_environment_arguments_options_(
        self, device_path: str, bundle_id: str, environment: dict, arguments: list, options: dict
    ) -> int:
        return 0


def test_refused_launch_is_a_clear_error() -> None:
    """pymobiledevice3's own ProcessControl.launch asserts on a zero PID; that becomes one line with a hint."""
    from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

    from affdeploy.devices.ios import pmd3

    process = ProcessControl(None, service=_RefusingProcessControlService())  # type: ignore[arg-type]
    with pytest.raises(AssertionError):  # what the library does by itself
        asyncio.run(process.launch(app.BUNDLE_ID))
    with pytest.raises(DeviceError, match="the iPhone refused to launch org.affdeploy.AFFBench") as err:
        asyncio.run(pmd3.launch(process, ["--benchmark"]))
    assert "Developer" in str(err.value) or "VPN & Device Management" in str(err.value)
