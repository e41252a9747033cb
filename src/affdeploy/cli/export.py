"""``affdeploy export``: AFFNet or a user model to ONNX, Core ML, ExecuTorch and LiteRT, each artifact checked against
PyTorch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from affdeploy.cli._common import (
    JSON_OPTION_HELP,
    TARGETS_HELP,
    app,
    console,
    err_console,
    print_json,
    progress,
    target_list,
)
from affdeploy.export.parity import PASSED
from affdeploy.export.registry import all_targets, target_names
from affdeploy.fsutil import check_readable_file
from affdeploy.models.source import MODEL_HELP
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE
from affdeploy.progress import Progress as Steps


def _per_target(capability: str) -> str:
    """``onnx: fp32; coreml: fp16, fp32; ...``: one capability of every registered target, for --help."""
    return "; ".join(f"{t.name}: {', '.join(getattr(t, capability))}" for t in all_targets())


@contextmanager
def step_reporter(enabled: bool) -> Iterator[Steps]:
    """A rich spinner on stderr whose text follows the pipeline's progress messages.

    It starts with the first message, so options rejected up front print their error line alone.
    """
    with ExitStack() as stack:
        task: list[tuple[Progress, TaskID]] = []

        def report(message: str, fraction: float | None = None) -> None:
            if not task:
                bar = stack.enter_context(progress(enabled))
                task.append((bar, bar.add_task(message, total=None)))
            bar, task_id = task[0]
            bar.update(task_id, description=message)

        yield report


def _names(option: str | None) -> list[str]:
    """``a, b`` -> ["a", "b"], every entry kept (a repeated or empty name is refused by the request, not dropped)."""
    return [] if option is None else [name.strip() for name in option.split(",")]


def human_size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def parity_text(status: str) -> str:
    colour = {"passed": "green", "failed": "red"}.get(status, "yellow")
    return f"[{colour}]{status}[/]"


@app.command()
def export(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    target: list[str] = typer.Option(..., "--target", "-t",
                                     help=f"{', '.join(target_names())}, or all. {TARGETS_HELP}"),
    fft: str = typer.Option(
        "auto", "--fft",
        help="How FFTs are exported: dft (real DFT-matrix products every backend runs), native (rfft2/irfft2 "
             "as-is; ONNX only), auto (dft wherever native would split or fail).",
    ),
    weights: Path | None = typer.Option(None, "--weights", help="Checkpoint to load (official cvnets state dict); "
                                        "default: random init with a fixed seed."),
    image_size: int | None = typer.Option(None, "--image-size", help=f"AFFNet: input height and width (multiple of 32; "
                                          f"default {DEFAULT_IMAGE_SIZE}). User models take the shapes their "
                                          "program declares."),
    precision: str | None = typer.Option(None, "--precision",
                                         help=f"Per target, first is the default: {_per_target('precisions')} "
                                              "(executorch: fp16 and int8 with --backend xnnpack; --backend coreml: "
                                              "fp16, fp32). int8 is calibrated on images, see --calibration."),
    calibration: Path | None = typer.Option(
        None, "--calibration", help="int8: a folder of photos (.png, .jpg, .jpeg, .bmp, .webp; at least 24), split by "
                                    "file: half (at least 20) to validate on, the rest to calibrate on; default: 2 "
                                    "bundled photographs to calibrate on, 20 others to validate on."),
    parity_images: Path | None = typer.Option(
        None, "--parity-images", help="AFFNet: a folder of photos to check parity on (its first 32 by name, centre-"
                                      "cropped as the artifact expects); default: 8 photographs bundled with "
                                      "matplotlib, scikit-image and scikit-learn. Two seeded noise "
                                      "images are always added."),
    parity_inputs: Path | None = typer.Option(
        None, "--parity-inputs", help="User models: an .npz of input sets to check parity on (arrays named like the "
                                      "model's inputs or arr_0..., each of the input's shape or with a leading axis "
                                      "of sets); default: the example inputs and two seeded random sets."),
    backend: str | None = typer.Option(None, "--backend",
                                       help="What to lower for, per target, first is the default: "
                                            f"{_per_target('backends')} "
                                            "(portable: no delegate)."),
    coreml_input: str | None = typer.Option(
        None, "--coreml-input",
        help="Core ML input: image (default; RGB image, labels embedded as a classifier) or tensor (float NCHW, logits).",
    ),
    require_full_delegation: bool = typer.Option(
        False, "--require-full-delegation", help="Fail the ExecuTorch export if any op stays outside the delegate."),
    ort: bool = typer.Option(False, "--ort", help="Also write the .ort (ONNX Runtime Mobile) form next to the .onnx."),
    input_names: str | None = typer.Option(
        None, "--input-names", help="User models: names for the inputs, comma-separated, in forward's order; every "
                                    "artifact takes them (default: forward's argument names)."),
    output_names: str | None = typer.Option(
        None, "--output-names", help="User models: names for the outputs, comma-separated, in order (default: as the "
                                     "exported program names them)."),
    out: Path = typer.Option(Path("models"), "--out", "-o", help="Output folder; manifest.json there lists every artifact."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Export an AFFNet variant or your own model (.pt2, package.module:factory) to ONNX, Core ML, ExecuTorch and/or LiteRT.

    Each artifact is run right after export and compared with PyTorch: AFFNet on real photographs (plus two seeded noise images), user models on their example inputs plus seeded random inputs (or --parity-images / --parity-inputs). fp32: max |error| <= 1e-4 on every input; fp16: cosine >= 0.999 on every input and the same top-1 wherever the reference's top-1 margin exceeds 4x that input's RMS error (closer margins are ties, reported, not failures); int8: top-1 agreement >= 75% and cosine >= 0.95 on 20 photographs the calibration never saw (split by file), against the fp32 network it was quantized from. Beyond tolerance the export fails and nothing is written; the rule, per-input results and top-5 overlap are recorded in the manifest. Core ML packages are checked on any OS by executing the saved ML Program op by op (engine mil-reference), and on macOS also by the Core ML runtime.

    Artifacts are written atomically into --out and recorded in --out/manifest.json (one entry per artifact; exporting again replaces that entry and keeps the others).
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    from affdeploy.export import export_artifacts, plan_exports

    if weights is not None:
        check_readable_file(weights, "weights file", folder_ok=True)  # a FIFO is not "missing": say what it is
    requests = plan_exports(model, target_list(target), backend=backend, precision=precision,
                            input_kind=coreml_input,
                            require_full_delegation=require_full_delegation, ort_format=ort, fft=fft,
                            weights=weights, image_size=image_size, out=out, calibration=calibration,
                            parity_images=parity_images, parity_inputs=parity_inputs,
                            input_names=_names(input_names), output_names=_names(output_names))
    with step_reporter(not as_json) as report:
        entries = export_artifacts(requests, report)
    for entry in entries:
        for warning in entry.op_counts.warnings:
            err_console.print(f"[bold yellow]warning:[/] {entry.path}: {warning}", highlight=False, soft_wrap=True)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    size = requests[0].image_size
    shape = "" if size is None else f" at {size}x{size}"
    table = Table(title=f"{model}{shape} -> {out}")
    table.add_column("target")
    table.add_column("path", overflow="fold")
    for column in ("size", "fft", "parity", "time"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(f"{entry.target} ({entry.backend} {entry.precision})", entry.path, human_size(entry.size_bytes),
                      entry.fft, parity_text(entry.parity.status), f"{entry.export_seconds:.0f} s")
        for extra in entry.companions:
            table.add_row("", extra.path, human_size(extra.size_bytes), entry.fft, parity_text(extra.parity.status), "")
    console.print(table)
    for entry in entries:
        if entry.parity.status != PASSED:
            console.print(f"{entry.path}: parity {entry.parity.status}: {entry.parity.reason}", highlight=False)
