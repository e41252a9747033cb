"""Presenting benchmark records: the terminal table, CSV rows and the JSON results file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from affdeploy.bench.schema import BenchRecord, dump_results
from affdeploy.fsutil import atomic_write_text

CSV_COLUMNS = (
    "model", "target", "backend", "fft", "threads", "precision", "image_size", "device", "device_kind",
    "runner", "count", "warmup", "min_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms",
    "trimmed_mean_ms", "cv", "median_ci95_low_ms", "median_ci95_high_ms", "noisy", "load_ms",
    "first_inference_ms", "peak_rss_growth_bytes", "macs", "gmacs_per_s", "artifact_sha256", "timestamp",
)  # fmt: skip


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def results_table(records: list[BenchRecord], title: str = "") -> Table:
    """One row per record; noisy runs (CV above threshold) are flagged in red."""
    table = Table(title=title or None)
    for name, justify in (
        ("model", "left"), ("target", "left"), ("backend", "left"), ("fft", "left"), ("threads", "right"),
        ("p50 ms", "right"), ("p90 ms", "right"), ("mean ± std ms", "right"), ("CV", "right"),
        ("load ms", "right"), ("first ms", "right"), ("GMAC/s", "right"), ("RSS", "right"),
    ):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in records:
        s = r.stats
        cv = f"[bold red]{s.cv:.1%} noisy[/]" if s.noisy else f"{s.cv:.1%}"
        table.add_row(
            r.model, r.target, r.backend, r.fft, str(r.threads), _ms(s.p50), _ms(s.p90),
            f"{s.mean:.2f} ± {s.std:.2f}", cv, _ms(r.load_ms), _ms(r.first_inference_ms),
            "-" if r.gmacs_per_s is None else f"{r.gmacs_per_s:.2f}", _mib(r.peak_rss_growth_bytes),
        )  # fmt: skip
    return table


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` unclipped: a pipe or CI log gets the table's natural width, not 80 columns."""
    if console.is_terminal:
        console.print(table)
        return
    saved = console.width
    console.width = max(saved, console.measure(table, options=console.options.update_width(1000)).maximum)
    try:
        console.print(table)
    finally:
        console.width = saved


def csv_row(r: BenchRecord) -> dict[str, Any]:
    s = r.stats
    return {
        "model": r.model, "target": r.target, "backend": r.backend, "fft": r.fft, "threads": r.threads,
        "precision": r.precision, "image_size": r.image_size, "device": r.device.name,
        "device_kind": r.device.kind, "runner": r.runner, "count": s.count, "warmup": r.warmup,
        "min_ms": s.min, "p50_ms": s.p50, "p90_ms": s.p90, "p99_ms": s.p99, "mean_ms": s.mean,
        "std_ms": s.std, "trimmed_mean_ms": s.trimmed_mean, "cv": s.cv,
        "median_ci95_low_ms": s.median_ci95[0], "median_ci95_high_ms": s.median_ci95[1],
        "noisy": s.noisy, "load_ms": r.load_ms, "first_inference_ms": r.first_inference_ms,
        "peak_rss_growth_bytes": r.peak_rss_growth_bytes, "macs": r.macs, "gmacs_per_s": r.gmacs_per_s,
        "artifact_sha256": r.artifact_sha256, "timestamp": r.timestamp,
    }  # fmt: skip


def to_csv(records: list[BenchRecord]) -> str:
    """Summary statistics, one row per record (raw samples stay in the JSON file)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(csv_row(record))
    return buffer.getvalue()


def to_json(records: list[BenchRecord]) -> str:
    return json.dumps(dump_results(records), indent=2) + "\n"


def write_results(records: list[BenchRecord], path: Path) -> Path:
    """Write the JSON results document atomically."""
    return atomic_write_text(path, to_json(records))


def write_csv(records: list[BenchRecord], path: Path) -> Path:
    """Write the CSV summary atomically."""
    return atomic_write_text(path, to_csv(records))
