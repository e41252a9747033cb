"""``affdeploy eval``: every artifact of a model on a folder of images, against PyTorch and the labels."""

from __future__ import annotations

from pathlib import Path

import typer
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
from affdeploy.models.source import MODEL_HELP
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _cosine(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


@app.command(name="eval")
def eval_command(
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    images: Path = typer.Option(..., "--images", help="A folder of images: class sub-folders (ImageFolder layout: "
                                "WordNet ids like n01440764, class indices or ImageNet label names) give accuracy; "
                                "images directly in it give agreement with PyTorch only."),
    target: list[str] = typer.Option(["all"], "--target", "-t", help="Targets to evaluate, or all. " + TARGETS_HELP),
    precision: str | None = typer.Option(None, "--precision", help="Precisions, comma list (e.g. fp32,int8); "
                                         "default: each target's default. Combinations a target lacks are skipped."),
    weights: Path | None = typer.Option(None, "--weights", help="Checkpoint to load (official cvnets state dict)."),
    image_size: int = typer.Option(DEFAULT_IMAGE_SIZE, "--image-size", help="Input height and width (multiple of 32)."),
    labels: Path | None = typer.Option(None, "--labels", help="A file mapping class folders to ImageNet classes, one "
                                       "'folder<TAB or comma>class' per line (class: index, WordNet id or label)."),
    models_dir: Path = typer.Option(Path("models"), "--models-dir", help="Where exported artifacts are looked up "
                                    "(manifest.json) and missing ones cached."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate only the first N images (folder order)."),
    worst: int = typer.Option(5, "--worst", min=0, max=100, help="Worst images (lowest cosine) listed per artifact."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Evaluate every exported artifact of a model on your images: accuracy, agreement with PyTorch, worst images.

    Each image is preprocessed as the artifacts expect (shorter side resized, centre crop, RGB in [0, 1]) and run through PyTorch and every artifact (ONNX Runtime, ExecuTorch, LiteRT; Core ML through affdeploy's ML Program interpreter off macOS). Per artifact: top-1/top-5 accuracy on images whose class folder maps to an ImageNet class, top-1 agreement and cosine against PyTorch's logits (classifier packages compared in log-probability space, as parity does), and the images where it strays furthest. Artifacts already in --models-dir are used as they are; missing ones are exported into its cache. Images stream one at a time (memory stays flat); unreadable files are skipped with one line each.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    from affdeploy.evaluation.run import EvalRequest, evaluate, plan_eval

    requests, notes = plan_eval(model, target_list(target), precision, weights=weights, image_size=image_size,
                                out=models_dir)
    request = EvalRequest(tuple(requests), images, labels, models_dir, limit, worst)
    with progress(not as_json) as bar:
        task = bar.add_task("evaluating", total=1.0)

        def report(message: str, fraction: float | None = None) -> None:
            bar.update(task, description=message, completed=fraction)  # None leaves it as it is

        result = evaluate(request, report)
    result.notes[:0] = notes
    for name, why in result.skipped:
        err_console.print(f"[bold yellow]skipped:[/] {name}: {why}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(result.to_dict())
        return
    title = (f"{model} on {result.evaluated} images of {images} ({result.layout}"
             + (f", {len(result.skipped)} skipped" if result.skipped else "") + ")")
    table = Table(title=title)
    for column in ("artifact (runs in)", "top-1", "top-5", "agree", "mean cos", "min cos"):
        table.add_column(column, no_wrap=True)
    for row in result.rows:
        data = row.to_dict()
        table.add_row(f"{row.name} ({row.engine})", _share(data["top1_accuracy"]), _share(data["top5_accuracy"]),
                      _share(data["top1_agreement"]), _cosine(data["mean_cosine"]), _cosine(data["min_cosine"]))
    console.print(table)
    for row in result.rows[1:]:
        for item in row.worst:
            console.print(f"  {row.name}: {item.image}: cosine {item.cosine:.5f}, PyTorch {item.pytorch!r}, "
                          f"artifact {item.artifact!r}", highlight=False, soft_wrap=True)
    if result.unmapped_folders:
        console.print(f"{len(result.unmapped_folders)} class folders map to no ImageNet class (agreement only): "
                      f"{', '.join(result.unmapped_folders[:5])}{' ...' if len(result.unmapped_folders) > 5 else ''}; "
                      "name them by WordNet id or pass --labels", highlight=False)
    for note in result.notes:
        console.print(note, highlight=False)
