"""How a profile is shown: one table with a column per runtime, the JSON document, the stacked-bar PNG."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from affdeploy.bench.profile.model import FFT_STAGES, UNMAPPED, RuntimeProfile
from affdeploy.fsutil import atomic_write_bytes, atomic_write_text

SCHEMA = "affdeploy.profile/v1"
OTHER = "(other modules)"


def column_name(profile: RuntimeProfile) -> str:
    return f"{profile.target} ({profile.backend})" if profile.backend else str(profile.target)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _share(ms: float | None, total: float) -> str:
    if ms is None:
        return "-"
    return f"{_ms(ms)} ({ms / total:.0%})" if total > 0 else _ms(ms)


def _ratio(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.0%}" if signed else f"{value:.0%}"


def module_order(profiles: list[RuntimeProfile], depth: int) -> list[str]:
    """Module rows across runtimes, costliest (on any runtime) first, the unmapped row last."""
    peak: dict[str, float] = {}
    for profile in profiles:
        for name, ms in profile.by_module(depth).items():
            peak[name] = max(peak.get(name, 0.0), ms)
    names = sorted((n for n in peak if n != UNMAPPED), key=lambda n: -peak[n])
    return names + ([UNMAPPED] if UNMAPPED in peak else [])


def side_by_side(profiles: list[RuntimeProfile], depth: int, title: str = "") -> Table:
    """Cold start, totals, then one row per module and per FFT stage, one column per runtime."""
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for profile in profiles:
        table.add_column(column_name(profile), justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("load (ms)", [_ms(p.load_ms) for p in profiles]),
        ("first inference (ms)", [_ms(p.first_ms) for p in profiles]),
        ("warm median, bench (ms)", [_ms(p.warm_ms) for p in profiles]),
        ("unprofiled median, alternated (ms)", [_ms(p.reference_ms) for p in profiles]),
        ("profiled run median (ms)", [_ms(p.profiled_ms) for p in profiles]),
        ("profiler overhead", [_ratio(p.overhead, signed=True) for p in profiles]),
        ("sum of op medians (ms)", [_ms(p.op_total_ms) if p.ops else "-" for p in profiles]),
        ("sum / unprofiled median", [_ratio(p.agreement) for p in profiles]),
        ("time mapped to modules", [_ratio(p.mapped_share) for p in profiles]),
    ]
    for label, cells in rows:
        table.add_row(label, *cells)
    table.add_section()
    per_module = [p.by_module(depth) for p in profiles]
    for name in module_order(profiles, depth):
        table.add_row(name, *[_share(m.get(name), p.op_total_ms) if p.ops else "n/a"
                              for m, p in zip(per_module, profiles, strict=True)])
    stages = [p.by_stage() for p in profiles]
    if any(stages):
        table.add_section()
        for stage in FFT_STAGES:
            table.add_row(f"FFT pass: {stage}", *[_share(s.get(stage), p.op_total_ms) if p.ops else "n/a"
                                                  for s, p in zip(stages, profiles, strict=True)])
    return table


def top_ops_table(profiles: list[RuntimeProfile], count: int) -> Table:
    """The ``count`` costliest ops of each runtime: where they ran, their module, MACs throughput."""
    table = Table(title=f"top {count} ops per runtime", title_justify="left")
    for name, justify in (("runtime", "left"), ("op", "left"), ("kind", "left"), ("ran on", "left"),
                          ("module", "left"), ("ms", "right"), ("share", "right"), ("GMAC/s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for profile in profiles:
        total = profile.op_total_ms
        for op in profile.top_ops(count):
            rate = op.gmacs_per_s
            table.add_row(column_name(profile), op.name, op.kind, op.where,
                          op.module if op.module is not None else UNMAPPED, _ms(op.ms),
                          _ratio(op.ms / total if total else None), "-" if rate is None else f"{rate:.1f}")
        table.add_section()
    return table


def notes(profiles: list[RuntimeProfile]) -> list[str]:
    """Per runtime: how exact its module mapping is, and why per-op times are missing where they are."""
    lines = []
    for profile in profiles:
        name = column_name(profile)
        if profile.per_op:
            lines.append(f"{name}: per-op times {profile.per_op}")
        else:
            lines.append(f"{name}: module mapping {profile.mapping}")
        lines += [f"{name}: {note}" for note in profile.notes]
    return lines


def document(profiles: list[RuntimeProfile], context: dict[str, Any], depth: int) -> dict[str, Any]:
    return {"schema": SCHEMA, **context, "depth": depth, "runtimes": [p.to_dict(depth) for p in profiles]}


def write_json(data: dict[str, Any], path: Path) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_png(profiles: list[RuntimeProfile], depth: int, path: Path, title: str, shown: int = 10) -> Path:
    """Stacked bars, one per runtime with per-op times: the ``shown`` costliest modules, the rest, unmapped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [p for p in profiles if p.ops]
    order = [n for n in module_order(measured, depth) if n != UNMAPPED]
    segments = [*order[:shown], *([OTHER] if len(order) > shown else []), UNMAPPED]
    figure, axes = plt.subplots(figsize=(2.2 * max(len(measured), 1) + 4.5, 5.5))
    bottoms = [0.0] * len(measured)
    colours = plt.get_cmap("tab20")
    for index, segment in enumerate(segments):
        heights = []
        for profile in measured:
            modules = profile.by_module(depth)
            heights.append(sum(ms for n, ms in modules.items() if n not in order[:shown] and n != UNMAPPED)
                           if segment == OTHER else modules.get(segment, 0.0))
        colour = "lightgrey" if segment == UNMAPPED else colours(index % 20)
        axes.bar([column_name(p) for p in measured], heights, bottom=bottoms, label=segment, color=colour,
                 hatch="//" if segment == UNMAPPED else None)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_ylabel("ms per inference (sum of per-op medians)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
