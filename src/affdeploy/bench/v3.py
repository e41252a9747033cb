"""Benchmark records in the PyTorch benchmark database's v3 format (the one ExecuTorch's dashboards read).

One v3 record per metric per configuration: ``benchmark`` (name, mode, dtype, extra_info), ``model`` (name,
type, backend, extra_info), ``metric`` (name, benchmark_values, target_value, extra_info) and ``runners``
(name, type, cpu_info, cpu_count, avail_mem_in_gb, extra_info), plus ``schema_version`` and ``timestamp``.
Field names and the metric names' "(ms)" style follow the public v3 uploaders of PyTorch and ExecuTorch, so
results can go into the dashboards people already use.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from affdeploy.bench.schema import BenchRecord
from affdeploy.errors import UsageError
from affdeploy.fsutil import atomic_write_text, ensure_writable_dir

SCHEMA_VERSION = "v3"
BENCHMARK_NAME = "affdeploy"
V3_FIELDS = {
    "benchmark": ("name", "mode", "dtype", "extra_info"),
    "model": ("name", "type", "backend", "extra_info"),
    "metric": ("name", "benchmark_values", "target_value", "extra_info"),
    "runner": ("name", "type", "cpu_info", "cpu_count", "avail_mem_in_gb", "extra_info"),
}
"""The fields every record here carries, by part (a runner is one item of ``runners``)."""


def _metrics(r: BenchRecord) -> dict[str, float | None]:
    """What a dashboard plots, in the uploaders' naming; a value the run did not measure is left out."""
    return {
        "median_inference_latency(ms)": r.stats.p50,
        "avg_inference_latency(ms)": r.stats.mean,
        "p90_inference_latency(ms)": r.stats.p90,
        "model_load_time(ms)": r.load_ms,
        "first_inference_latency(ms)": r.first_inference_ms,
        "peak_rss_growth(mb)": None if r.peak_rss_growth_bytes is None else r.peak_rss_growth_bytes / 2**20,
        "gmacs_per_s": r.gmacs_per_s,
    }


def _timestamp(r: BenchRecord) -> int:
    try:
        return int(datetime.fromisoformat(r.timestamp).timestamp())
    except ValueError:  # a record without a time (a hand-made file): the epoch says "unknown"
        return 0


def _runner(r: BenchRecord) -> dict[str, Any]:
    d = r.device
    return {
        "name": d.name or d.model,
        "type": d.os,
        "cpu_info": d.cpu or d.soc,
        "cpu_count": d.cores,
        "avail_mem_in_gb": round(d.memory_bytes / 2**30, 2),
        "extra_info": {"kind": d.kind, "model": d.model, "manufacturer": d.manufacturer, "soc": d.soc, "abi": d.abi},
    }


def to_v3(records: list[BenchRecord]) -> list[dict[str, Any]]:
    """Every record's measured metrics as v3 rows (the per-iteration samples ride along with the median)."""
    rows = []
    for r in records:
        common = {
            "schema_version": SCHEMA_VERSION,
            "timestamp": _timestamp(r),
            "name": BENCHMARK_NAME,
            "benchmark": {
                "name": BENCHMARK_NAME, "mode": "inference", "dtype": r.precision,
                "extra_info": {"fft": r.fft, "threads": r.threads, "image_size": r.image_size, "runner": r.runner,
                               "warmup": r.warmup, "iterations": r.stats.count, "noisy": r.stats.noisy,
                               "notes": list(r.notes)},
            },
            "model": {
                "name": r.model, "type": "user model" if r.model_sha256 else "AFFNet",
                "backend": f"{r.target}-{r.backend}",
                "extra_info": {"target": r.target, "artifact_sha256": r.artifact_sha256, "model_sha256": r.model_sha256,
                               "macs": r.macs, "tools": dict(r.tools)},
            },
            "runners": [_runner(r)],
        }
        for name, value in _metrics(r).items():
            if value is None:
                continue
            extra: dict[str, Any] = {}
            if name == "median_inference_latency(ms)":
                extra = {"samples_ms": list(r.samples_ms), "median_ci95": list(r.stats.median_ci95), "cv": r.stats.cv}
            rows.append({**common, "metric": {"name": name, "benchmark_values": [float(value)], "target_value": None,
                                              "extra_info": extra}})
    return rows


def write_v3(records: list[BenchRecord], out_dir: Path, stem: str) -> Path:
    """``<out_dir>/<stem>.v3.json``: the rows of :func:`to_v3` as one JSON list, written atomically."""
    if not records:
        raise UsageError("the results contain no records to report on")
    ensure_writable_dir(out_dir)
    return atomic_write_text(out_dir / f"{stem}.v3.json", json.dumps(to_v3(records), indent=1) + "\n")
