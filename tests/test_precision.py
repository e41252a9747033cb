"""``--precision int8`` (ExecuTorch XNNPACK PT2E, ONNX static QDQ, LiteRT) and ``fp16`` (ExecuTorch XNNPACK) through the CLI.

The exports run on AFFNet-ET with one AFF block in all (conftest's ``affnet_et_1aff``: every op and
convolution kind int8 and fp16 treat, the fewest nodes for ExecuTorch to lower) at 64 px. One int8
export (every int8 target, the bundled calibration photographs) of a trained-like checkpoint in the
official key layout serves the manifest, delegation, verify and bench checks, held to the DEFAULT
floor on 20 photographs the calibration never saw; the floor and bad inputs fail before or at parity.
The paper's variants at 256 px: benchmarks/results/parity.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from cli_helpers import cli, run_cli
from conftest import trained_like_checkpoint
from PIL import Image

from affdeploy.export.executorch import ExecuTorchTarget
from affdeploy.export.quantize import FLOOR_ENV, INT8_FLOOR
from affdeploy.export.registry import get_target, target_names
from affdeploy.vocab import Precision

SIZE = "64"
DEFAULT_FLOOR = {"top1_agreement": INT8_FLOOR.top1_agreement, "min_cosine": INT8_FLOOR.min_cosine}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, affnet_et_1aff: str) -> Path:
    return trained_like_checkpoint(tmp_path_factory.mktemp("weights"), affnet_et_1aff, int(SIZE))


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory: pytest.TempPathFactory, affnet_et_1aff: str,
                checkpoint: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """ONE ``export --precision int8 -t onnx,executorch[,tflite]`` at 64 px with the DEFAULT floor."""
    folder = tmp_path_factory.mktemp("int8")
    targets = ",".join(t for t in target_names() if Precision.INT8 in get_target(t).precisions)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(FLOOR_ENV, raising=False)
        code, out, err = run_cli("export", "-m", affnet_et_1aff, "-t", targets, "--precision", "int8", "--weights",
                                 str(checkpoint), "--image-size", SIZE, "--out", str(folder), "--json")
    assert code == 0, err
    return folder, {e["target"]: e for e in json.loads(out)}


def test_int8_entries_record_calibration_fp32_ops_and_agreement(int8_export: tuple[Path, dict[str, Any]]) -> None:
    folder, entries = int8_export
    assert {"onnx", "executorch"} <= set(entries) and ("tflite" in entries) == ("tflite" in target_names())
    for entry in entries.values():
        assert entry["precision"] == "int8" and "-int8-" in entry["path"] and (folder / entry["path"]).is_file()
        record = entry["quantization"]
        calibration = record["calibration"]
        assert calibration["source"] == "shipped" and calibration["split"] == "by file"
        assert not set(calibration["calibration_files"]) & set(calibration["validation_files"])
        assert len(calibration["validation_files"]) >= 20 and calibration["images"] == len(
            calibration["calibration_files"]) + len(calibration["validation_files"])
        assert len(calibration["sha256"]) == 64 and calibration["calibration_inputs"] >= 8
        assert record["batchnorm"] == "as trained"
        assert any("linear" in kept["ops"] and kept["why"] for kept in record["kept_fp32"])
        assert record["floor"] == DEFAULT_FLOOR
        parity = entry["parity"]
        assert parity["status"] == "passed", parity
        assert "top-1 agreement >= 75%" in parity["tolerance"] and "ties" in parity["tolerance"]
        assert parity["inputs"] == calibration["validation_inputs"]  # validation photographs, not the calibration ones
        assert {d["input"].removesuffix(" (mirrored crop)") for d in parity["details"]} == set(
            calibration["validation_files"])
        assert entry["parity_inputs"]["source"] == "calibration split"
        assert parity["decided_agreement"] >= DEFAULT_FLOOR["top1_agreement"] and parity["top5_overlap"] > 0.5
        assert DEFAULT_FLOOR["min_cosine"] <= parity["cosine"] <= parity["mean_cosine"] < 1.0  # int8: close, not exact
        assert max(abs(d["margin"]) for d in parity["details"]) > 1.0  # trained-like logits decide most inputs
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {a["path"]: a["quantization"] for a in manifest["artifacts"]} == {
        e["path"]: e["quantization"] for e in entries.values()}


def test_int8_pte_is_one_xnnpack_delegate_and_onnx_is_per_channel_qdq(int8_export: tuple[Path, dict[str, Any]]) -> None:
    folder, entries = int8_export
    report = ExecuTorchTarget().inspect(folder / entries["executorch"]["path"])
    assert report.delegate_calls == 1
    assert sum(n for op, n in report.ops.items() if not op.startswith("delegate:")) == 0, report.ops  # no CPU kernel
    model = onnx.load(str(folder / entries["onnx"]["path"]))
    kinds = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in kinds and "Gemm" in kinds  # the DFT products and the classifier stay fp32
    produced_by = {out: n.op_type for n in model.graph.node for out in n.output}
    scales = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    fp32 = [n for n in convs if n.input[1] in scales]  # weights read as they are, not dequantized
    assert all(produced_by.get(n.input[1]) == "DequantizeLinear" for n in convs if n not in fp32)
    assert {tuple(scales[n.input[1]].dims[:1]) for n in fp32} > {(1,)}  # the GroupNorm moments and the decided kinds
    assert len(fp32) < len(convs)
    per_channel = [n for n in model.graph.node if n.op_type == "DequantizeLinear"
                   and n.input[1] in scales and len(scales[n.input[1]].dims) == 1 and scales[n.input[1]].dims[0] > 1]
    assert per_channel  # weight scales per output channel
    assert {p.key: p.value for p in model.metadata_props}["affdeploy.precision"] == "int8"
    if "tflite" in entries:  # LiteRT's int8 kernels, all in one XNNPACK delegate kernel
        report = entries["tflite"]["op_counts"]
        assert report["delegate_calls"] == 1 and report["non_delegated_ops"] == 0, report
        assert report["ops"].get("QUANTIZE", 0) > 0


def test_verify_rechecks_int8_with_the_same_metrics(int8_export: tuple[Path, dict[str, Any]],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder, entries = int8_export
    code, out, err = cli(capsys, "verify", str(folder / entries["executorch"]["path"]), "--json")
    assert code == 0, err
    parity, recorded = json.loads(out)["parity"], entries["executorch"]["parity"]
    assert parity["status"] == "passed" and parity["tolerance"] == recorded["tolerance"]
    assert parity["top1_agreement"] == recorded["top1_agreement"] and parity["inputs"] == recorded["inputs"]
    assert parity["cosine"] == pytest.approx(recorded["cosine"], abs=1e-6)


def test_bench_precision_int8_uses_the_exported_artifacts(int8_export: tuple[Path, dict[str, Any]], affnet_et_1aff: str,
                                                          checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, entries = int8_export
    code, out, err = cli(capsys, "bench", "-d", "host", "-m", affnet_et_1aff, "--image-size", SIZE, "-t", "onnx,executorch",
                         "--precision", "int8", "--weights", str(checkpoint), "--models-dir", str(folder), "--iters", "2",
                         "--warmup", "0", "--json", "-")
    assert code == 0, err
    records = json.loads(out)["records"]
    assert {(r["target"], r["precision"]) for r in records} == {("onnx", "int8"), ("executorch", "int8")}
    assert {r["artifact_sha256"] for r in records} == {entries[t]["sha256"] for t in ("onnx", "executorch")}
    assert not (folder / "cache").exists()  # found in the manifest, nothing exported again


def test_int8_below_the_floor_fails_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, affnet_et_1aff: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    photos = _photos(tmp_path / "photos")
    out = tmp_path / "out"
    monkeypatch.setenv(FLOOR_ENV, "1.01,0.95")  # no int8 artifact agrees on more than every image
    # native: no DFT lowering to wait for
    code, _, err = cli(capsys, "export", "-m", affnet_et_1aff, "-t", "onnx", "--fft", "native", "--precision", "int8",
                       "--image-size", SIZE, "--calibration", str(photos), "--out", str(out))
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert "top-1 agreement" in lines[0] and "need >= 101%" in lines[0] and "min cosine" in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # neither the artifact nor a manifest


def test_fp16_executorch_is_one_delegate_with_coreml_fp16_parity(tmp_path: Path, affnet_et_1aff: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "export", "-m", affnet_et_1aff, "-t", "executorch", "--precision", "fp16",
                         "--image-size", SIZE, "--out", str(tmp_path), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["precision"] == "fp16" and "-fp16-" in entry["path"] and entry["quantization"] is None
    parity = entry["parity"]
    assert parity["status"] == "passed" and parity["top1_agree"] and parity["cosine"] >= 0.999
    assert parity["max_abs_err"] > 1e-6  # computed in fp16 for real, not fp32 under another name
    report = ExecuTorchTarget().inspect(tmp_path / entry["path"])
    kernels = {op: n for op, n in report.ops.items() if not op.startswith("delegate:")}
    assert report.delegate_calls == 1 and kernels == {"_to_dim_order_copy": 2}, report.ops  # fp32 in/out casts only
    code, out, err = cli(capsys, "verify", str(tmp_path / entry["path"]), "--json")
    assert code == 0 and json.loads(out)["parity"]["status"] == "passed", err


def _photos(folder: Path, count: int = 24) -> Path:
    """A folder of ``count`` readable (noise) photos: enough for int8's split by file."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def _save(folder: Path, name: str, image: Image.Image) -> Path:
    _photos(folder)
    image.save(folder / name)
    return folder


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "is not a directory"),
    ("empty", "holds no images"),
    ("too-few", "holds 23 images; int8 needs at least 24: 4 or more to calibrate on and 20 others"),
    ("not-an-image", "cannot be read as an image"),
    ("16-bit", "is a I;16 image; 8-bit photos are expected"),
    ("tiny", "is 8x8; photos of at least 32 px a side are expected"),
    ("fp32", "--calibration applies to --precision int8, not fp32"),
])
def test_calibration_bad_inputs_are_one_line(case: str, message: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    if case == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("no photos here")
    elif case == "too-few":
        _photos(folder, 23)
    elif case == "not-an-image":
        _photos(folder)
        (folder / "a.jpg").write_bytes(b"not a jpeg")
    elif case == "16-bit":
        _save(folder, "depth.png", Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)))
    elif case in ("tiny", "fp32"):
        _save(folder, "a.png", Image.new("RGB", (8, 8) if case == "tiny" else (40, 40)))
    precision = "fp32" if case == "fp32" else "int8"
    code, out, err = cli(capsys, "export", "-m", "affnet-et", "-t", "onnx", "--precision", precision,
                         "--image-size", SIZE, "--calibration", str(folder), "--out", str(tmp_path / "out"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and message in lines[0] and len(lines) <= 2, err
    assert not (tmp_path / "out").exists()


def test_int8_is_refused_where_it_does_not_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "export", "-m", "affnet-et", "-t", "executorch", "--backend", "portable",
                       "--precision", "int8", "--out", str(tmp_path))
    assert code != 0 and "--precision int8 is not available for --target executorch --backend portable" in err
    code, _, err = cli(capsys, "export", "-m", "affnet-et", "-t", "onnx", "--precision", "fp16", "--out", str(tmp_path))
    assert code != 0 and "choose: fp32, int8" in err
