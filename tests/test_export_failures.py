"""Failure paths of `affdeploy export`: each fails with one line, and nothing partial is
left on disk (no artifact, no temporary, manifest unchanged). Real exporters and runtimes throughout;
the ones that must run a whole export use ONNX on a one-FFT factory model to stay cheap.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_helpers import cli as run_cli

from affdeploy.errors import CheckpointError, ParityError
from affdeploy.export import MANIFEST_NAME, ExportRequest, export_artifacts
from affdeploy.export.parity import Tolerance
from affdeploy.export.registry import get_target
from affdeploy.models import build_model

MANIFEST = json.dumps({"schema": "affdeploy.manifest/v1", "artifacts": []}) + "\n"


def onnx_request(out: Path, **choices: object) -> ExportRequest:
    """An AFFNet-ET 64 px ONNX export request into ``out``."""
    return ExportRequest.create("affnet-et", "onnx", image_size=64, out=out, **choices)  # type: ignore[arg-type]


class TinySpectral(torch.nn.Module):
    """One rfft/irfft pair: the pipeline's all-or-nothing writes do not depend on the model, and this exports in seconds."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x) * 2, n=x.shape[-1]) + x


def tiny_spectral() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    """The ``package.module:factory`` that ``--model`` accepts."""
    return TinySpectral(), (torch.randn(1, 3, 32),)


TINY = f"{__name__}:tiny_spectral"


class Stop(Exception):
    """Raised from on_progress to end an export at a chosen step."""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and stderr: the failure paths speak only on stderr."""
    code, _out, err = run_cli(capsys, *args)
    return code, err


def stop_at(step: str, exc: BaseException) -> object:
    def on_progress(message: str, fraction: float | None = None) -> None:
        if message.startswith(step):
            raise exc

    return on_progress


def assert_untouched(out: Path) -> None:
    """Only the manifest we seeded is there, byte for byte."""
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME]
    assert (out / MANIFEST_NAME).read_text() == MANIFEST


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_text(MANIFEST)
    return folder


def test_coreml_with_native_fft_says_why_and_what_to_use(capsys: pytest.CaptureFixture[str], out: Path) -> None:
    code, err = cli(capsys, "export", "--model", "affnet-et", "--target", "coreml", "--fft", "native", "--out", str(out))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "Core ML cannot run rfft2" in err and "--fft dft" in err
    assert_untouched(out)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "tensorrt"], "unknown target 'tensorrt'"),
        (["--target", "onnx", "--precision", "fp16"], "--precision fp16 is not available for --target onnx"),
        (["--target", "executorch", "--backend", "portable", "--require-full-delegation"], "needs a delegate"),
        (["--target", "onnx", "--image-size", "100"], "multiple of 32"),
    ],
)
def test_bad_options_fail_before_any_work(capsys: pytest.CaptureFixture[str], out: Path, args: list[str],
                                          needle: str) -> None:
    code, err = cli(capsys, "export", "--model", "affnet-et", *args, "--out", str(out))
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert_untouched(out)


def test_corrupt_weights_fail_with_one_line(capsys: pytest.CaptureFixture[str], out: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    code, err = cli(capsys, "export", "--model", "affnet-et", "--target", "onnx", "--weights", str(bad), "--out", str(out))
    assert code == 1
    assert "broken.pt is not a readable torch checkpoint" in err and len(err.strip().splitlines()) == 1
    assert_untouched(out)


def test_mismatched_weights_name_keys_and_the_variant_they_fit(capsys: pytest.CaptureFixture[str], out: Path,
                                                               tmp_path: Path) -> None:
    other = tmp_path / "t.pt"
    torch.save(build_model("affnet-t").state_dict(), other)
    code, err = cli(capsys, "export", "--model", "affnet-et", "--target", "onnx", "--weights", str(other), "--out", str(out))
    assert code == 1
    assert "does not match affnet-et" in err and "shape-mismatched" in err and "layer_" in err
    assert "use --model affnet-t" in err
    assert_untouched(out)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix"])
def test_every_accepted_checkpoint_format_loads(out: Path, tmp_path: Path, wrap: str) -> None:
    state = build_model("affnet-et").state_dict()
    obj = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": torch.tensor(3)},
        "model": {"model": state},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
    }[wrap]
    path = tmp_path / f"{wrap}.pt"
    torch.save(obj, path)
    # Loading happens before torch.export; reaching that step proves the checkpoint was accepted.
    with pytest.raises(Stop):
        export_artifacts([onnx_request(out, weights=path)], stop_at("torch.export", Stop()))
    assert_untouched(out)


def test_checkpoint_errors_are_raised_by_the_api(out: Path, tmp_path: Path) -> None:
    state = build_model("affnet-et").state_dict()
    state.pop("classifier.fc.bias")
    path = tmp_path / "missing.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="1 missing: classifier.fc.bias"):
        export_artifacts([onnx_request(out, weights=path)])
    assert_untouched(out)


def test_unwritable_output_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    code, err = cli(capsys, "export", "--model", "affnet-et", "--target", "onnx", "--out", str(blocker / "sub"))
    assert code == 1 and "cannot create output folder" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "a file, not a folder"


def test_parity_failure_writes_nothing(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx = get_target("onnx")  # no real export reproduces logits bit for bit:
    monkeypatch.setattr(type(onnx), "tolerances", {"fp32": Tolerance(max_abs_err=0.0)})
    with pytest.raises(ParityError, match="does not match PyTorch: max \\|error\\| .* > 0e"):
        export_artifacts([ExportRequest.create(TINY, "onnx", fft="native", out=out)])
    assert_untouched(out)


def test_interrupted_export_leaves_nothing_behind(out: Path) -> None:
    seen: list[str] = []

    def on_progress(message: str, fraction: float | None = None) -> None:
        seen.append(message)
        if message.startswith("onnx: checking parity"):  # the artifact exists, under its temporary name
            assert any(p.name.startswith(".affdeploy-tmp-") for p in out.iterdir())
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_artifacts([ExportRequest.create(TINY, "onnx", fft="native", out=out)], on_progress)
    assert seen[-1].startswith("onnx: checking parity")
    assert_untouched(out)
