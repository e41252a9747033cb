"""``affdeploy inspect``: which ops an artifact contains, which are FFT/complex, and what can run them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json
from affdeploy.export.artifactio import ArtifactIO
from affdeploy.fsutil import check_readable_file

SHOWN_OPS = 25


def _io_table(io: ArtifactIO) -> Table:
    """Inputs then outputs as the file declares them; a dynamic dim by its name, else by its bound (``<=64``) or ``?``."""
    table = Table(title=f"inputs and outputs (fed by {io.feed})")
    for column in ("", "#", "name", "shape", "dtype"):
        table.add_column(column)
    for kind, tensors in (("in", io.inputs), ("out", io.outputs)):
        for index, tensor in enumerate(tensors):
            bounds = tensor.upper_bounds or [-1] * len(tensor.shape or [])
            shape = "not declared" if tensor.shape is None else "[" + ", ".join(
                str(d) if d is not None else "?" if bound == -1 else f"<={bound}"
                for d, bound in zip(tensor.shape, bounds, strict=True)) + "]"
            table.add_row(kind, str(index), tensor.name or "-", shape, tensor.dtype)
    return table


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="An .onnx, .ort, .pte or .mlpackage artifact."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Print the op-coverage report of an artifact: ops and counts, FFT and complex ops left, delegation, and which backends can run it; and its inputs and outputs (names, shapes, dtypes, how they are fed) with the file's format version (ONNX opset and IR version, Core ML deployment target, LiteRT signature).

    The report is read from the file itself, so it works on artifacts from anywhere. For .pte files the counts are runtime calls: CPU kernel calls by operator, and delegate calls by backend.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    from affdeploy.export import inspect_artifact

    check_readable_file(path, "artifact", folder_ok=True)  # a FIFO would block the reader forever
    inspection = inspect_artifact(path)
    if as_json:
        print_json(inspection.to_dict())
        return
    report = inspection.report
    summary = Table(title=f"{path} ({inspection.target})", show_header=False)
    summary.add_row("ops (total)", str(report.total))
    summary.add_row("FFT ops left", str(report.fft_ops_left))
    summary.add_row("complex values", str(report.complex_values))
    if report.delegate_calls is not None:
        summary.add_row("delegate calls", str(report.delegate_calls))
    if report.delegated_share is not None:
        summary.add_row("delegated share", f"{100 * report.delegated_share:.1f}%")
    for backend, support in report.backends.items():
        summary.add_row(f"runs on: {backend}", support)
    for key, value in inspection.io.format.items():
        summary.add_row(key.replace("_", " "), str(value))
    console.print(summary)
    console.print(_io_table(inspection.io))
    for note in inspection.io.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    ops = Table(title="ops")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    if report.delegation:  # which of them a delegate takes (.tflite: LiteRT's XNNPACK delegate)
        ops.add_column("in a delegate", justify="right")
    for name, count in list(report.ops.items())[:SHOWN_OPS]:
        taken = report.delegation.get(name)
        ops.add_row(name, str(count), *([str(taken.delegated if taken else 0)] if report.delegation else []))
    if len(report.ops) > SHOWN_OPS:
        ops.add_row(f"... {len(report.ops) - SHOWN_OPS} more (see --json)", "")
    console.print(ops)
