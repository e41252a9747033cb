"""Reports over results files: comparison plots, a markdown table, and regression checks for CI.

Plots use matplotlib's Agg backend (no display needed) and are written atomically, like every
other output. A regression is only called when the slowdown exceeds the threshold, the bootstrap
intervals of the two medians do not overlap, AND the slowdown exceeds the noise floor between runs:
the bootstrap interval only covers noise within one run, while two runs of the same command on a
shared machine can differ by tens of percent. A change past the first two tests but within the
floor is reported as "too noisy to tell" and does not fail CI.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affdeploy.bench.schema import KEY_FIELDS, BenchRecord, Key, record_key
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.fsutil import atomic_write_bytes, atomic_write_text, ensure_writable_dir

BASELINE = ("torch", "native")  # eager PyTorch with torch.fft: what every speedup is relative to
NOISE_FLOOR = 0.25
"""Default ``compare --noise-floor``. In the committed benchmarks/results/runtimes.json, re-measured on a quiet
machine (load < 1.5, commits 7c0b138 and 7160e2d), 17 of 18 eager, ExecuTorch and LiteRT medians moved by at most
6% between runs; on a loaded machine (load 4-7, bf6aceb vs e8ff525) they moved by up to 77%. 25% is four times
the quiet spread and still calls a 1.3x slowdown; a run's own drift (``drift``) raises it when the machine was busy."""
DRIFT_SEGMENTS = 5  # consecutive stretches of a run's samples whose medians ``drift`` compares
TOO_NOISY = "too noisy to tell"


def label(r: BenchRecord, *, with_device: bool = False) -> str:
    text = f"{r.model}@{r.image_size} {r.target}/{r.backend} fft={r.fft} {r.threads}t"
    return f"{text} @{r.device.name}" if with_device else text


def spread(r: BenchRecord) -> tuple[float, float]:
    """p10 and p90 of the raw samples (the median CI when a record carries no samples)."""
    if r.samples_ms:
        low, high = np.percentile(np.asarray(r.samples_ms), [10, 90])
        return float(low), float(high)
    return r.stats.median_ci95


def _without(key: Key, *names: str) -> tuple[object, ...]:
    return tuple(v for name, v in zip(KEY_FIELDS, key, strict=True) if name not in names)


def baseline_for(r: BenchRecord, records: Iterable[BenchRecord]) -> BenchRecord | None:
    """The eager-PyTorch native-FFT record of the same model, threads, image size and hardware, if measured."""
    runtime = ("target", "backend", "fft", "precision")
    mine = _without(record_key(r), *runtime)
    for other in records:
        if (other.target, other.fft) == BASELINE and _without(record_key(other), *runtime) == mine:
            return other
    return None


def fft_pairs(records: list[BenchRecord]) -> list[tuple[BenchRecord, BenchRecord]]:
    """(native, dft) records that differ only in FFT handling."""
    by_rest = {_without(record_key(r), "fft"): r for r in records if r.fft == "dft"}
    return [(r, by_rest[rest]) for r in records if r.fft == "native" and (rest := _without(record_key(r), "fft")) in by_rest]


def _save(fig: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return atomic_write_bytes(path, buffer.getvalue())


def _pyplot():  # noqa: ANN202 - matplotlib's module type
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_latency(records: list[BenchRecord], path: Path, with_device: bool) -> Path:
    """Median latency per configuration, error bars from p10 to p90."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(records) + 1.5))
    p50 = [r.stats.p50 for r in records]
    low, high = zip(*(spread(r) for r in records), strict=True)
    errors = [[max(0.0, m - lo) for m, lo in zip(p50, low, strict=True)],
              [max(0.0, hi - m) for m, hi in zip(p50, high, strict=True)]]
    ys = np.arange(len(records))
    ax.barh(ys, p50, xerr=errors, color=[_COLORS.get(r.target, "grey") for r in records], capsize=3)
    ax.set_yticks(ys, [label(r, with_device=with_device) for r in records])
    ax.invert_yaxis()
    ax.set_xlabel("latency, ms (bar: p50, whiskers: p10-p90)")
    ax.set_title("Latency per configuration")
    return _save(fig, path)


def plot_fft(pairs: list[tuple[BenchRecord, BenchRecord]], path: Path, with_device: bool) -> Path:
    """Native FFT vs DFT lowering, side by side per configuration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(pairs) + 1.5))
    ys = np.arange(len(pairs))
    ax.barh(ys - 0.2, [n.stats.p50 for n, _ in pairs], height=0.4, label="native FFT", color="#d62728")
    ax.barh(ys + 0.2, [d.stats.p50 for _, d in pairs], height=0.4, label="DFT lowering", color="#2ca02c")
    names = [label(n, with_device=with_device).replace(" fft=native", "") for n, _ in pairs]
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlabel("p50 latency, ms")
    ax.set_title("Native FFT vs DFT lowering")
    ax.legend()
    return _save(fig, path)


def plot_speedups(rows: list[tuple[BenchRecord, float]], path: Path, with_device: bool) -> Path:
    """Speedup of every configuration over eager PyTorch with the native FFT."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    ys = np.arange(len(rows))
    ax.barh(ys, [s for _, s in rows], color=[_COLORS.get(r.target, "grey") for r, _ in rows])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(ys, [label(r, with_device=with_device) for r, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("speedup over eager PyTorch with native FFT (p50 ratio)")
    ax.set_title("Speedups")
    return _save(fig, path)


_COLORS = {"torch": "#7f7f7f", "onnx": "#1f77b4", "executorch": "#ff7f0e", "coreml": "#9467bd"}


def markdown_table(records: list[BenchRecord]) -> str:
    """One row per record with the statistics a reader compares, plus speedup over the baseline."""
    lines = [
        "| device | model | target | backend | fft | threads | p50 ms | p90 ms | mean ± std ms | CV | median 95% CI ms | "
        "load ms | first ms | GMAC/s | peak RSS MiB | speedup vs eager |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        s = r.stats
        base = baseline_for(r, records)
        speedup = f"{base.stats.p50 / s.p50:.2f}x" if base is not None and s.p50 > 0 else "-"
        cv = f"{s.cv:.1%}" + (" (noisy)" if s.noisy else "")
        lines.append(
            f"| {r.device.name} | {r.model} | {r.target} | {r.backend} | {r.fft} | {r.threads} | {s.p50:.2f} | "
            f"{s.p90:.2f} | {s.mean:.2f} ± {s.std:.2f} | {cv} | {s.median_ci95[0]:.2f}-{s.median_ci95[1]:.2f} | "
            f"{_num(r.load_ms)} | {_num(r.first_inference_ms)} | {_num(r.gmacs_per_s)} | "
            f"{'-' if r.peak_rss_growth_bytes is None else f'{r.peak_rss_growth_bytes / 2**20:.1f}'} | {speedup} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def device_lines(records: list[BenchRecord]) -> list[str]:
    """A markdown bullet per distinct device: what the numbers were measured on."""
    seen: dict[str, str] = {}
    for r in records:
        d = r.device
        memory = f", {d.memory_bytes / 2**30:.0f} GiB" if d.memory_bytes else ""
        tools = ", ".join(f"{k} {v}" for k, v in r.tools.items())
        seen.setdefault(d.name,
                        f"- **{d.name}** ({d.kind}): {d.cpu or d.soc or d.model}, {d.cores} cores{memory}, {d.os}; {tools}")
    return list(seen.values())


def render_report(
    records: list[BenchRecord], out_dir: Path, stem: str = "report", *, title: str = "affdeploy benchmark report",
    preamble: tuple[str, ...] = ()
) -> list[Path]:
    """Write ``<stem>_latency.png`` (+ ``_fft.png``, ``_speedup.png`` when there is something to show) and ``<stem>.md``.

    ``preamble`` lines (markdown) go between the title and the device description.
    """
    if not records:
        raise UsageError("the results contain no records to report on")
    ensure_writable_dir(out_dir)
    with_device = len({r.device.name for r in records}) > 1
    written = [plot_latency(records, out_dir / f"{stem}_latency.png", with_device)]
    pairs = fft_pairs(records)
    if pairs:
        written.append(plot_fft(pairs, out_dir / f"{stem}_fft.png", with_device))
    speedups = [(r, b.stats.p50 / r.stats.p50) for r in records if (b := baseline_for(r, records)) and r.stats.p50 > 0]
    if speedups:
        written.append(plot_speedups(speedups, out_dir / f"{stem}_speedup.png", with_device))
    text = [f"# {title}", "", *preamble, "Measured on:", "", *device_lines(records), "", markdown_table(records)]
    text += [f"![{p.stem}]({p.name})" for p in written]
    written.append(atomic_write_text(out_dir / f"{stem}.md", "\n".join(text) + "\n"))
    return written


def drift(r: BenchRecord) -> float:
    """How far the medians of consecutive stretches of a run's samples lie apart, relative to its p50.

    Samples are kept in the order they were timed, in interleaved rounds, so consecutive stretches are
    short sessions minutes apart: their spread is the part of the between-run noise one run can see
    (load or clock changes while it ran). It cannot see what differs only between runs.
    """
    segments = min(DRIFT_SEGMENTS, len(r.samples_ms) // 3)
    if segments < 2 or r.stats.p50 <= 0:
        return 0.0
    medians = [float(np.median(part)) for part in np.array_split(np.asarray(r.samples_ms), segments)]
    return (max(medians) - min(medians)) / r.stats.p50


@dataclass
class Comparison:
    """One configuration present in both runs."""

    key: Key
    base_p50: float
    new_p50: float
    change: float  # new / base - 1
    noise_floor: float  # the larger of --noise-floor and both runs' drift
    verdict: str  # regression | improvement | unchanged | too noisy to tell

    def to_dict(self) -> dict[str, object]:
        return {**dict(zip(KEY_FIELDS, self.key, strict=True)), "base_p50_ms": self.base_p50,
                "new_p50_ms": self.new_p50, "change": self.change, "noise_floor": self.noise_floor,
                "verdict": self.verdict}


def _nothing_matched(base: list[Key], new: list[Key], names: tuple[str, str]) -> AffdeployError:
    """Why no configuration matched: the fields in which the closest pair of records differs."""
    for keys, name in ((base, names[0]), (new, names[1])):
        if not keys:
            return AffdeployError(f"nothing to compare: {name} holds no benchmark records")
    b, n = max(((b, n) for b in base for n in new), key=lambda pair: sum(x == y for x, y in zip(*pair, strict=True)))
    differ = ", ".join(f"{field} ({x} vs {y})" for field, x, y in zip(KEY_FIELDS, b, n, strict=True) if x != y)
    return AffdeployError(f"nothing to compare: no configuration of {names[1]} matches one of {names[0]}; "
                          f"the closest pair differs in {differ}", hint="compare runs of the same configurations")


def _verdict(b: BenchRecord, n: BenchRecord, threshold: float, floor: float) -> str:
    """regression / improvement only beyond the threshold, both bootstrap intervals and the noise floor."""
    bs, ns = b.stats, n.stats
    slower = ns.p50 > bs.p50 * (1 + threshold) and ns.median_ci95[0] > bs.median_ci95[1]
    faster = ns.p50 * (1 + threshold) < bs.p50 and ns.median_ci95[1] < bs.median_ci95[0]
    if not (slower or faster):
        return "unchanged"
    high, low = (ns.p50, bs.p50) if slower else (bs.p50, ns.p50)
    if low > 0 and high / low - 1 <= floor:
        return TOO_NOISY
    return "regression" if slower else "improvement"


def compare_records(base: list[BenchRecord], new: list[BenchRecord], threshold: float = 0.10,
                    names: tuple[str, str] = ("base", "new"),
                    noise_floor: float = NOISE_FLOOR) -> tuple[list[Comparison], list[Key], list[Key]]:
    """Match configurations and judge each; also return keys only in base and only in new.

    Regression: new p50 > base p50 x (1 + threshold), the new median's 95% interval lies entirely
    above the base's, and the slowdown exceeds the noise floor (``noise_floor`` or either run's
    ``drift``, whichever is larger); past the first two but within the floor it is "too noisy to
    tell". Improvement is the mirror image. Anything else is unchanged. No configuration in
    common is an error: a CI gate that compares nothing must not pass.
    """
    for option, value in (("--threshold", threshold), ("--noise-floor", noise_floor)):
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"{option} must be a number >= 0, got {value}")
    base_by = {record_key(r): r for r in base}
    new_by = {record_key(r): r for r in new}
    rows = []
    for key, b in base_by.items():
        n = new_by.get(key)
        if n is None:
            continue
        floor = max(noise_floor, drift(b), drift(n))
        change = n.stats.p50 / b.stats.p50 - 1 if b.stats.p50 else 0.0
        rows.append(Comparison(key, b.stats.p50, n.stats.p50, change, floor, _verdict(b, n, threshold, floor)))
    if not rows:
        raise _nothing_matched(list(base_by), list(new_by), names)
    only_base = [k for k in base_by if k not in new_by]
    only_new = [k for k in new_by if k not in base_by]
    return rows, only_base, only_new
