"""Headline host benchmark: AFFNet variants in eager PyTorch, ONNX Runtime and ExecuTorch, one run.

Reproduces the comparison quoted in the README on this machine, side by side, single thread:
  - eager PyTorch with the native FFT (the baseline),
  - ONNX Runtime (CPU provider) with its native DFT op and with affdeploy's DFT lowering,
  - ExecuTorch with XNNPACK (DFT lowering, delegate-friendly graph),
for affnet-et, affnet-t and affnet, all in interleaved rounds so machine noise falls on all alike.
It also measures this machine's fp32 GEMM throughput (single-thread torch.mm) in the same run, the
yardstick for the goal: AFFNet-T in ExecuTorch reaches >= 30% of it and beats eager PyTorch.

Writes <out>/host.json (results schema), host.md (machine, goal check, table) and host_*.png.

    .venv/bin/python benchmarks/bench_host.py [--models affnet-et,affnet-t,affnet] [--iters 30] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

from affdeploy.bench.engine import measure, plan
from affdeploy.bench.output import write_results
from affdeploy.bench.report import render_report
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, load_results

GOAL_FRACTION = 0.30  # of the machine's fp32 GEMM MAC/s
GOAL_MODEL = "affnet-t"


def gemm_gmacs_per_s(size: int = 1024, threads: int = 1, seconds: float = 2.0) -> float:
    """Best-of-repeats fp32 MAC/s of a size^3 torch.mm, the machine's practical dense peak."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    for _ in range(3):
        torch.mm(a, b, out=out)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter_ns() - start) / 1e9)
    return size**3 / best / 1e9


def _progress(text: str, fraction: float) -> None:
    print(f"[{fraction:5.1%}] {text}", flush=True)


def goal_lines(records: list[BenchRecord], gemm: float) -> tuple[list[str], dict[str, object]]:
    """Markdown lines and a JSON summary of the performance goal, stated honestly either way."""
    et = next((r for r in records if r.model == GOAL_MODEL and r.target == "executorch"), None)
    eager = next((r for r in records if r.model == GOAL_MODEL and r.target == "torch"), None)
    if et is None or eager is None or not et.gmacs_per_s:
        return [f"Goal not evaluated: {GOAL_MODEL} was not measured in ExecuTorch and eager PyTorch."], {}
    fraction = et.gmacs_per_s / gemm
    speedup = eager.stats.p50 / et.stats.p50
    ok_fraction, ok_speed = fraction >= GOAL_FRACTION, speedup > 1.0
    summary = {
        "gemm_gmacs_per_s": gemm,
        "executorch_gmacs_per_s": et.gmacs_per_s,
        "fraction_of_gemm": fraction,
        "speedup_over_eager": speedup,
        "goal_fraction_met": ok_fraction,
        "goal_faster_than_eager_met": ok_speed,
    }
    lines = [
        f"fp32 GEMM yardstick (torch.mm 1024x1024, 1 thread, best of repeats, same run): **{gemm:.2f} GMAC/s**.",
        "",
        f"- {GOAL_MODEL} ExecuTorch/{et.backend} ({et.fft}): p50 {et.stats.p50:.2f} ms, {et.gmacs_per_s:.2f} GMAC/s = "
        f"**{fraction:.1%} of GEMM** (goal >= {GOAL_FRACTION:.0%}: {'met' if ok_fraction else 'NOT met'})",
        f"- vs eager PyTorch with native FFT: p50 {eager.stats.p50:.2f} ms -> **{speedup:.2f}x faster** "
        f"(goal > 1x: {'met' if ok_speed else 'NOT met'})",
        "",
    ]
    return lines, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="affnet-et,affnet-t,affnet")
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--note", default="", help="context of this run for host.md, e.g. other load on the machine")
    parser.add_argument("--render-only", action="store_true", help="re-render host.md/PNGs from <out>/host.json, no measuring")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.render_only:
        records = load_results(args.out / "host.json")
        write(records, float(records[0].device.extra["fp32_gemm_gmacs_per_s_1t"]), args)
        return

    def request(fft: str) -> BenchRequest:
        return BenchRequest(
            models=args.models.split(","), fft=fft, threads=[1], warmup=args.warmup, iters=args.iters,
            image_size=args.image_size, models_dir=args.models_dir,
        )  # fmt: skip

    native, dft = request("native"), request("dft")
    configs = plan(native, ["torch", "onnx"], _progress) + plan(dft, ["onnx", "executorch"], _progress)
    gemm_before = gemm_gmacs_per_s()
    records = measure(configs, native, _progress)
    gemm = max(gemm_before, gemm_gmacs_per_s())  # the more favourable yardstick is the stricter goal
    for record in records:
        record.device.extra["fp32_gemm_gmacs_per_s_1t"] = gemm
    write(records, gemm, args)


def write(records: list[BenchRecord], gemm: float, args: argparse.Namespace) -> None:
    """host.json, host.md with the goal check, and the plots; records ordered by model, then runtime."""
    models = args.models.split(",")
    order = ("torch", "onnx", "executorch")
    records = sorted(records, key=lambda r: (models.index(r.model) if r.model in models else 99, order.index(r.target), r.fft != "native"))
    lines, summary = goal_lines(records, gemm)
    write_results(records, args.out / "host.json")
    command = f"benchmarks/bench_host.py --models {args.models} --iters {args.iters} --image-size {args.image_size}"
    preamble = (f"Reproduce: `.venv/bin/python {command}` (one process, one thread, interleaved rounds).", "", *lines)
    if args.note:
        preamble += (f"Note: {args.note}", "")
    files = render_report(records, args.out, "host", title="Host benchmark: AFFNet on this machine", preamble=preamble)
    print("\n".join(lines))
    print(json.dumps(summary, indent=2))
    print("wrote", args.out / "host.json", *map(str, files))


if __name__ == "__main__":
    main()
