"""Bad-input suite, part 3: what goes wrong mid-export: a disk that fills up, float64 and constant-output
user models, int8 that misses its floor.

A full disk is real: a tmpfs mounted with a few inodes or pages (root only; skipped elsewhere). The exports
are of a one-FFT factory model to ONNX (once also to Core ML), in-process, seconds each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from bad_input_helpers import assert_one_clear_line, snapshot, tmpfs  # noqa: F401  (tmpfs: a fixture)
from cli_helpers import cli

from affdeploy.export import ExportRequest, export_artifacts
from affdeploy.export.registry import get_target
from affdeploy.limits import available_memory_bytes

MANIFEST = json.dumps({"schema": "affdeploy.manifest/v1", "artifacts": []}) + "\n"
NO_SPACE = "No space left on device"


class Spectral(torch.nn.Module):
    """One rfft/irfft pair: the cheapest model the whole pipeline (FFT pass, parity, manifest) runs on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x) * 2, n=x.shape[-1]) + x


class Wide(torch.nn.Module):
    """float32 in and out, float64 inside."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Spectral()(x.double()).float()


class Constant(torch.nn.Module):
    """Ignores its input: every output is the same spectrum of a fixed ramp."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("ramp", torch.linspace(-1.0, 1.0, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Spectral()(self.ramp).expand(1, 3, 16)


def spectral() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    return Spectral(), (torch.randn(1, 3, 32),)


def spectral_float64() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    return Spectral().double(), (torch.randn(1, 3, 32, dtype=torch.float64),)


def wide_inside() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    return Wide(), (torch.randn(1, 3, 32),)


def constant() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    return Constant(), (torch.randn(1, 3, 16),)


SPECTRAL = f"{__name__}:spectral"
ARTIFACT = "test_bad_input_export-spectral-fp32-native.onnx"


@pytest.fixture
def disk(tmpfs: Callable[[str], Path]) -> Callable[[str], Path]:
    """A small tmpfs (``tmpfs`` options) holding an empty manifest, as an --out that exported before."""
    def mount(options: str) -> Path:
        point = tmpfs(options)
        (point / "manifest.json").write_text(MANIFEST)
        return point

    return mount


def export_onnx(capfd: pytest.CaptureFixture[str], out: Path) -> tuple[int, str]:
    code, _, err = cli(capfd, "export", "-m", SPECTRAL, "-t", "onnx", "--fft", "native", "--out", str(out))
    return code, err


def test_full_disk_at_the_manifest_leaves_no_unlisted_artifact(disk: Callable[[str], Path],
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """Four inodes: the folder, the manifest, then the artifact's temporary folder and file; renamed into place,
    the artifact holds one, and the manifest's own temporary folder and file find one left."""
    folder = disk("size=1m,nr_inodes=4")
    before = snapshot(folder)
    code, err = export_onnx(capfd, folder)
    assert code == 1
    assert_one_clear_line(err, f"cannot write {folder / 'manifest.json'}: {NO_SPACE} (nothing was written)")
    assert snapshot(folder) == before


def test_full_disk_at_the_manifest_says_the_earlier_copy_is_gone(disk: Callable[[str], Path],
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """An artifact of that name was there: the new one replaced it, the manifest could not record it, neither stays.
    Five pages: the manifest's, the earlier copy's, then the new artifact's three; renamed over the earlier copy,
    it leaves one page, and the new manifest takes two while the old one is still there."""
    folder = disk("size=20k")
    (folder / ARTIFACT).write_bytes(b"an earlier export")
    before = snapshot(folder)
    code, err = export_onnx(capfd, folder)
    assert code == 1
    assert_one_clear_line(err, f"{NO_SPACE} (removed {ARTIFACT}, which it could not record, and the copy exported "
                               "before it: export it again)")
    assert snapshot(folder) == {k: v for k, v in before.items() if k != ARTIFACT}


def test_full_disk_while_the_converter_writes_is_a_full_disk(disk: Callable[[str], Path],
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """Two pages, one the manifest's: the ONNX exporter's own write fails, and that is said as such."""
    folder = disk("size=8k")
    before = snapshot(folder)
    code, err = export_onnx(capfd, folder)
    assert code == 1
    assert_one_clear_line(err, f"cannot write {folder / ARTIFACT}: {NO_SPACE} (nothing was written)")
    assert snapshot(folder) == before


def test_full_disk_after_one_target_finished_names_what_was_kept(disk: Callable[[str], Path],
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """ONNX then Core ML on five inodes: the .onnx and its manifest entry fit; the .mlpackage's files do not, and
    coremltools says so in its own words (a shutil.Error). The line names the kept artifact and the failed one."""
    folder = disk("size=1m,nr_inodes=5")
    code, _, err = cli(capfd, "export", "-m", SPECTRAL, "-t", "onnx,coreml", "--out", str(folder))
    kept, failed = (get_target(t).artifact_name(ExportRequest.create(SPECTRAL, t)) for t in ("onnx", "coreml"))
    assert code == 1
    assert_one_clear_line(err, f"cannot write {folder / failed}: {NO_SPACE} ({failed} was not written; kept the "
                               f"finished {kept}, recorded in {folder / 'manifest.json'})")
    assert [e["path"] for e in json.loads((folder / "manifest.json").read_text())["artifacts"]] == [kept]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", kept]


@pytest.mark.parametrize(("factory", "needle"), [
    ("spectral_float64", "values of the model are float64 (an input among them) (call .float() on the model and "
                         "its example inputs"),
    ("wide_inside", "values of the model are float64 (call .float() on the model"),
])
def test_float64_model_to_litert_says_call_float(tmp_path: Path, capfd: pytest.CaptureFixture[str], factory: str,
                                                 needle: str) -> None:
    tflite = get_target("tflite")
    if tflite.unavailable():
        pytest.skip(tflite.unavailable())
    out = tmp_path / "models"
    code, _, err = cli(capfd, "export", "-m", f"{__name__}:{factory}", "-t", "tflite", "--out", str(out))
    assert code == 1
    assert_one_clear_line(err, needle)
    assert not out.exists()


def test_parity_of_a_constant_output_model_says_it_checked_a_constant(tmp_path: Path) -> None:
    (entry,) = export_artifacts([ExportRequest.create(f"{__name__}:constant", "onnx", fft="native", out=tmp_path)])
    assert entry.parity.status == "passed"
    assert entry.parity.reason.endswith("; the output is the same for every input: the model's output does not "
                                        "depend on its input, so this checked only that constant")


@pytest.mark.parametrize(("calibration", "size", "advice"), [
    (None, 64, "int8 may meet the floor with --calibration <folder of representative images> or a larger "
               "--image-size than 64"),
    (Path("photos"), 256, "int8 may meet the floor with more representative images in --calibration"),
])
def test_int8_parity_failure_says_what_to_try(calibration: Path | None, size: int, advice: str) -> None:
    """An int8 export that misses the floor (e.g. AFFNet-ET at 64 px on the bundled photographs) costs half a minute:
    the hint its ParityError carries is checked on the requests alone."""
    from affdeploy.export.pipeline import _parity_advice

    request = replace(ExportRequest.create("affnet-et", "onnx", precision="int8", image_size=size),
                      calibration=calibration)  # the folder is checked when planned, not here
    assert _parity_advice(request) == f"nothing was written; {advice}"


LONG = (1 << 26) - 5  # no short factors: Bluestein pads it to 2^27, whose networks need about 43 GB


def too_long_to_lower() -> tuple[torch.nn.Module, tuple[torch.Tensor]]:
    return Spectral(), (torch.randn(1, LONG),)


@pytest.mark.skipif(available_memory_bytes() > 40e9, reason="this machine could build the constants it refuses")
def test_an_fft_whose_constants_exceed_memory_is_refused_up_front(capfd: pytest.CaptureFixture[str]) -> None:
    """A 256 MB input: the refusal comes from the plan, before any constant is built."""
    code, _, err = cli(capfd, "info", "-m", f"{__name__}:too_long_to_lower")
    assert code == 2
    assert_one_clear_line(err, f"an FFT of {LONG} along dim 1 needs about 43.0 GB of DFT constants; this machine has")
