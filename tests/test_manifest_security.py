"""A data file never runs code or reaches outside its folder.

A manifest.json is data from wherever its folder came from: the user code it names is not imported
unless the user names it too (or passes --trust-manifest), every path in it must stay in its folder,
an artifact whose parity did not pass is not bundled into an app, and an atomic write never replaces
a device node, FIFO or symlink with a regular file. Manifests here are written by hand beside small
stand-in files (nothing in these tests opens an artifact), so every test runs in well under a second
except the one real `bench --json /dev/null` run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import sys
import threading
from pathlib import Path

import pytest
from cli_helpers import cli

from affdeploy.errors import AffdeployError
from affdeploy.export.cache import cache_inputs
from affdeploy.export.manifest import ArtifactEntry, write_manifest
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import TMP_MARKER, atomic_write_text, check_writable_file, sha256_path
from affdeploy.preprocessing import input_spec

REPO = Path(__file__).resolve().parents[1]
EVIL = 'import pathlib\npathlib.Path(__file__).with_name("MARKER").write_text("ran")\n'


def _entry(path: str, sha256: str, model: str = "affnet-et", target: str = "executorch", backend: str = "xnnpack",
           parity: str = "passed", **fields: object) -> ArtifactEntry:
    return ArtifactEntry(**{
        "model": model, "target": target, "backend": backend, "path": path, "fft": "dft", "precision": "fp32",
        "sha256": sha256, "size_bytes": 0, "image_size": 64, "input": input_spec(64).to_dict(), "tool_versions": {},
        "op_counts": {}, "parity": {"status": parity, "reason": "" if parity == "passed" else "edited by hand"},
        "export_seconds": 1.0, "created": "2026-12-01T00:00:00Z", **fields})  # type: ignore[arg-type]


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# ----------------------------------------------------------------------------- 1. user code named by a manifest


@pytest.fixture
def user_code_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in .onnx whose entry names user code, with an evil.py beside it that writes MARKER when imported.

    The working directory is the folder, where a factory is imported from.
    """
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "evil.py").write_text(EVIL)
    artifact = folder / "user.onnx"
    artifact.write_bytes(b"not really onnx")
    write_manifest(folder, [_entry(artifact.name, sha256_path(artifact), model="os:abort", target="onnx",
                                   backend="onnxruntime")])
    monkeypatch.chdir(folder)
    return folder


def _name_model(folder: Path, model: str) -> None:
    doc = json.loads((folder / "manifest.json").read_text())
    doc["artifacts"][0]["model"] = model
    (folder / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("model", ["os:abort", "evil:factory"])
def test_verify_never_imports_the_user_code_a_manifest_names(
        user_code_folder: Path, model: str, capsys: pytest.CaptureFixture[str]) -> None:
    _name_model(user_code_folder, model)  # os:abort used to kill verify with SIGABRT; evil.py used to run
    code, _, err = cli(capsys, "verify", "user.onnx")
    assert code == 1
    _one_line_error(err, f"the manifest names user code {model}", f"--model {model}", "--trust-manifest")
    assert not (user_code_folder / "MARKER").exists()

    code, out, err = cli(capsys, "verify", "user.onnx", "--json")  # the record says what was skipped; still exit 1
    record = json.loads(out)
    assert code == 1 and record["sha256_matches_manifest"] and record["untrusted"]
    assert record["parity"]["status"] == "not verified" and "--trust-manifest" in record["parity"]["reason"]
    assert not (user_code_folder / "MARKER").exists()


def test_verify_rebuilds_user_code_only_when_the_user_names_it(
        user_code_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _name_model(user_code_folder, "evil:factory")
    code, _, err = cli(capsys, "verify", "user.onnx", "--model", "other:factory")  # not the entry's model
    assert code == 2
    _one_line_error(err, "is evil:factory (its manifest entry says so), not other:factory")
    assert not (user_code_folder / "MARKER").exists()
    for flags in (["--model", "evil:factory"], ["--trust-manifest"]):
        code, _, err = cli(capsys, "verify", "user.onnx", *flags)  # named: imported (evil.py has no factory)
        assert code == 2 and (user_code_folder / "MARKER").exists()
        _one_line_error(err, "evil has no callable factory")
        (user_code_folder / "MARKER").unlink()
        sys.modules.pop("evil")  # imported afresh by the next run


def test_bench_an_artifact_never_imports_the_user_code_its_manifest_names(
        user_code_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for model in ("os:abort", "evil:factory"):
        _name_model(user_code_folder, model)
        code, _, err = cli(capsys, "bench", "--artifact", "user.onnx", "--iters", "1")
        assert code == 1
        _one_line_error(err, f"the manifest names user code {model}", f"--model {model}")
        assert not (user_code_folder / "MARKER").exists()


# ----------------------------------------------------------------------------- 2. paths that leave the folder


def _escape(models: Path, how: str) -> str:
    """A manifest path for ``outside.pte`` (next to ``models``, same bytes) that leads out of ``models``."""
    outside = models.parent / "outside.pte"
    outside.write_bytes(b"secret outside the models folder")
    if how == "dotdot":
        return "../outside.pte"
    if how == "absolute":
        return str(outside)
    (models / "link.pte").symlink_to(outside)
    return "link.pte"


@pytest.fixture
def android_app(tmp_path: Path) -> Path:
    app = tmp_path / "android_app"
    (app / "app" / "src" / "main").mkdir(parents=True)
    shutil.copy(REPO / "android_app" / "app" / "src" / "main" / "AndroidManifest.xml", app / "app" / "src" / "main")
    return app


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_android_assets_refuses_a_path_outside_the_models_folder(
        tmp_path: Path, android_app: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    path = _escape(models, how)
    write_manifest(models, [_entry(path, sha256_path(tmp_path / "outside.pte"))])
    code, _, err = cli(capsys, "android-assets", "--models-dir", str(models), "--app", str(android_app))
    assert code == 1
    _one_line_error(err, f"entry {path} names {path!r}, which leads outside")
    assert not (android_app / "app" / "src" / "main" / "assets").exists()


def test_a_symlink_inside_a_package_must_not_lead_out_either(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models, app = tmp_path / "models", tmp_path / "ios_app"
    package = models / "m.mlpackage"
    package.mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    (tmp_path / "secret").write_text("outside")
    (package / "weights.bin").symlink_to(tmp_path / "secret")
    write_manifest(models, [_entry(package.name, sha256_path(package), target="coreml", backend="coreml")])
    (app / "AFFBench" / "Models").mkdir(parents=True)
    shutil.copy(REPO / "ios_app" / "project.yml", app)
    code, _, err = cli(capsys, "ios-assets", "--models-dir", str(models), "--app", str(app))
    assert code == 1
    _one_line_error(err, "m.mlpackage", "leads outside")
    assert list((app / "AFFBench" / "Models").iterdir()) == []


def test_bench_models_dir_refuses_an_exported_entry_outside_the_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    path = _escape(models, "dotdot")
    request = ExportRequest.create("affnet-et", "onnx", image_size=64)  # what `bench` below looks for
    identity = {k: v for k, v in cache_inputs(request).items() if k in ArtifactEntry.__dataclass_fields__}
    write_manifest(models, [_entry(**{**identity, "path": path, "sha256": sha256_path(tmp_path / "outside.pte")})])
    code, _, err = cli(capsys, "bench", "--model", "affnet-et", "--target", "onnx", "--image-size", "64",
                       "--models-dir", str(models), "--iters", "1")
    assert code == 1
    _one_line_error(err, "names '../outside.pte', which leads outside")


# ----------------------------------------------------------------------------- 3. special files as outputs


def test_atomic_writes_stream_into_a_fifo_and_dev_null(tmp_path: Path) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, '{"records": []}\n')
    reader.join(timeout=10)
    assert received == [b'{"records": []}\n'] and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.fifo"]  # no temporary left beside it
    check_writable_file(fifo, "--json")

    atomic_write_text("/dev/null", "discarded\n")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_atomic_writes_replace_a_symlinks_target_not_the_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "results.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and link.resolve() == target and target.read_text() == "new"
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["results.json"]

    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x.json")
    with pytest.raises(AffdeployError, match="symlink to .*, which is missing"):
        atomic_write_text(dangling, "x")
    assert dangling.is_symlink()


def test_atomic_writes_refuse_folders_and_other_special_files(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(AffdeployError, match="it is a folder, not a file"):
        atomic_write_text(tmp_path / "folder", "x")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.sock"))
        with pytest.raises(AffdeployError, match="it is a socket, not a file"):
            atomic_write_text(tmp_path / "s.sock", "x")
    finally:
        sock.close()
    assert not any(p.name.startswith(TMP_MARKER) for p in tmp_path.iterdir())


def test_bench_json_to_dev_null_keeps_the_device(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "bench", "--model", "affnet-et", "--target", "torch", "--image-size", "64",
                       "--iters", "1", "--warmup", "0", "--json", "/dev/null")
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)  # as root the old rename replaced the node with a file


# ----------------------------------------------------------------------------- 4. unverified artifacts in the apps


@pytest.mark.parametrize("status", ["failed", "not verified"])
def test_android_assets_refuses_an_artifact_whose_parity_did_not_pass(
        tmp_path: Path, android_app: Path, status: str, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    artifact = models / "affnet-et-64-xnnpack-fp32-dft.pte"
    artifact.write_bytes(b"a program")
    write_manifest(models, [_entry(artifact.name, sha256_path(artifact), parity=status)])
    args = ("android-assets", "--models-dir", str(models), "--app", str(android_app), "--json")
    code, _, err = cli(capsys, *args)
    assert code == 1
    _one_line_error(err, f"{artifact.name}: parity {status} at export (edited by hand)", "--allow-unverified")
    assert not (android_app / "app" / "src" / "main" / "assets").exists()

    code, out, err = cli(capsys, *args, "--allow-unverified")
    assert code == 0, err
    assert [m["file"] for m in json.loads(out)["models"]] == [artifact.name]
