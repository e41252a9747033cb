"""``affdeploy verify``: re-run the parity check of an exported artifact against PyTorch."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, print_json
from affdeploy.cli.export import parity_text, step_reporter
from affdeploy.errors import AffdeployError, ParityError
from affdeploy.fsutil import check_readable_file


@app.command()
def verify(
    path: Path = typer.Argument(..., help="An exported .onnx, .ort, .pte or .mlpackage with its manifest.json alongside."),
    model: str | None = typer.Option(None, "--model", "-m", metavar="SPEC",
                                     help="The user model (package.module:factory or .pt2) the manifest entry names, to "
                                          "confirm that its code may run: a manifest alone never makes verify import or "
                                          "load user code. Must equal the entry's model. Built-in "
                                          "AFFNet variants need nothing."),
    trust_manifest: bool = typer.Option(False, "--trust-manifest",
                                        help="Rebuild whatever user model the manifest entry names (runs its code); only "
                                             "for manifests you wrote yourself."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Re-run the parity check of an exported artifact against the PyTorch model it came from.

    The model, image size, precision and checkpoint are taken from the artifact's entry in the manifest.json next to it. Exits with 1 when parity fails; an artifact this machine cannot run is reported as "not verified" with the reason. Core ML packages are checked everywhere by executing the saved program op by op (engine mil-reference: the program's math, not the Core ML runtime or GPU/Neural Engine precision), and on macOS also by the Core ML runtime (coreml-runtime); both results are shown.

    A manifest is data: when its entry names a user model (a factory or a .pt2), verify rebuilds it only if --model names the same model or --trust-manifest is given. Otherwise it checks the file's sha256 only, reports parity as not verified, and exits with 1.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    from affdeploy.export import verify_artifact

    check_readable_file(path, "artifact", folder_ok=True)  # hashing a FIFO would block forever
    with step_reporter(not as_json) as report:
        result = verify_artifact(path, on_progress=report, model=model, trust_manifest=trust_manifest)
    parity = result.parity
    if as_json:
        print_json(result.to_dict())
    else:
        table = Table(title=f"parity of {path}", show_header=False)
        table.add_row("model", f"{result.model} ({result.target}, {result.backend}, {result.precision}, fft {result.fft})")
        table.add_row("file unchanged since export", "yes" if result.sha256_matches_manifest else "[red]no[/]")
        for check in (parity, *parity.also):
            engine = f" ({check.engine})" if check.engine else ""
            table.add_row(f"parity{engine}", parity_text(check.status))
            table.add_row("details", check.reason)
            if check.tolerance:
                table.add_row("tolerance", check.tolerance)
        console.print(table)
    if not result.sha256_matches_manifest:
        raise AffdeployError(f"{path} changed since export (its sha256 differs from the manifest's)",
                             hint="export it again")
    if parity.failed:
        raise ParityError(f"{path} does not match PyTorch: {parity.reason}")
    if result.untrusted:
        raise AffdeployError(f"parity of {path} not verified: {parity.reason}")
