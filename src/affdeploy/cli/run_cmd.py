"""``affdeploy run``: one exported artifact on your own input (a photo or an .npz), its outputs printed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json

SHOWN_VALUES = 8


@app.command()
def run(
    path: Path = typer.Argument(..., help="An exported artifact (.onnx, .pte, .tflite, .mlpackage) with its "
                                "manifest.json alongside."),
    input_path: Path = typer.Option(..., "--input", "-i", help="A photo (.jpg, .png ...) for an image classifier, or "
                                    "an .npz of arrays named like a tensor model's inputs (or arr_0...)."),
    top: int = typer.Option(5, "--top", min=1, max=1000, help="Classes shown for a classifier."),
    save: Path | None = typer.Option(None, "--save", help="Also write a tensor model's outputs to this .npz."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Run one artifact on your input with the preprocessing export and eval use, and print what it outputs.

    A photo is resized (shorter side) and centre-cropped to the artifact's input size, RGB in [0, 1]; a classifier prints its top classes with probabilities. A tensor model prints each output by name with its shape and first values (--save writes them all to an .npz). Core ML packages run in the Core ML runtime on macOS, elsewhere in affdeploy's ML Program interpreter.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    from affdeploy.evaluation.predict import run_artifact
    from affdeploy.fsutil import atomic_path

    result = run_artifact(path, input_path, top)
    if save is not None:
        with atomic_path(save) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **result.outputs)  # type: ignore[arg-type]  # numpy's stub: **kwds might fill allow_pickle
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(title=f"{path.name} on {input_path.name} ({result.engine})")
    if result.top:
        for column in ("class", "label", "probability"):
            table.add_column(column, justify="right" if column != "label" else "left")
        for item in result.top:
            table.add_row(str(item["class"]), item["label"], f"{item['probability']:.4f}")
    else:
        for column in ("output", "shape", "min", "max", "mean", "first values"):
            table.add_column(column)
        for name, values in result.outputs.items():
            flat = values.reshape(-1)
            first = ", ".join(f"{v:.4g}" for v in flat[:SHOWN_VALUES]) + (" ..." if flat.size > SHOWN_VALUES else "")
            table.add_row(name, str(list(values.shape)), f"{flat.min():.4g}", f"{flat.max():.4g}", f"{flat.mean():.4g}",
                          first)
    console.print(table)
