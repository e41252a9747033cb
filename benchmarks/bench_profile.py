"""Does ``affdeploy profile`` account for the time ``bench`` measures, and where does AFFNet-T's time go?

Profiles AFFNet-T (256 px, 1 thread) on the host through ExecuTorch (XNNPACK), ONNX Runtime and LiteRT
with :func:`affdeploy.bench.profile.host.profile_host`, the code behind ``affdeploy profile``: bench's
engine gives load, first inference and the unprofiled warm median; the profilers give per-op medians.
The claim checked: the sum of per-op medians is within 15% of the unprofiled median of the same artifact
(bench's session, its runs taken in turn with the profiled ones, so machine load falls on both alike), and
the profiler's overhead (profiled wall-time median over the unprofiled one) is stated. The
per-module table is docs/profile.md's worked example.

Writes benchmarks/results/profile.{json,md}.

    .venv/bin/python benchmarks/bench_profile.py [--image-size 256] [--iters 30] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import part, save  # noqa: E402

from affdeploy.bench.profile.host import profile_host  # noqa: E402
from affdeploy.bench.profile.model import FFT_STAGES, RuntimeProfile  # noqa: E402
from affdeploy.bench.profile.report import column_name, document, module_order  # noqa: E402
from affdeploy.bench.request import BenchRequest  # noqa: E402

NAME = "profile"
MEASURES = ("src/affdeploy/bench/profile", "src/affdeploy/bench/engine.py", "src/affdeploy/fft/lower.py",
            "src/affdeploy/export/executorch.py", "src/affdeploy/export/onnx.py")
PUBLISHED_ARGS = ("--image-size", "256", "--iters", "30")
MINUTES = 12
DEPTH = 2
BLOCK = "layer_4.1.global_rep.0"  # one AFF block of the last AFF stage, shown module by module
TOLERANCE = 0.15


def measure(image_size: int, iters: int, models_dir: Path) -> tuple[list[RuntimeProfile], dict[str, Any]]:
    request = BenchRequest(models=["affnet-t"], targets=["executorch,onnx,tflite"], threads=[1], warmup=5,
                           iters=iters, image_size=image_size, models_dir=models_dir)
    profiles = profile_host(request, lambda message, fraction=None: print(message, file=sys.stderr))
    context = {"model": "affnet-t", "image_size": image_size, "threads": 1, "iters": iters,
               "load_average_1min": round(os.getloadavg()[0], 2)}
    return profiles, document(profiles, context, DEPTH)


def _cell(ms: float | None, total: float) -> str:
    return "-" if ms is None else f"{ms:.2f} ({ms / total:.0%})" if total else f"{ms:.2f}"


def markdown(profiles: list[RuntimeProfile], data: dict[str, Any]) -> str:
    measured = [p for p in profiles if p.ops]
    head = "| | " + " | ".join(column_name(p) for p in profiles) + " |"
    rule = "|---" * (len(profiles) + 1) + "|"
    totals = [
        ("load (ms)", [f"{p.load_ms:.1f}" if p.load_ms else "-" for p in profiles]),
        ("first inference (ms)", [f"{p.first_ms:.1f}" if p.first_ms else "-" for p in profiles]),
        ("warm median, bench (ms)", [f"{p.warm_ms:.2f}" if p.warm_ms else "-" for p in profiles]),
        ("unprofiled median, alternated with the profiled runs (ms)",
         [f"{p.reference_ms:.2f}" if p.reference_ms else "n/a" for p in profiles]),
        ("sum of per-op medians (ms)", [f"{p.op_total_ms:.2f}" if p.ops else "n/a" for p in profiles]),
        ("sum / unprofiled median", [f"{p.agreement:.0%}" if p.agreement else "n/a" for p in profiles]),
        ("profiler overhead", [f"{p.overhead:+.0%}" if p.overhead is not None else "n/a" for p in profiles]),
        ("time mapped to modules", [f"{p.mapped_share:.0%}" if p.mapped_share is not None else "n/a"
                                    for p in profiles]),
    ]
    modules = [(name, [_cell(p.by_module(DEPTH).get(name), p.op_total_ms) if p.ops else "n/a" for p in profiles])
               for name in module_order(measured, DEPTH)]
    stages = [(f"FFT pass: {stage}", [_cell(p.by_stage().get(stage), p.op_total_ms) if p.ops else "n/a"
                                      for p in profiles]) for stage in FFT_STAGES]
    table = "\n".join([head, rule, *(f"| {label} | " + " | ".join(cells) + " |"
                                     for label, cells in (*totals, *modules, *stages))])
    inside = [(name, [_cell(p.by_module(6).get(name), p.op_total_ms) if p.ops else "n/a" for p in profiles])
              for name in module_order(measured, 6) if name.startswith(BLOCK)]
    block = "\n".join([head, rule, *(f"| {label} | " + " | ".join(cells) + " |" for label, cells in inside)])
    within = [abs(p.agreement - 1) <= TOLERANCE for p in measured if p.agreement]
    verdict = (f"sum of per-op medians within {TOLERANCE:.0%} of the unprofiled median: "
               f"{sum(within)} of {len(within)} runtimes with per-op times "
               f"(1-min load average {data['load_average_1min']} on 2 cores)")
    return "\n".join([
        "# affdeploy profile: AFFNet-T on the host", "",
        (f"AFFNet-T at {data['image_size']} px, 1 thread, {data['iters']} timed iterations; module rows at depth "
         f"{DEPTH}; the share is of that runtime's sum of per-op medians."), "",
        part("table", table), "", part("agreement", verdict), "",
        f"One AFF block ({BLOCK}), module by module:", "", part("block", block), "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--models-dir", type=Path, default=None, help="reuse exports kept here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        profiles, data = measure(args.image_size, args.iters, args.models_dir or Path(tmp))
    _, md = save(NAME, data, markdown(profiles, data), script=__file__, measures=MEASURES, out=args.out)
    print(md.read_text())


if __name__ == "__main__":
    main()
