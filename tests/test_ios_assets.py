"""``affdeploy ios-assets``: manifest in, app Models folder out (atomic, idempotent, pruned).

The copy does not look inside artifacts, so the models folder holds small stand-in files
(a .pte and an .mlpackage folder) described by a manifest written with the exporter's own
write_manifest; MACs come from the real model profile at image size 64.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from affdeploy.bench.appmodel import APP_CATALOG_SCHEMA, APP_MODEL_SCHEMA
from affdeploy.cli import main
from affdeploy.devices import appassets
from affdeploy.devices.ios import assets as cmd
from affdeploy.export.manifest import ArtifactEntry, write_manifest
from affdeploy.fsutil import TMP_MARKER, sha256_path
from affdeploy.models import build_model
from affdeploy.models.profile import profile_model
from affdeploy.preprocessing import input_spec

APP = Path(__file__).parent.parent / "ios_app"


def _entry(target: str, backend: str, path: str, precision: str, sha: str) -> ArtifactEntry:
    return ArtifactEntry(
        model="affnet-et", target=target, backend=backend, path=path, fft="dft", precision=precision, sha256=sha,
        size_bytes=0, image_size=64, input=input_spec(64).to_dict(), tool_versions={}, op_counts={},
        parity={"status": "passed"},
        export_seconds=1.0, created="2026-11-20T10:00:00Z", input_kind="image" if target == "coreml" else "tensor",
    )  # fmt: skip


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    package = models / "affnet-et-64-fp16-dft-image.mlpackage"
    (package / "Data" / "com.apple.CoreML" / "weights").mkdir(parents=True)
    (package / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"\x08\x09" * 64)
    (package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin").write_bytes(bytes(range(256)) * 8)
    pte = models / "affnet-et-64-xnnpack-fp32-dft.pte"
    pte.write_bytes(b"\x00\x00\x00\x00ET12" + bytes(2048))
    (models / "affnet-et-64-fp32-dft.onnx").write_bytes(b"onnx")
    write_manifest(models, [
        _entry("coreml", "coreml", package.name, "fp16", sha256_path(package)),
        _entry("executorch", "xnnpack", pte.name, "fp32", sha256_path(pte)),
        _entry("onnx", "onnxruntime", "affnet-et-64-fp32-dft.onnx", "fp32", "00"),
    ])  # fmt: skip
    return models


@pytest.fixture
def app(tmp_path: Path) -> Path:
    folder = tmp_path / "ios_app"
    (folder / "AFFBench" / "Models").mkdir(parents=True)
    shutil.copy(APP / "project.yml", folder / "project.yml")
    shutil.copy(APP / "AFFBench" / "Models" / "README.md", folder / "AFFBench" / "Models" / "README.md")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["ios-assets", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_copies_models_labels_and_catalog(exported: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--models-dir", str(exported), "--app", str(app), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(a["target"], a["status"]) for a in report["assets"]] == [("coreml", "copied"), ("executorch", "copied")]
    models = app / "AFFBench" / "Models"
    for name in ("affnet-et-64-fp16-dft-image.mlpackage", "affnet-et-64-xnnpack-fp32-dft.pte"):
        assert sha256_path(models / name) == sha256_path(exported / name)
    assert not (models / "affnet-et-64-fp32-dft.onnx").exists()  # ONNX does not go into the iOS app
    labels = (models / "imagenet_labels.txt").read_text().splitlines()
    assert len(labels) == 1000
    catalog = json.loads((models / "models.json").read_text())
    assert catalog["schema"] == APP_CATALOG_SCHEMA and catalog["labels"] == "imagenet_labels.txt"
    metas = [json.loads((models / name).read_text()) for name in catalog["models"]]
    assert catalog["models"] == [f"{m['file']}.model.json" for m in metas]
    macs = profile_model(build_model("affnet-et"), 64).macs
    assert [(m["target"], m["backend"], m["precision"], m["image_size"], m["macs"]) for m in metas] == [
        ("coreml", "coreml", "fp16", 64, macs), ("executorch", "xnnpack", "fp32", 64, macs)]  # fmt: skip
    assert {m["schema"] for m in metas} == {APP_MODEL_SCHEMA} and {m["mode"] for m in metas} == {"image"}
    assert metas[1]["sha256"] == sha256_path(exported / metas[1]["file"])


def test_second_run_skips_unchanged_and_prunes_stale(exported: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "--models-dir", str(exported), "--app", str(app))[0] == 0
    models = app / "AFFBench" / "Models"
    (models / "affnet-256-xnnpack-fp32-dft.pte").write_bytes(b"old export")
    code, out, _ = _run(capsys, "--models-dir", str(exported), "--app", str(app), "--json")
    report = json.loads(out)
    assert code == 0 and [a["status"] for a in report["assets"]] == ["unchanged", "unchanged"]
    assert report["removed"] == ["affnet-256-xnnpack-fp32-dft.pte"]
    assert (models / "README.md").exists()
    code, out, _ = _run(capsys, "--models-dir", str(exported), "--app", str(app))
    assert code == 0 and "unchanged" in out and "Core ML" not in out


def test_nothing_exported_is_one_clear_error(tmp_path: Path, app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--models-dir", str(tmp_path / "models"), "--app", str(app))
    assert code == 1 and out == ""
    assert err.strip().startswith("error: no Core ML or ExecuTorch model is exported") and len(err.strip().splitlines()) == 1
    assert "affdeploy export" in err


def test_bad_app_folder_and_missing_artifact(exported: Path, tmp_path: Path, app: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--models-dir", str(exported), "--app", str(tmp_path))
    assert code == 1 and "is not the affdeploy iOS app" in err
    pte = exported / "affnet-et-64-xnnpack-fp32-dft.pte"
    pte.write_bytes(b"edited after export")
    code, _, err = _run(capsys, "--models-dir", str(exported), "--app", str(app))
    assert code == 1 and "changed since it was exported" in err
    pte.unlink()
    code, _, err = _run(capsys, "--models-dir", str(exported), "--app", str(app))
    assert code == 1 and "manifest.json but missing" in err
    assert sorted(p.name for p in (app / "AFFBench" / "Models").iterdir()) == ["README.md"]  # nothing half copied


def test_interrupted_copy_leaves_nothing_behind(exported: Path, app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_copytree = shutil.copytree
    calls: list[Path] = []

    def copy_then_interrupt(src: Path, dst: Path, *args: object, **kwargs: object) -> object:
        top = not calls  # the .mlpackage itself; copytree recurses into its folders through this stand-in
        calls.append(Path(src))
        done = real_copytree(src, dst, *args, **kwargs)
        if top:
            raise KeyboardInterrupt
        return done

    monkeypatch.setattr(appassets.shutil, "copytree", copy_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        cmd.copy_ios_assets(exported, app, [])
    models = app / "AFFBench" / "Models"
    assert sorted(p.name for p in models.iterdir()) == ["README.md"]
    assert not any(TMP_MARKER in p.name for p in models.iterdir())
