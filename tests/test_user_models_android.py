"""User models (package.module:factory) on the loopback phone through the three native runners.

The stand-ins in tests/runners/ feed inputs the way the real tools do (executor_runner: ones at the
.pte's sizes, a dynamic dim at its upper bound; onnxruntime_perf_test -I: every input, a free dim
1 unless -f overrides it; benchmark_model: random data for every input at the model's shapes), so a
runner that fed only the first input, or the wrong shapes, fails here. Also: the export of a
two-input, two-output factory to every target, and ``verify`` and ``inspect`` on each artifact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import fft_zoo
import pytest
from cli_helpers import cli, run_cli
from loopback_adb.device import LoopbackDevice
from test_android import on_phone, stand_in  # noqa: F401  (on_phone: fixture)

from affdeploy.bench.schema import load_results
from affdeploy.devices.android.bench import model_inputs
from affdeploy.devices.android.runners import Job, ModelInput, executor_runner_inputs, onnx_free_dims, ort_perf_test_command
from affdeploy.export.registry import target_for_path
from affdeploy.export.request import ExportRequest

MULTI = "fft_zoo:multi_input"  # inputs a, b [2, 15]; two outputs
DYNAMIC = "fft_zoo:dynamic_batch"  # input x [batch, 3, 16], batch in 1..8, example 2
ZOO_SHA = hashlib.sha256(Path(fft_zoo.__file__).read_bytes()).hexdigest()


def _export(out: Path, model: str, targets: str) -> Path:
    code, _, err = run_cli("export", "--model", model, "--target", targets, "--out", str(out))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def multi_dir(tflite_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-input model exported to every target."""
    return _export(tmp_path_factory.mktemp("multi"), MULTI, "onnx,executorch,tflite,coreml")


def _runner_options(folder: Path) -> list[str]:
    return ["--executor-runner", str(stand_in(folder, "executor_runner")),
            "--ort-perf-test", str(stand_in(folder, "onnxruntime_perf_test")),
            "--tflite-benchmark", str(stand_in(folder, "benchmark_model"))]


def _bench(capsys: pytest.CaptureFixture[str], phone: LoopbackDevice, model: str, targets: str, models_dir: Path,
           tmp_path: Path) -> list:
    out_json = tmp_path / "results.json"
    code, _, err = cli(capsys, "bench", "--device", phone.serial, "--model", model, "--target", targets,
                       "--threads", "1", "--warmup", "1", "--iters", "1", "--models-dir", str(models_dir),
                       *_runner_options(tmp_path / "bin"), "--json", str(out_json))
    assert code == 0, err
    return load_results(out_json)


def test_two_input_model_on_every_native_runner(on_phone: LoopbackDevice, multi_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    records = _bench(capsys, on_phone, MULTI, "onnx,executorch,tflite", multi_dir, tmp_path)
    assert not (multi_dir / "cache").exists()  # the artifacts `export` wrote, not exported again
    by_runner = {r.runner: r for r in records}
    assert set(by_runner) == {"onnxruntime_perf_test", "executor_runner", "benchmark_model"}
    for record in records:
        assert record.model == MULTI and record.model_sha256 == ZOO_SHA, record.runner
        assert record.macs is None and len(record.samples_ms) == 1 and all(s > 0 for s in record.samples_ms)
        assert any("a [2, 15] float32, b [2, 15] float32" in n for n in record.notes), (record.runner, record.notes)
    assert any(n.startswith("executor_runner fills every input with ones") for n in by_runner["executor_runner"].notes)
    assert any("generated every input (-I)" in n for n in by_runner["onnxruntime_perf_test"].notes)
    commands = [e["command"] for e in on_phone.taskset_log() if e["command"]]
    ort = next(c for c in commands if Path(c[0]).name == "onnxruntime_perf_test")
    assert "-I" in ort and "-f" not in ort  # static shapes: nothing to override


@pytest.fixture(scope="module")
def dynamic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dynamic-batch model exported to the two formats that keep the dim dynamic."""
    return _export(tmp_path_factory.mktemp("dynamic"), DYNAMIC, "onnx,executorch")


def _dynamic_job(artifact: Path) -> Job:
    export = ExportRequest.create(DYNAMIC, target_for_path(artifact).name)
    inputs, sha = model_inputs(DYNAMIC)
    assert inputs == (ModelInput("x", (2, 3, 16), "float32", (0,)),) and sha == ZOO_SHA
    return Job(export, artifact, "dft", 1, 1, 1, inputs, sha)


def test_dynamic_dims_run_at_the_example_size_or_say_which_size_ran(dynamic_dir: Path) -> None:
    free, notes = onnx_free_dims(_dynamic_job(next(dynamic_dir.glob("*.onnx"))))
    ((dim, size),) = free.items()
    assert size == 2  # the example batch, not -I's default 1
    command = ort_perf_test_command("ort", "m.onnx", "r.csv", runs=1, threads=1, provider="cpu", free_dims=free)
    assert f"-f {dim}:2 -I m.onnx" in command
    assert notes == [f"onnxruntime_perf_test generated every input (-I) at the example shapes: x [2, 3, 16] float32 "
                     f"(free dims set with -f {dim}:2)"]
    notes = executor_runner_inputs(_dynamic_job(next(dynamic_dir.glob("*.pte"))))
    assert notes[0].endswith("x [8, 3, 16] float32")  # the .pte's upper bound: what executor_runner runs
    assert notes[1].endswith("x dim 0 at its upper bound 8 (example 2)")


def test_a_bare_onnx_with_a_free_dim_is_refused_on_the_phone(on_phone: LoopbackDevice, dynamic_dir: Path,
                                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No model to size its free dim: one line, nothing measured at the tool's guess of 1."""
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(next(dynamic_dir.glob("*.onnx")), bare / "m.onnx")
    code, _, err = cli(capsys, "bench", "--device", on_phone.serial, "--artifact", str(bare / "m.onnx"),
                       "--ort-perf-test", str(stand_in(tmp_path / "bin", "onnxruntime_perf_test")))
    assert code != 0 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "m.onnx has a free dim" in err and "would run it at 1" in err
    assert not any(e["command"] for e in on_phone.taskset_log())


def test_factory_with_two_inputs_and_outputs_exports_everywhere(multi_dir: Path) -> None:
    entries = {e["target"]: e for e in json.loads((multi_dir / "manifest.json").read_text())["artifacts"]}
    assert set(entries) == {"onnx", "executorch", "tflite", "coreml"}
    for target, entry in entries.items():
        assert entry["path"].startswith("fft_zoo-multi_input-")
        assert entry["weights"] == str(Path(fft_zoo.__file__).resolve()) and entry["weights_sha256"] == ZOO_SHA
        assert [i["name"] for i in entry["input"]["inputs"]] == ["a", "b"]
        assert entry["parity"]["status"] == "passed", (target, entry["parity"])
    for target in ("executorch", "tflite"):
        assert entries[target]["op_counts"]["delegate_calls"] == 1, target
        assert entries[target]["op_counts"]["non_delegated_ops"] == 0, target


@pytest.mark.parametrize("suffix", [".onnx", ".pte", ".tflite", ".mlpackage"])
def test_verify_and_inspect_every_artifact_of_a_two_input_model(multi_dir: Path, suffix: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (artifact,) = multi_dir.glob(f"*{suffix}")
    code, out, err = cli(capsys, "verify", str(artifact), "--model", MULTI, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["parity"]["status"] == "passed" and result["parity"]["inputs"] == 3, result["parity"]
    assert result["sha256_matches_manifest"]
    code, out, err = cli(capsys, "inspect", str(artifact), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["fft_ops_left"] == 0 and report["complex_values"] == 0 and report["total"] > 0, report
