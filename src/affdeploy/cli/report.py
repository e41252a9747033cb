"""``affdeploy report`` (plots and a markdown table) and ``affdeploy compare`` (regressions, for CI)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from affdeploy.bench.output import print_table
from affdeploy.bench.report import NOISE_FLOOR, TOO_NOISY, compare_records, render_report
from affdeploy.bench.schema import KEY_FIELDS, BenchRecord, load_results
from affdeploy.bench.v3 import write_v3
from affdeploy.cli._common import JSON_OPTION_HELP, app, console, finite, print_json
from affdeploy.errors import UsageError


def _load_all(paths: list[Path]) -> list[BenchRecord]:
    return [record for path in paths for record in load_results(path)]


@app.command()
def report(
    results: list[Path] = typer.Argument(...,
                                         help="Results files written by 'affdeploy bench --json' (host, Android or iOS)."),
    out: Path = typer.Option(Path("reports"), "--out", "-o", help="Folder for the PNG plots and the markdown table."),
    stem: str = typer.Option("report", "--name",
                             help="File name stem: NAME.md, NAME_latency.png, NAME_fft.png, NAME_speedup.png "
                                  "(--format v3: NAME.v3.json)."),
    fmt: str = typer.Option("markdown", "--format",
                            help="markdown: the table and PNG plots; v3: the PyTorch benchmark database's v3 JSON "
                                 "(one row per metric per configuration), for the dashboards ExecuTorch uses."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Render comparison plots and a markdown table from one or more results files.

    Plots: latency per configuration (p50 with p10-p90 whiskers), native FFT vs DFT lowering (when both were measured), and the speedup of every configuration over eager PyTorch with the native FFT (when that baseline was measured on the same device). All files are written atomically.

    --format v3 writes the same records as the PyTorch benchmark database's v3 rows instead (NAME.v3.json: benchmark, model, metric with benchmark_values, runners; one row per metric per configuration).
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    if not stem or stem in (".", "..") or Path(stem).name != stem:
        raise UsageError(f"--name takes a plain file name stem such as 'report', got '{stem}'")
    if fmt not in ("markdown", "v3"):
        raise UsageError(f"--format takes markdown or v3, got '{fmt}'")
    records = _load_all(results)
    written = render_report(records, out, stem) if fmt == "markdown" else [write_v3(records, out, stem)]
    if as_json:
        print_json({"records": len(records), "files": [str(p) for p in written]})
        return
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def compare(
    base: Path = typer.Argument(..., help="Results file of the reference run."),
    new: Path = typer.Argument(..., help="Results file of the run to check."),
    threshold: float = typer.Option(0.10, "--threshold", callback=finite,
                                    help="Relative p50 slowdown tolerated before a regression is called (0.10 = 10%)."),
    noise_floor: float = typer.Option(
        NOISE_FLOOR, "--noise-floor", callback=finite,
        help="Relative p50 change two runs of the same command may show on this machine (0.25 = 25%); raised per "
             "configuration to the drift seen within either run. A change within it is 'too noisy to tell'.",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Compare two results files and exit 1 when a configuration got slower.

    Records are matched on what defines a configuration: model, target, backend, FFT mode, threads, precision, image size and the hardware (CPU model for hosts, phone model and SoC for devices), not the machine's name. No configuration in common is an error (exit 1) that says how the closest records differ. A regression needs both: NEW's p50 above BASE's by more than --threshold, and NEW's bootstrap 95% interval of the median entirely above BASE's, and a slowdown beyond the noise floor between runs (--noise-floor, or the drift between stretches of either run, whichever is larger). A change that passes the first two tests but not the third is shown as 'too noisy to tell' and does not fail: the bootstrap interval covers noise within a run, not between runs.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    rows, only_base, only_new = compare_records(load_results(base), load_results(new), threshold, (str(base), str(new)),
                                                noise_floor)
    regressions = [r for r in rows if r.verdict == "regression"]
    too_noisy = [r for r in rows if r.verdict == TOO_NOISY]
    if as_json:
        print_json(
            {
                "threshold": threshold,
                "noise_floor": noise_floor,
                "comparisons": [r.to_dict() for r in rows],
                "only_in_base": [dict(zip(KEY_FIELDS, k, strict=True)) for k in only_base],
                "only_in_new": [dict(zip(KEY_FIELDS, k, strict=True)) for k in only_new],
                "regressions": len(regressions),
                "too_noisy": len(too_noisy),
            }
        )
    else:
        table = Table(title=f"{new} vs {base} (threshold {threshold:.0%}, noise floor {noise_floor:.0%})")
        for name in (*KEY_FIELDS, "base p50 ms", "new p50 ms", "change", "noise floor", "verdict"):
            table.add_column(name.replace("_", " "))
        style = {"regression": "bold red", "improvement": "green", "unchanged": "", TOO_NOISY: "yellow"}
        for r in rows:
            verdict = f"[{style[r.verdict]}]{r.verdict}[/]" if style[r.verdict] else r.verdict
            table.add_row(*map(str, r.key), f"{r.base_p50:.2f}", f"{r.new_p50:.2f}", f"{r.change:+.1%}",
                          f"{r.noise_floor:.0%}", verdict)
        print_table(console, table)
        for key in only_base:
            console.print(f"only in base: {' '.join(map(str, key))}", highlight=False)
        for key in only_new:
            console.print(f"only in new: {' '.join(map(str, key))}", highlight=False)
        console.print(f"{len(regressions)} regression(s), {len(too_noisy)} too noisy to tell, among {len(rows)} "
                      "matched configuration(s)")
    if regressions:
        raise typer.Exit(1)
