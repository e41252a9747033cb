"""What app developers read from the manifest, and whose artifact a file name is.

One two-input, two-output user model (tests/named_models.py, a dynamic dim named ``batch``) is exported
once to every target. Each entry's ``io`` is what the written file declares, read back from it; an
app that opens each artifact in its runtime and feeds it by those names (a .pte by position) gets
eager PyTorch's outputs, at another batch size wherever the file keeps the dim dynamic. Exporting
never overwrites another model's artifact, and a user model has no image size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import cli, run_cli
from named_models import Magnitude, cross_power

from affdeploy.export.artifactio import BY_NAME, BY_POSITION, BY_SIGNATURE
from affdeploy.export.manifest import ArtifactEntry, read_manifest, write_manifest
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import sha256_path
from affdeploy.preprocessing import input_spec

MODEL = "named_models:cross_power"
OUTPUTS = ["difference", "power"]
BATCH = 3  # not the example's 2: a dim the file keeps dynamic must take it


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ArtifactEntry]]:
    """(folder, entry per target): inputs named by forward (zeta, alpha), outputs by --output-names."""
    out = tmp_path_factory.mktemp("named")
    code, _, err = run_cli("export", "--model", MODEL, "--target", "all", "--output-names", ",".join(OUTPUTS),
                           "--out", str(out))
    assert code == 0, err
    return out, {e.target: e for e in read_manifest(out)}


def _inputs(entry: ArtifactEntry) -> dict[str, np.ndarray]:
    """Seeded inputs at the shapes the entry records, keyed by the model's input names (a dynamic dim at BATCH)."""
    assert entry.io is not None
    rng = np.random.default_rng(0)
    return {spec["name"]: rng.standard_normal([BATCH if isinstance(d, str) else d for d in tensor.shape or []])
            .astype(tensor.dtype) for spec, tensor in zip(entry.input["inputs"], entry.io.inputs, strict=True)}


def _run(path: Path, entry: ArtifactEntry, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The artifact run in its runtime, fed as an app reading ``entry.io`` feeds it; its outputs in io order."""
    io = entry.io
    assert io is not None
    names = [t.name for t in io.inputs]
    if entry.target == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run([t.name for t in io.outputs], dict(zip(names, arrays, strict=True)))
    if entry.target == "coreml":  # no Core ML runtime off Apple systems: its ML Program run op by op
        from affdeploy.coreml_reference import ReferenceModel

        results = ReferenceModel(path).predict(dict(zip(names, arrays, strict=True)))
        return [results[t.name] for t in io.outputs]
    if entry.target == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner(io.format["signature"])
        results = runner(**dict(zip(names, arrays, strict=True)))
        return [results[t.name] for t in io.outputs]
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(path).load_method(io.format["method"])
    return [o.numpy() for o in method.execute([torch.from_numpy(a) for a in arrays])]


def test_each_runtime_fed_by_the_manifests_names_matches_pytorch(exported: tuple[Path, dict[str, ArtifactEntry]]
                                                                ) -> None:
    out, entries = exported
    assert set(entries) == {"onnx", "coreml", "executorch", "tflite"}
    module, _, _ = cross_power()
    for target, entry in entries.items():
        io = entry.io
        assert io is not None
        assert entry.image_size is None and "image_size" not in json.dumps(io.format)
        assert [t["name"] for t in entry.input["inputs"]] == ["zeta", "alpha"]  # forward's argument names
        assert [t["name"] for t in entry.input["outputs"]] == OUTPUTS
        assert entry.input["inputs"][0]["shape"] == ["batch", 8]  # the Dim's name, not torch's symbol
        inputs = _inputs(entry)
        with torch.no_grad():
            expected = [t.numpy() for t in module(*(torch.from_numpy(a) for a in inputs.values()))]
        got = _run(out / entry.path, entry, list(inputs.values()))
        tolerance = 2e-2 if entry.precision == "fp16" else 1e-4
        for name, value, reference in zip(OUTPUTS, got, expected, strict=True):
            np.testing.assert_allclose(np.asarray(value, np.float32), reference, atol=tolerance * np.abs(reference).max(),
                                       err_msg=f"{target} {name}")
        if io.feed != BY_POSITION:
            assert [t.name for t in io.inputs] == ["zeta", "alpha"] and [t.name for t in io.outputs] == OUTPUTS, target


def test_io_is_what_each_file_declares(exported: tuple[Path, dict[str, ArtifactEntry]]) -> None:
    """Each entry against its file read through another door: the runtime's own description of its tensors."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    out, entries = exported
    onnx, coreml, pte, tflite = (entries[t] for t in ("onnx", "coreml", "executorch", "tflite"))
    assert onnx.io is not None and coreml.io is not None and pte.io is not None and tflite.io is not None
    session = ort.InferenceSession(str(out / onnx.path), providers=["CPUExecutionProvider"])
    assert onnx.io.feed == BY_NAME and onnx.io.format == {"opset": 18, "ir_version": 10}
    assert [(t.name, t.shape, t.dtype) for t in onnx.io.inputs + onnx.io.outputs] == [
        (v.name, v.shape, "float32") for v in session.get_inputs() + session.get_outputs()]
    assert [t.shape for t in onnx.io.inputs + onnx.io.outputs] == [["batch", 8], ["batch", 8], ["batch", 8], ["batch", 5]]

    assert coreml.io.feed == BY_NAME and coreml.io.format["deployment_target"] == "iOS16"
    assert [(t.shape, t.upper_bounds, t.dtype) for t in coreml.io.inputs] == [(["batch", 8], [16, 8], "float32")] * 2
    assert [(t.shape, t.dtype) for t in coreml.io.outputs] == [(None, "float16")] * 2  # no output shapes in an fp16 spec
    assert any("named here as the model does: batch" in n for n in coreml.io.notes)

    assert tflite.io.feed == BY_SIGNATURE and tflite.io.format == {"signature": "serving_default"}
    signature = Interpreter(model_path=str(out / tflite.path)).get_signature_list()["serving_default"]
    assert sorted(signature["inputs"]) == ["alpha", "zeta"] and sorted(signature["outputs"]) == sorted(OUTPUTS)
    assert [t.shape for t in tflite.io.inputs + tflite.io.outputs] == [[2, 8], [2, 8], [2, 8], [2, 5]]  # fixed at export

    assert pte.io.feed == BY_POSITION and [t.name for t in pte.io.inputs + pte.io.outputs] == [None] * 4
    assert [t.shape for t in pte.io.inputs] == [["batch", 8]] * 2 and pte.io.inputs[0].upper_bounds == [16, 8]
    assert any("no tensor names" in n for n in pte.io.notes)


def test_inspect_shows_the_files_inputs_outputs_and_format(exported: tuple[Path, dict[str, ArtifactEntry]],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out, entries = exported
    code, stdout, err = cli(capsys, "inspect", str(out / entries["onnx"].path), "--json")
    assert code == 0, err
    io = json.loads(stdout)["io"]
    assert [t["name"] for t in io["inputs"]] == ["zeta", "alpha"] and io["format"]["opset"] == 18
    code, stdout, err = cli(capsys, "inspect", str(out / entries["coreml"].path))
    assert code == 0, err
    assert "zeta" in stdout and "iOS16" in stdout and "power" in stdout


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


def test_names_and_image_size_a_user_model_cannot_take_are_one_line(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    for args, needle in ((["--image-size", "128"], "--image-size sets AFFNet's input image"),
                         (["--input-names", "only_one"], "--input-names gives 1 name(s); named_models:cross_power has 2"),
                         (["--input-names", "a,a"], "--input-names names a tensor twice"),
                         (["--output-names", "ok,not ok"], "'not ok' is not a name"),
                         (["--input-names", "x,y", "--output-names", "x,z"], "input and output names must all differ")):
        code, _, err = cli(capsys, "export", "--model", MODEL, "--target", "onnx", "--out", str(tmp_path), *args)
        assert code == 2, (args, err)
        _one_line_error(err, needle)
    code, _, err = cli(capsys, "export", "--model", "affnet-et", "--target", "onnx", "--input-names", "x",
                       "--out", str(tmp_path))
    assert code == 2
    _one_line_error(err, "AFFNet's artifacts take 'image' and return 'logits'")
    assert not list(tmp_path.iterdir())
    # bench asks for no image size for a user model, so its export cache is one, whatever --image-size says
    assert ExportRequest.create(MODEL, "onnx").image_size is None
    assert ExportRequest.create("affnet-et", "onnx").image_size == 256


def _saved(folder: Path, seed: int) -> Path:
    """``folder/model.pt2``: a small model saved with an example input drawn from ``seed`` (other seeds, other bytes)."""
    folder.mkdir()
    example = torch.randn(2, 8, generator=torch.Generator().manual_seed(seed))
    torch.export.save(torch.export.export(Magnitude(), (example,)), str(folder / "model.pt2"))
    return folder / "model.pt2"


def test_another_models_artifact_is_never_overwritten(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first, second = _saved(tmp_path / "a", 1), _saved(tmp_path / "b", 2)
    out = tmp_path / "out"
    code, _, err = cli(capsys, "export", "--model", str(first), "--target", "coreml,tflite", "--out", str(out))
    assert code == 0, err  # forward's argument is called input, which FX renames in the graph: both still convert
    entries = read_manifest(out)
    assert [[t.name for t in e.io.inputs] for e in entries if e.io] == [["input"], ["input"]]
    entry = entries[0]
    before = (sha256_path(out / entry.path), (out / "manifest.json").read_bytes())
    code, _, err = cli(capsys, "export", "--model", str(second), "--target", "coreml", "--out", str(out))
    assert code == 2
    _one_line_error(err, f"{out / entry.path} is the artifact of {first}", f"exporting {second} would overwrite it",
                    "pass another --out")
    assert (sha256_path(out / entry.path), (out / "manifest.json").read_bytes()) == before
    shutil.copy(first, second)  # the same bytes from another folder: the same artifact, replaced as before
    code, _, err = cli(capsys, "export", "--model", str(second), "--target", "coreml", "--out", str(out))
    assert code == 0, err
    assert [e.model for e in read_manifest(out)] == [str(second), str(first)]


def test_a_user_file_named_like_an_affnet_artifact_does_not_replace_it(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    affnet = out / "affnet-et-64-fp32-dft.onnx"
    affnet.write_bytes(b"AFFNet-ET at 64 px")
    write_manifest(out, [ArtifactEntry(
        model="affnet-et", target="onnx", backend="onnxruntime", path=affnet.name, fft="dft", precision="fp32",
        sha256=sha256_path(affnet), size_bytes=18, image_size=64, input=input_spec(64).to_dict(), tool_versions={},
        op_counts={}, parity={"status": "passed", "reason": ""}, export_seconds=1.0,  # type: ignore[arg-type]
        created="2026-12-01T00:00:00Z")])
    user = _saved(tmp_path / "user", 1).rename(tmp_path / "user" / "affnet-et-64.pt2")
    code, _, err = cli(capsys, "export", "--model", str(user), "--target", "onnx", "--fft", "dft", "--out", str(out))
    assert code == 2
    _one_line_error(err, "is the artifact of affnet-et;", f"exporting {user} would overwrite it")
    assert affnet.read_bytes() == b"AFFNet-ET at 64 px"

