"""``affdeploy android-assets``: put the exported ExecuTorch, ONNX and LiteRT models into the Android app
(devices/android/assets.py)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json
from affdeploy.devices.android.assets import copy_android_assets
from affdeploy.models.source import MODEL_HELP


@app.command("android-assets")
def android_assets(
    models_dir: Path = typer.Option(Path("models"), "--models-dir", metavar="DIR",
                                    help="Folder with the exported artifacts and their manifest.json."),
    app_dir: Path = typer.Option(Path("android_app"), "--app", metavar="DIR",
                                 help="The Android project folder (the one holding settings.gradle.kts)."),
    model: list[str] = typer.Option([], "--model", "-m", metavar="NAME",
                                    help=f"Bundle only this model (repeatable): {MODEL_HELP} Default: every exported one."),
    allow_unverified: bool = typer.Option(False, "--allow-unverified",
                                          help="Also bundle artifacts whose parity check at export did not pass (failed or "
                                               "not verified); by default they are refused."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Copy the exported ExecuTorch (.pte), ONNX (.onnx) and LiteRT (.tflite) models and the ImageNet labels into the Android app.

    Reads MODELS_DIR/manifest.json written by 'affdeploy export', checks that each artifact lies inside MODELS_DIR, passed its parity check at export (see --allow-unverified) and matches its sha256, copies it atomically into APP/app/src/main/assets/models/ (unchanged files are skipped) with a FILE.model.json describing it (inputs and outputs; AFFNet's preprocessing), writes the app's manifest.json and imagenet_labels.txt, and removes files of earlier runs. A user model (.pt2 or factory) needs static float32 inputs; the app benchmarks it on generated inputs. Rebuild the app afterwards; docs/android_app.md has the steps.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    folder, bundled, removed = copy_android_assets(models_dir, app_dir, model, allow_unverified)
    if as_json:
        print_json({"assets_dir": str(folder), "models": [asdict(b) for b in bundled], "removed": removed})
        return
    table = Table(title=f"Android app models in {folder}")
    for column in ("file", "model", "target", "backend", "fft", "precision", "mode", "size", "status"):
        table.add_column(column)
    for b in bundled:
        table.add_row(b.file, b.model, b.target, b.backend, b.fft, b.precision, b.mode, f"{b.size_bytes / 1e6:.1f} MB",
                      b.status)
    console.print(table)
    if removed:
        console.print(f"removed stale: {', '.join(removed)}")
    console.print(f"next: cd {app_dir} && ./gradlew :app:assembleDebug, then adb install (docs/android_app.md)")
