"""The LiteRT (TFLite) target: export, parity with the LiteRT interpreter, fp16, inspect, bench on the host.

The .tflite comes from the session's ``affdeploy export --target all`` (tests/conftest.py), which
includes LiteRT whenever requirements-tflite.txt is installed; nothing here converts AFFNet again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli
from reduced_affnet import SHARED_MODEL

from affdeploy.bench.schema import load_results
from affdeploy.data.inputs import image_parity_inputs
from affdeploy.export.manifest import read_manifest
from affdeploy.export.parity import image_checkset
from affdeploy.export.pipeline import _build
from affdeploy.export.registry import get_target, target_names
from affdeploy.export.tflite import delegated_nodes, interpreter, read_op_codes, to_fp16_weights
from affdeploy.export.verify import entry_request
from affdeploy.fsutil import sha256_path
from affdeploy.vocab import Precision

REPO = Path(__file__).resolve().parents[1]


def test_export_writes_a_tflite_that_matches_pytorch_in_one_xnnpack_kernel(affnet_et_64_tflite: Path) -> None:
    (entry,) = [e for e in read_manifest(affnet_et_64_tflite.parent) if e.target == "tflite"]
    assert entry.path == f"{SHARED_MODEL}-64-fp32-dft.tflite" and entry.backend == "xnnpack" and entry.fft == "dft"
    assert entry.sha256 == sha256_path(affnet_et_64_tflite)
    assert entry.parity.status == "passed" and entry.parity.inputs == 10 and entry.parity.max_abs_err is not None
    assert entry.parity.max_abs_err <= 1e-4 and entry.parity.top1_agree
    report = entry.op_counts
    assert report.fft_ops_left == 0 and report.complex_values == 0 and report.total > 250  # the whole network
    assert report.delegate_calls == 1 and report.non_delegated_ops == 0 and report.delegated_share == 1.0
    assert report.ops["CONV_2D"] > 0 and report.ops["FULLY_CONNECTED"] > 0  # DFT matmuls against constants
    assert entry.tool_versions["litert-torch"] == "0.10.0" and entry.tool_versions["ai-edge-litert"] == "2.3.0"


def test_fp16_halves_the_file_and_keeps_top1_through_xnnpack(affnet_et_64_tflite: Path, tmp_path: Path) -> None:
    fp16 = tmp_path / f"{SHARED_MODEL}-64-fp16-dft.tflite"
    fp16.write_bytes(to_fp16_weights(affnet_et_64_tflite.read_bytes()))
    assert fp16.stat().st_size < 0.6 * affnet_et_64_tflite.stat().st_size
    ops, _ = read_op_codes(fp16)
    assert ops["DEQUANTIZE"] > 0  # half-precision weights, dequantized in the graph
    (entry,) = [e for e in read_manifest(affnet_et_64_tflite.parent) if e.target == "tflite"]
    request = entry_request(entry, affnet_et_64_tflite.parent)
    fp16_request = type(request)(**{**request.__dict__, "precision": Precision.FP16})
    check = image_checkset(_build(SHARED_MODEL, None), image_parity_inputs(64))
    target = get_target("tflite")
    parity = target.validate(fp16, fp16_request, check)
    assert parity.status == "passed" and parity.top1_agree and parity.cosine is not None and parity.cosine >= 0.999
    assert parity.max_abs_err is not None and parity.max_abs_err > 0  # really the fp16 weights, not the fp32 file
    assert target.validate(fp16, request, check).status == "failed"  # fp32's 1e-4 rule: fp16 misses it
    report = target.inspect(fp16)
    assert report.delegate_calls == 1 and report.non_delegated_ops == 0 and report.delegation["DEQUANTIZE"].delegated > 0


def test_inspect_lists_ops_and_what_xnnpack_takes(affnet_et_64_tflite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "inspect", str(affnet_et_64_tflite), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["target"] == "tflite" and report["fft_ops_left"] == 0
    assert sum(v["delegated"] + v["non_delegated"] for v in report["delegation"].values()) == report["total"]
    assert report["ops"]["CONV_2D"] == report["delegation"]["CONV_2D"]["delegated"]
    assert "XNNPACK delegate" in report["backends"]
    code, out, err = cli(capsys, "inspect", str(affnet_et_64_tflite))
    assert code == 0, err
    assert "in a delegate" in out and "runs on: XNNPACK delegate" in out and "CONV_2D" in out


def test_a_partition_is_found_by_walking_back_from_the_delegate_outputs() -> None:
    # t0 -> A -> t1 -> B -> t2 -> C -> t3; a delegate took A and B (its inputs: t0 and the weight t9).
    nodes = [
        {"index": 0, "op_name": "CONV_2D", "inputs": [0, 9], "outputs": [1]},
        {"index": 1, "op_name": "LOGISTIC", "inputs": [1], "outputs": [2]},
        {"index": 2, "op_name": "RFFT2D", "inputs": [2, -1], "outputs": [3]},
        {"index": 3, "op_name": "DELEGATE", "inputs": [0, 9], "outputs": [2]},
    ]
    assert delegated_nodes(nodes) == ({0, 1}, 1)
    assert delegated_nodes(nodes[:3]) == (set(), 0)


def test_a_damaged_tflite_is_one_error_line(tmp_path: Path, tflite_ready: None, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    code, out, err = cli(capsys, "inspect", str(broken))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "broken.tflite is not a readable .tflite artifact" in err


def test_native_fft_is_refused_with_the_reason(tflite_ready: None, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, _, err = cli(capsys, "export", "--model", "affnet-et", "--target", "tflite", "--fft", "native",
                       "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot run rfft2/irfft2" in err and "no _fft_c2r lowering" in err and not list(tmp_path.iterdir())


def test_interpreter_threads_and_xnnpack_switch(affnet_et_64_tflite: Path) -> None:
    x = image_parity_inputs(64).inputs[0]
    outputs = []
    for threads, xnnpack in ((1, True), (2, True), (1, False)):
        runner = interpreter(affnet_et_64_tflite, threads, xnnpack=xnnpack)
        kernels = sum(d["op_name"] == "DELEGATE" for d in runner._get_ops_details())
        assert kernels == (1 if xnnpack else 0)
        runner.set_tensor(runner.get_input_details()[0]["index"], x)
        runner.invoke()
        outputs.append(runner.get_tensor(runner.get_output_details()[0]["index"]).copy())
    assert all(np.abs(o - outputs[0]).max() < 1e-4 for o in outputs)  # builtin kernels agree with XNNPACK


def test_host_bench_runs_tflite_beside_ort_and_executorch(affnet_et_64_every_target: Path, affnet_et_64_tflite: Path,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    models = affnet_et_64_every_target
    results = tmp_path / "results.json"
    code, out, err = cli(capsys, "bench", "--model", SHARED_MODEL, "--image-size", "64", "--target",
                         "onnx,executorch,tflite", "--iters", "3", "--warmup", "1",
                         "--models-dir", str(models), "--json", str(results))
    assert code == 0, err
    records = load_results(results)
    assert sorted(r.target for r in records) == ["executorch", "onnx", "tflite"]  # one interleaved run, 1 thread
    for r in (r for r in records if r.target == "tflite"):
        assert r.backend == "xnnpack" and len(r.samples_ms) == 3 and r.stats.p50 > 0 and r.load_ms is not None
        assert Path(r.artifact_path) == (models / affnet_et_64_tflite.name).resolve()  # the exported file, not a re-export
        assert r.artifact_sha256 == sha256_path(affnet_et_64_tflite)
    assert "tflite" in out


def _site_without(blocked: tuple[str, ...], folder: Path) -> Path:
    """A copy (by symlinks) of this interpreter's site-packages without ``blocked`` distributions."""
    site = Path(np.__file__).resolve().parents[1]
    folder.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith(blocked):
            (folder / entry.name).symlink_to(entry)
    return folder


def test_without_the_litert_packages_the_target_is_one_line_naming_the_install(tmp_path: Path) -> None:
    """A real missing import: a Python whose site-packages lacks litert-torch and ai-edge-litert."""
    site = _site_without(("litert_torch", "ai_edge_litert"), tmp_path / "site")
    script = (f"import site, sys; site.addsitedir({str(site)!r}); sys.path.insert(0, {str(REPO / 'src')!r}); "
              "from affdeploy.export.registry import target_names; print(','.join(target_names())); "
              "from affdeploy.cli import main; main(sys.argv[1:])")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI")}
    result = subprocess.run([sys.executable, "-S", "-c", script, "export", "--model", "affnet-et", "--target", "tflite",
                             "--out", str(tmp_path / "models")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stdout.strip() == "onnx,coreml,executorch"  # `--target all` leaves LiteRT out
    assert result.stderr.strip() == ('error: target tflite is unavailable: pip install -r requirements-tflite.txt '
                                     '(missing litert_torch, ai_edge_litert)')
    assert not (tmp_path / "models").exists()


def test_tflite_is_registered_once_with_its_capabilities(tflite_ready: None) -> None:
    target = get_target("tflite")
    assert "tflite" in target_names() and target.suffix == ".tflite" and target.requirements == "requirements-tflite.txt"
    assert target.precisions == (Precision.FP32, Precision.FP16, Precision.INT8)
    assert all(not row.native_runs and "backend sources" in row.source for row in target.fft_support.values())
    assert (REPO / "requirements-tflite.txt").read_text().count("==") == 3
