"""User models in the CLI: ``--model`` as a torch.export.save .pt2 file or a package.module:factory.

Zoo models (tests/fft_zoo.py) go through ``affdeploy export`` to ONNX, Core ML and ExecuTorch with
parity against eager PyTorch on their example inputs and fresh random ones; manifests name them by
file/factory and sha256; ``info`` and ``verify`` take them; bad references are one clear line.
The two-input, two-output factory is exported once in tests/test_user_models_android.py, whose
phone-runner, verify and inspect tests share that export.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from cli_helpers import cli
from fft_zoo import build

from affdeploy.cli import main
from affdeploy.data.photos import bundled

TARGETS = "onnx,coreml,executorch"
PHOTO = dict(bundled())["skimage/chelsea.png"]


@pytest.fixture(scope="module")
def pt2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log-mel (stft) zoo model saved with torch.export.save, as a user would hand it over."""
    model, args, _ = build("stft-log-mel")
    path = tmp_path_factory.mktemp("user") / "log_mel.pt2"
    torch.export.save(torch.export.export(model, args), str(path))
    return path


@pytest.fixture(scope="module")
def pt2_export(pt2_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    """One export shared by the tests below (capsys is per test, so this reads the manifest instead)."""
    out = tmp_path_factory.mktemp("pt2_out")
    with pytest.raises(SystemExit) as done:
        main(["export", "--model", str(pt2_file), "--target", TARGETS, "--out", str(out)])
    assert done.value.code in (0, None)
    return json.loads((out / "manifest.json").read_text())["artifacts"], out


def _by_target(entries: list[dict]) -> dict[str, dict]:
    return {e["target"]: e for e in entries}


def test_pt2_exports_to_all_three_targets_with_parity(pt2_file: Path, pt2_export: tuple[list[dict], Path]) -> None:
    entries, out = pt2_export
    by_target = _by_target(entries)
    assert set(by_target) == {"onnx", "coreml", "executorch"}
    sha = hashlib.sha256(pt2_file.read_bytes()).hexdigest()
    for target, entry in by_target.items():
        assert entry["path"].startswith("log_mel-") and (out / entry["path"]).exists()
        assert entry["weights"] == str(pt2_file.resolve()) and entry["weights_sha256"] == sha
        assert entry["input"]["kind"] == "pt2" and entry["input"]["inputs"] == [
            {"name": "wave", "shape": [2, 400], "dtype": "float32"}]
        assert entry["parity"]["status"] == "passed", (target, entry["parity"])
        assert entry["parity"]["inputs"] == 3  # the example inputs and two fresh random ones
        assert entry["op_counts"]["fft_ops_left"] == 0
    assert by_target["onnx"]["parity"]["max_abs_err"] <= 1e-4
    assert by_target["executorch"]["parity"]["max_abs_err"] <= 1e-4
    assert by_target["executorch"]["op_counts"]["delegate_calls"] == 1  # stft conv, reflect pad, log1p: all inside
    assert by_target["executorch"]["op_counts"]["non_delegated_ops"] == 0
    assert by_target["coreml"]["input_kind"] == "tensor"  # no image preprocessing for a user model


def test_verify_rechecks_a_user_model_artifact(capsys: pytest.CaptureFixture[str], pt2_file: Path,
                                               pt2_export: tuple[list[dict], Path]) -> None:
    entries, out = pt2_export
    pte = out / _by_target(entries)["executorch"]["path"]
    code, stdout, stderr = cli(capsys, "verify", str(pte), "--model", str(pt2_file), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["parity"]["status"] == "passed" and result["sha256_matches_manifest"]


def test_verify_after_the_model_file_moved_names_it_not_a_checkpoint(capfd: pytest.CaptureFixture[str],
                                                                     tmp_path: Path) -> None:
    """A user model's weights are its own .pt2 (--weights is refused for it): a moved one is named as such."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    pt2 = tmp_path / "two_layers.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 8),)), str(pt2))
    code, _, stderr = cli(capfd, "export", "--model", str(pt2), "--target", "onnx", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    (onnx,) = (tmp_path / "out").glob("*.onnx")
    pt2.rename(tmp_path / "moved.pt2")
    code, _, stderr = cli(capfd, "verify", str(onnx), "--trust-manifest")
    assert code == 1
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"error: the model file {pt2} named in the manifest is gone"), line
    assert "restore it there, or export again with --model naming its new place" in line and "--target onnx" in line
    assert "checkpoint" not in line and "--weights" not in line
    (tmp_path / "moved.pt2").write_bytes(b"other bytes")
    (tmp_path / "moved.pt2").rename(pt2)
    code, _, stderr = cli(capfd, "verify", str(onnx), "--trust-manifest")
    assert code == 1 and f"the model file {pt2} named in the manifest changed since export" in stderr, stderr


def test_info_reports_a_user_model(capsys: pytest.CaptureFixture[str], pt2_file: Path) -> None:
    code, stdout, stderr = cli(capsys, "info", "--model", str(pt2_file), "--json")
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["kind"] == "pt2" and data["graph"]["fft_ops"] == 1
    assert data["graph_after_fft_pass"]["fft_ops"] == 0 and data["graph_after_fft_pass"]["complex_values"] == 0
    assert "macs" not in data and "imagenet_top1" not in data


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "missing.pt2"], "model file missing.pt2 does not exist"),
    (["--model", "no_such_module:make"], "cannot import no_such_module"),
    (["--model", "fft_zoo:ZOO"], "has no callable ZOO"),
    (["--model", "fft_zoo:build"], "missing 1 required positional argument|must return"),
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--model", "fft_zoo:multi_input", "--weights", __file__], "--weights loads AFFNet checkpoints"),
    (["--model", "fft_zoo:multi_input", "--coreml-input", "image"], "needs AFFNet's image preprocessing"),
])
def test_bad_user_model_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str],
                                    message: str) -> None:
    code, _, stderr = cli(capsys, "export", *args, "--target", "coreml", "--out", str(tmp_path))
    assert code != 0
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert re.search(message, stderr), stderr


def test_run_feeds_a_user_models_artifact_an_npz_and_names_its_outputs(pt2_export: tuple[list[dict], Path],
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    entries, out = pt2_export
    onnx = _by_target(entries)["onnx"]
    model, args, _ = build("stft-log-mel")
    np.savez(tmp_path / "inputs.npz", wave=args[0].numpy())
    code, stdout, err = cli(capsys, "run", str(out / onnx["path"]), "--input", str(tmp_path / "inputs.npz"), "--json",
                            "--save", str(tmp_path / "outputs.npz"))
    assert code == 0, err
    result = json.loads(stdout)
    (name,) = result["outputs"]
    assert name == onnx["input"]["outputs"][0]["name"] and not result["top"]
    with torch.no_grad():
        expected = model(*args).numpy()
    assert result["outputs"][name]["shape"] == list(expected.shape)
    np.testing.assert_allclose(np.load(tmp_path / "outputs.npz")[name], expected, atol=1e-4 * np.abs(expected).max())
    code, _, err = cli(capsys, "run", str(out / onnx["path"]), "--input", str(PHOTO))
    assert code == 2 and "takes tensors (wave)" in err


def test_parity_inputs_of_a_user_model_are_the_users_arrays(pt2_file: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    waves = np.random.default_rng(3).normal(size=(2, 2, 400)).astype(np.float32)  # two sets of the (2, 400) input
    np.savez(tmp_path / "waves.npz", wave=waves)
    code, out, err = cli(capsys, "export", "--model", str(pt2_file), "--target", "onnx", "--parity-inputs",
                         str(tmp_path / "waves.npz"), "--out", str(tmp_path / "out"), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["parity"]["inputs"] == 2 and entry["parity_inputs"]["names"] == ["waves.npz[0]", "waves.npz[1]"]
    assert entry["parity"]["status"] == "passed"
    code, out, err = cli(capsys, "verify", str(tmp_path / "out" / entry["path"]), "--model", str(pt2_file), "--json")
    assert code == 0 and json.loads(out)["parity"]["inputs"] == 2, err
    np.savez(tmp_path / "waves.npz", wave=waves[:1])
    code, _, err = cli(capsys, "verify", str(tmp_path / "out" / entry["path"]), "--trust-manifest")
    assert code == 1 and "changed since export" in err
    code, _, err = cli(capsys, "export", "--model", str(pt2_file), "--target", "onnx", "--parity-images",
                       str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2 and "--parity-images is for image models" in err


def test_info_lists_each_transform_with_its_form_macs_and_constants(capsys: pytest.CaptureFixture[str]) -> None:
    """A long FFT convolution (Hyena, L=8192): factored transforms, the filter's spectrum folded at lowering."""
    code, stdout, stderr = cli(capsys, "info", "--model", "fft_zoo:hyena", "--json")
    assert code == 0, stderr
    data = json.loads(stdout)
    transforms = data["fft_transforms"]
    assert [t["op"] for t in transforms] == ["fft_rfft", "fft_rfft", "fft_irfft"]
    assert [t["folded"] for t in transforms] == [True, False, False]
    for t in transforms[1:]:
        assert t["axes"][0]["n"] == 16384 and t["axes"][0]["form"].startswith("factored ")
        assert t["macs"] > 0 and t["constant_bytes"] > 0 and "fft_zoo.py" in t["source"]
    assert data["graph_after_fft_pass"]["constant_bytes"] == sum(t["constant_bytes"] for t in transforms)
    assert data["fft_costed_for"].startswith("executorch (xnnpack cost model")
    code, stdout, _ = cli(capsys, "info", "--model", "fft_zoo:hyena")
    assert code == 0 and "factored" in stdout and "folded" in stdout  # the table, however wide the terminal
