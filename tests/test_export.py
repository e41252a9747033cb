"""Exporters: real torch.onnx / coremltools / ExecuTorch exports of AFFNet-ET (one AFF block per stage) at 64x64,
checked with the real runtimes, plus `affdeploy inspect` and `affdeploy verify` on the results.

One `--target all` export through the CLI is shared by the tests of this module (the ExecuTorch
lowering dominates the cost); the failure paths live in test_export_failures.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from cli_helpers import run_cli as run
from conftest import trained_like_checkpoint
from onnx import numpy_helper
from PIL import Image
from reduced_affnet import SHARED_MODEL

from affdeploy.data.photos import bundled
from affdeploy.export import MANIFEST_NAME, ArtifactEntry, ExportRequest, read_manifest
from affdeploy.export.cache import cache_inputs, cache_key, find_exported, matches
from affdeploy.export.manifest import upsert_entries
from affdeploy.export.registry import target_names
from affdeploy.fsutil import sha256_path

SIZE = "64"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, affnet_et_1aff: str) -> Path:
    """Trained-like weights of the one-AFF-block AFFNet-ET in the official file layout (conftest)."""
    return trained_like_checkpoint(tmp_path_factory.mktemp("ckpt"), affnet_et_1aff, int(SIZE))


@pytest.fixture(scope="module")
def exported(affnet_et_64_export: tuple[Path, list[dict[str, Any]]]) -> tuple[Path, list[dict[str, Any]]]:
    """The session's one `export --target all --image-size 64 --ort` (tests/conftest.py)."""
    return affnet_et_64_export


PHOTOS = dict(bundled())


def by_target(entries: list[dict[str, Any]], target: str) -> dict[str, Any]:
    return next(e for e in entries if e["target"] == target)


def test_one_run_writes_every_target_recorded_in_the_manifest(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out, entries = exported
    assert sorted(e["target"] for e in entries) == ["coreml", "executorch", "onnx"]
    manifest = read_manifest(out)
    assert sorted(e.path for e in manifest) == sorted(e["path"] for e in entries)
    for entry in manifest:
        artifact = entry.resolve(out)
        assert artifact.exists()
        assert entry.sha256 == sha256_path(artifact)
        assert entry.fft == "dft" and entry.image_size == 64 and entry.input["shape"] == [1, 3, 64, 64]
        assert entry.op_counts.fft_ops_left == 0 and entry.op_counts.complex_values == 0
        assert entry.tool_versions["torch"].startswith("2.") and entry.code_sha256
        assert entry.weights is None and entry.weights_sha256 is None  # fixed-seed init
    assert not [p for p in out.iterdir() if p.name.startswith(".affdeploy-tmp-")]


def test_onnx_and_pte_pass_fp32_parity(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    _, entries = exported
    for target in ("onnx", "executorch"):
        parity = by_target(entries, target)["parity"]
        assert parity["status"] == "passed", parity
        assert parity["max_abs_err"] <= 1e-4 and parity["top1_agree"] and parity["inputs"] >= 3


def test_onnx_is_one_checked_file_with_an_ort_companion(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out, entries = exported
    entry = by_target(entries, "onnx")
    model = onnx.load(str(out / entry["path"]))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["logits"]
    (ort_file,) = entry["companions"]
    assert ort_file["path"].endswith(".ort") and (out / ort_file["path"]).is_file()
    assert ort_file["parity"]["status"] == "passed"


def test_coreml_is_an_image_classifier_checked_by_the_reference_interpreter(
        exported: tuple[Path, list[dict[str, Any]]]) -> None:
    import coremltools as ct

    out, entries = exported
    entry = by_target(entries, "coreml")
    assert entry["precision"] == "fp16" and entry["input_kind"] == "image"
    assert entry["parity"]["status"] == "passed" and entry["parity"]["engine"] == "mil-reference"
    spec = ct.utils.load_spec(str(out / entry["path"]))
    assert spec.specificationVersion >= 7  # iOS 16
    assert spec.description.input[0].type.WhichOneof("Type") == "imageType"
    assert spec.description.input[0].type.imageType.colorSpace == ct.proto.FeatureTypes_pb2.ImageFeatureType.RGB
    assert spec.description.predictedFeatureName == "classLabel"
    serialized = spec.SerializeToString()  # the labels are a constant of the program's classify op
    assert b"tench" in serialized and b"toilet tissue" in serialized
    assert entry["op_counts"]["ops"]["classify"] == 1 and entry["op_counts"]["ops"]["softmax"] == 1
    assert spec.description.metadata.author and spec.description.metadata.license
    assert "AFFNet" in spec.description.metadata.shortDescription and spec.description.metadata.versionString
    # an fp16 program whose softmax and probabilities stay fp32: fp16 would round every probability below
    # 6e-8 to 0 (most of a confident classifier's 1000 classes)
    ops = list(spec.mlProgram.functions["main"].block_specializations.values())[0].operations
    kinds = [(op.type, op.outputs[0].type.tensorType.dataType) for op in ops if op.type != "const"]
    fp32 = ct.proto.MIL_pb2.DataType.FLOAT32
    softmax = next(i for i, (kind, _) in enumerate(kinds) if kind == "softmax")
    assert kinds[softmax][1] == fp32 and kinds[softmax + 1][0] == "classify"
    assert ct.proto.MIL_pb2.DataType.FLOAT16 in {dtype for _, dtype in kinds[:softmax]}  # the network itself is fp16


def test_parity_images_are_the_users_and_verify_notices_when_they_change(affnet_et_1aff: str, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copy(PHOTOS[f"skimage/{name}"], photos / name)
    code, stdout, stderr = run("export", "--model", affnet_et_1aff, "--target", "onnx", "--fft", "native",
                               "--image-size", SIZE, "--parity-images", str(photos), "--out", str(tmp_path / "out"),
                               "--json")
    assert code == 0, stderr
    (entry,) = json.loads(stdout)
    recorded = entry["parity_inputs"]
    assert recorded["source"] == str(photos.resolve()) and recorded["count"] == 5 and len(recorded["sha256"]) == 64
    assert recorded["names"][:3] == ["chelsea.png", "coffee.png", "rocket.jpg"]
    assert entry["parity"]["inputs_from"].startswith("3 photographs from")
    code, stdout, stderr = run("verify", str(tmp_path / "out" / entry["path"]), "--json")
    assert code == 0 and json.loads(stdout)["parity"]["inputs"] == 5, stderr
    (photos / "rocket.jpg").unlink()
    code, _, stderr = run("verify", str(tmp_path / "out" / entry["path"]))
    assert code == 1 and "the parity inputs in" in stderr and "changed since export" in stderr


def test_pte_delegation_report_covers_every_op(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    _, entries = exported
    entry = by_target(entries, "executorch")
    counts = entry["op_counts"]
    assert entry["backend"] == "xnnpack"
    # the FFT pass + delegate-friendly rewrites put the whole network in ONE XNNPACK call
    assert counts["delegate_calls"] == 1 and counts["non_delegated_ops"] == 0
    assert counts["delegated_ops"] + counts["non_delegated_ops"] == counts["total"]
    per_op = counts["delegation"]
    assert sum(v["delegated"] + v["non_delegated"] for v in per_op.values()) == counts["total"]
    assert counts["delegated_share"] == pytest.approx(counts["delegated_ops"] / counts["total"], abs=1e-4)
    assert "convolution" in per_op and per_op["convolution"]["delegated"] > 0


@pytest.mark.parametrize("target", ["onnx", "coreml", "executorch"])
def test_inspect_reads_the_op_report_from_the_file(exported: tuple[Path, list[dict[str, Any]]], target: str) -> None:
    out, entries = exported
    code, stdout, stderr = run("inspect", str(out / by_target(entries, target)["path"]), "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["target"] == target and report["fft_ops_left"] == 0 and report["total"] > 0
    assert report["backends"]
    if target == "executorch":
        assert any(name.startswith("delegate:XnnpackBackend") for name in report["ops"])
    if target == "onnx":
        assert "DFT" not in report["ops"] and "Conv" in report["ops"]


def test_inspecting_and_verifying_a_pte_leave_the_exporter_and_torchao_unloaded(
        exported: tuple[Path, list[dict[str, Any]]]) -> None:
    """``inspect`` and ``verify`` of a .pte start in about a second: ``executorch.exir`` (the exporter) and torchao
    behind it cost ~5 s to import and neither command needs them (a fresh process, as a user starts it)."""
    out, entries = exported
    pte = str(out / by_target(entries, "executorch")["path"])
    probe = (
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from reduced_affnet import MODELS, SHARED_CONFIG, SHARED_MODEL, model_info\n"
        "MODELS[SHARED_MODEL] = model_info(SHARED_CONFIG)\nfrom affdeploy.cli import main\n"
        f"for argv in (['inspect', {pte!r}, '--json'], ['verify', {pte!r}, '--json']):\n"
        "    try:\n        main(argv)\n    except SystemExit as stop:\n        assert stop.code == 0, (argv, stop.code)\n"
        "print('LOADED', sorted(m for m in ('executorch.exir', 'torchao') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"
    assert '"delegate_calls": 1' in done.stdout and '"status": "passed"' in done.stdout


def test_verify_reruns_parity_and_checks_coreml_with_the_reference_interpreter(
        exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out, entries = exported
    code, stdout, stderr = run("verify", str(out / by_target(entries, "onnx")["path"]), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["parity"]["status"] == "passed" and result["sha256_matches_manifest"]
    code, stdout, stderr = run("verify", str(out / by_target(entries, "coreml")["path"]), "--json")
    assert code == 0, stderr
    parity = json.loads(stdout)["parity"]
    assert parity["status"] == "passed" and parity["engine"] == "mil-reference" and parity["tolerance"]


def test_verify_fails_on_a_perturbed_artifact(exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    out, entries = exported
    name = by_target(entries, "onnx")["path"]
    shutil.copy(out / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    model = onnx.load(str(out / name))
    weight = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # the classifier's weight
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(model, str(tmp_path / name))
    (entry,) = [e for e in read_manifest(tmp_path) if e.path == name]
    upsert_entries(tmp_path, [replace(entry, sha256=sha256_path(tmp_path / name))])  # recorded as is: only parity can tell
    code, _, stderr = run("verify", str(tmp_path / name))
    assert code == 1
    assert "does not match PyTorch" in stderr and "Traceback" not in stderr


def test_upsert_replaces_one_entry_and_keeps_the_others(exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    out, _ = exported
    shutil.copy(out / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    before = read_manifest(tmp_path)
    changed = ArtifactEntry.from_dict({**before[0].to_dict(), "sha256": "0" * 64, "unknown_future_key": 1})
    upsert_entries(tmp_path, [changed])
    after = {e.path: e for e in read_manifest(tmp_path)}
    assert len(after) == len(before)
    assert after[changed.path].sha256 == "0" * 64
    assert all(after[e.path] == e for e in before[1:])


def test_trained_like_checkpoint_exports_to_every_target_with_defaults(checkpoint: Path, affnet_et_1aff: str,
                                                                       tmp_path: Path) -> None:
    """The command this project exists for, with weights a user has (confident logits, not the flat seeded init):
    every target at its default precision passes parity on the photographs, and verify rebuilds from the file."""
    code, stdout, stderr = run("export", "--model", affnet_et_1aff, "--target", "all", "--image-size", SIZE,
                               "--weights", str(checkpoint), "--out", str(tmp_path), "--json")
    assert code == 0, stderr
    entries = json.loads(stdout)
    assert {e["target"] for e in entries} == set(target_names())
    for entry in entries:
        parity = entry["parity"]
        assert entry["weights_sha256"] == sha256_path(checkpoint) and parity["status"] == "passed", parity
        assert parity["inputs_from"] == "8 bundled photographs + 2 seeded noise images" and parity["tolerance"]
        assert {d["input"] for d in parity["details"]} >= {"skimage/chelsea.png", "noise (seed 0)"}
        assert max(abs(d["margin"]) for d in parity["details"]) > 1.0 and "max |reference|" in parity["reason"]
    coreml = by_target(entries, "coreml")
    assert coreml["precision"] == "fp16" and coreml["parity"]["top5_overlap"] >= 0.8
    code, stdout, stderr = run("verify", str(tmp_path / coreml["path"]), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["parity"]["status"] == "passed"


def test_bench_reuses_an_exported_artifact_only_while_it_still_matches(exported: tuple[Path, list[dict[str, Any]]],
                                                                         tmp_path: Path) -> None:
    out, entries = exported
    onnx_entry = by_target(entries, "onnx")
    shutil.copy(out / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    shutil.copy(out / onnx_entry["path"], tmp_path / onnx_entry["path"])
    inputs = cache_inputs(ExportRequest.create(SHARED_MODEL, "onnx", image_size=64))
    hit = find_exported(tmp_path, inputs)
    assert hit is not None and hit[0] == (tmp_path / onnx_entry["path"]).resolve()
    assert find_exported(tmp_path, cache_inputs(ExportRequest.create(SHARED_MODEL, "onnx", image_size=96))) is None
    assert find_exported(tmp_path, {**inputs, "tools": {**inputs["tools"], "onnx": "0.0"}}) is None
    assert find_exported(tmp_path, {**inputs, "code": "another export code"}) is None
    with (tmp_path / onnx_entry["path"]).open("ab") as artifact:
        artifact.write(b"\0")  # the file changed since export: never measured as if it were the export
    assert find_exported(tmp_path, inputs) is None


def test_the_cache_identity_holds_the_calibration_images_and_the_data_code(tmp_path: Path) -> None:
    """An int8 artifact calibrated on other images is another artifact; so is one exported by other data/ code."""
    from affdeploy.data.calibration import sources_sha256
    from affdeploy.export.cache import _CODE_PARTS

    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(photos / f"{i:02d}.png")
    default = cache_inputs(ExportRequest.create("affnet-et", "onnx", precision="int8", image_size=64))
    mine = cache_inputs(ExportRequest.create("affnet-et", "onnx", precision="int8", image_size=64, calibration=photos))
    assert default["calibration_sha256"] == sources_sha256() != mine["calibration_sha256"]
    assert cache_key(default) != cache_key(mine)
    entry = ArtifactEntry.from_dict({**{k: v for k, v in mine.items() if k in ArtifactEntry.__dataclass_fields__},
                                     "path": "a.onnx", "sha256": "0", "size_bytes": 1, "input": {},
                                     "tool_versions": {}, "op_counts": {}, "parity": {"status": "passed"},
                                     "export_seconds": 0.0, "created": "", "weights_sha256": None,
                                     "quantization": {"calibration": {"sha256": mine["calibration_sha256"]}}})
    assert matches(entry, mine) and not matches(entry, default)  # the bug: it was reused for the default int8
    assert cache_inputs(ExportRequest.create("affnet-et", "onnx", image_size=64))["calibration_sha256"] is None
    assert "data" in _CODE_PARTS  # calibration cropping lives in data/: a change there re-exports int8 artifacts
