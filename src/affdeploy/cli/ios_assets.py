"""``affdeploy ios-assets``: put the exported Core ML and ExecuTorch models into the iOS app (devices/ios/assets.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json
from affdeploy.devices.ios.assets import copy_ios_assets, models_folder
from affdeploy.models.source import MODEL_HELP


@app.command("ios-assets")
def ios_assets(
    models_dir: Path = typer.Option(Path("models"), "--models-dir",
                                    help="Folder with the exported artifacts and their manifest.json."),
    app_dir: Path = typer.Option(Path("ios_app"), "--app", help="The iOS app folder (the one holding project.yml)."),
    model: list[str] = typer.Option([], "--model", "-m", metavar="NAME",
                                    help=f"Bundle only this model (repeatable): {MODEL_HELP} Default: every exported one."),
    allow_unverified: bool = typer.Option(False, "--allow-unverified",
                                          help="Also bundle artifacts whose parity check at export did not pass (failed or "
                                               "not verified); by default they are refused."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Copy the exported Core ML (.mlpackage) and ExecuTorch (.pte) models and the ImageNet labels into the iOS app.

    Reads MODELS_DIR/manifest.json written by 'affdeploy export', refuses artifacts whose manifest path leads outside MODELS_DIR or whose parity did not pass at export (see --allow-unverified), copies each Core ML and ExecuTorch artifact atomically into APP/AFFBench/Models/ (unchanged files are skipped) with a FILE.model.json describing it (inputs and outputs; AFFNet's preprocessing), writes the app's models.json, and removes files of earlier exports. A user model (.pt2 or factory) needs static float32 inputs; the app benchmarks it on generated inputs. Rebuild the app in Xcode afterwards; docs/ios.md has the steps.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    copied, removed = copy_ios_assets(models_dir, app_dir, model, allow_unverified)
    folder = models_folder(app_dir)
    if as_json:
        print_json({"folder": str(folder), "assets": [c.__dict__ for c in copied], "removed": removed})
        return
    table = Table(title=f"iOS app models in {folder}")
    for column in ("file", "model", "target", "precision", "mode", "size", "status"):
        table.add_column(column)
    for c in copied:
        table.add_row(c.file, c.model, c.target, c.precision, c.mode, f"{c.size_bytes / 1e6:.1f} MB", c.status)
    console.print(table)
    if removed:
        console.print(f"removed stale: {', '.join(removed)}")
    console.print("next: build and run ios_app in Xcode (docs/ios.md), or 'affdeploy bench --device iphone15pro'")
