"""Why LiteRT runs AFFNet's lowered graph a few percent faster than the ExecuTorch .pte: probes.

Both runtimes execute the same program through XNNPACK: the .pte through ExecuTorch's XNNPACK
delegate, the .tflite (litert-torch conversion of the same program) through LiteRT's. A profile of
AFFNet-ET at 1 thread (perf, same number of calls) puts the same CPU time in the same microkernels
in both (f32 GEMM 7x32/7x16 avx512f, sigmoid, 9p16c depthwise, transposes); what differs is the
work around them on every call. ExecuTorch 1.5.1's ``XNNExecutor`` calls ``xnn_reshape_runtime``
(every operator re-planned: tiles, indirection buffers, workspace) and ``xnn_setup_runtime_v2`` on
each ``execute``, and the pip wheel is built with the event tracer, which turns on
``XNN_FLAG_BASIC_PROFILING`` (a clock read per operator); LiteRT reshapes only when a shape changes.

Tiny probe programs, exported both ways and timed interleaved in one process, isolate that cost:

- ``dispatch``: 500 elementwise ops on 8 floats (no arithmetic to speak of): the fixed cost per
  operator per call, minus the one-op program's cost, divided by 500;
- ``pointwise`` / ``depthwise`` / ``sigmoid``: 10 identical layers at AFFNet-like sizes, each
  running the same XNNPACK microkernel in both runtimes (perf: ``f32_gemm 7x32 avx512f``,
  ``f32_dwconv 9p16c avx512f``, ``f32_vsigmoid avx512f``). A ratio away from 1.00x is the library
  around the kernel: with the same 2000 depthwise calls perf counts 8% more samples inside the
  dwconv kernel and 43% more in the layout transposes under ExecuTorch's XNNPACK than under LiteRT's.

No graph rewrite on our side can remove a per-call cost the runtime adds to every operator; fewer
operators make it smaller.

Writes <out>/xnnpack_probes.json and <out>/xnnpack_probes.md (part ``summary``: what docs/bench.md quotes).

    .venv/bin/python benchmarks/bench_xnnpack_probes.py [--threads 1,2] [--rounds 12] [--per-round 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from affdeploy.bench.openmp import sleep_idle_openmp_threads  # noqa: E402

sleep_idle_openmp_threads()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import RESULTS, part, save  # noqa: E402
from _timing import interleaved  # noqa: E402
from torch import nn  # noqa: E402

from affdeploy.etruntime import load_forward, set_threads  # noqa: E402

NAME = "xnnpack_probes"
MEASURES = ("benchmarks/_timing.py", "src/affdeploy/bench/openmp.py", "src/affdeploy/etruntime.py",
            "src/affdeploy/export/tflite.py")
PUBLISHED_ARGS = ()
MINUTES = 2
DISPATCH_OPS = 250  # (mul, add) pairs: 500 XNNPACK operators


class Chain(nn.Module):
    """``pairs`` (x * a + b) steps: XNNPACK operators with almost no arithmetic on small inputs."""

    def __init__(self, pairs: int) -> None:
        super().__init__()
        self.pairs = pairs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 1.0
        for _ in range(self.pairs):
            x = x * 1.001 + 0.5
        return x


class Repeat(nn.Module):
    """The same layer ``n`` times: one kernel kind, enough work to time, one input and one output."""

    def __init__(self, make: Callable[[], nn.Module], n: int = 10) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(make() for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


PROBES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "one-op": (lambda: Chain(0), (1, 8)),
    "dispatch": (lambda: Chain(DISPATCH_OPS), (1, 8)),
    "pointwise": (lambda: Repeat(lambda: nn.Conv2d(256, 256, 1)), (1, 256, 16, 16)),
    "depthwise": (lambda: Repeat(lambda: nn.Conv2d(64, 64, 3, padding=1, groups=64)), (1, 64, 64, 64)),
    "sigmoid": (lambda: Repeat(nn.Sigmoid), (1, 64, 64, 64)),
}


def export(name: str, folder: Path) -> tuple[Path, Path, torch.Tensor]:
    """The probe as a .pte (one XNNPACK delegate) and a .tflite (LiteRT's XNNPACK delegate), and its input."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from affdeploy.export.tflite import convert

    make, shape = PROBES[name]
    torch.manual_seed(0)
    x = torch.randn(shape)
    ep = torch.export.export(make().eval(), (x,))
    pte, tflite = folder / f"{name}.pte", folder / f"{name}.tflite"
    lowered = to_edge_transform_and_lower(copy.deepcopy(ep), partitioner=[XnnpackPartitioner()])
    pte.write_bytes(lowered.to_executorch().buffer)
    tflite.write_bytes(convert(ep, (x,)))
    return pte, tflite, x


def calls(files: dict[str, tuple[Path, Path, torch.Tensor]], threads: int) -> dict[str, Callable[[], object]]:
    """One call per probe and runtime; ExecuTorch's pool is sized before its methods load."""
    from affdeploy.export.tflite import interpreter

    set_threads(threads)
    out: dict[str, Callable[[], object]] = {}
    for name, (pte, tflite, x) in files.items():
        forward = load_forward(pte)
        out[f"{name}|executorch"] = lambda forward=forward, x=x: forward([x])
        runner = interpreter(tflite, threads)
        slot, sink = runner.get_input_details()[0]["index"], runner.get_output_details()[0]["index"]
        feed = x.numpy()

        def invoke(runner: object = runner, slot: int = slot, sink: int = sink, feed: np.ndarray = feed) -> object:
            runner.set_tensor(slot, feed)
            runner.invoke()
            return runner.get_tensor(sink)

        out[f"{name}|litert"] = invoke
    return out


def per_operator_us(medians: dict[str, float]) -> dict[str, float]:
    """The fixed cost per operator per call of each runtime: (dispatch - one-op) / its operator count."""
    return {rt: (medians[f"dispatch|{rt}"] - medians[f"one-op|{rt}"]) / (2 * DISPATCH_OPS) * 1e3
            for rt in ("executorch", "litert")}


def report(medians: dict[str, float], threads: int) -> list[str]:
    """Median ms per probe and runtime, ET/LiteRT ratios, and the fixed cost per operator per call."""
    lines = [f"## {threads} thread(s)", "", "| probe | ExecuTorch ms | LiteRT ms | LiteRT faster by |",
             "|---|---:|---:|---:|"]
    for name in PROBES:
        et, lite = medians[f"{name}|executorch"], medians[f"{name}|litert"]
        lines.append(f"| {name} | {et:.4f} | {lite:.4f} | {et / lite:.2f}x |")
    per_op = per_operator_us(medians)
    lines += ["", f"Fixed cost per XNNPACK operator per call: ExecuTorch {per_op['executorch']:.3f} us, "
              f"LiteRT {per_op['litert']:.3f} us (from {2 * DISPATCH_OPS} operators on 8 floats).", ""]
    return lines


def summary(by_threads: dict[int, dict[str, float]]) -> str:
    """The sentence docs/bench.md quotes: per-operator costs, and ExecuTorch/LiteRT time per kernel kind."""
    costs = "; ".join(f"{t} thread{'s' * (t > 1)}: {c['executorch']:.2f} vs {c['litert']:.2f} us"
                      for t, m in by_threads.items() for c in [per_operator_us(m)])

    def ratio(probe: str) -> str:
        values = [m[f"{probe}|executorch"] / m[f"{probe}|litert"] for m in by_threads.values()]
        low, high = f"{min(values):.2f}", f"{max(values):.2f}"
        return f"{low}x" if low == high else f"{low}-{high}x"

    return (f"a fixed cost per operator per call of ExecuTorch against LiteRT ({costs}), and ExecuTorch's XNNPACK "
            f"taking {ratio('depthwise')} LiteRT's time on the same depthwise layers, {ratio('sigmoid')} on sigmoids "
            f"and {ratio('pointwise')} on 1x1 convolutions")


def positive(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error otherwise, not a traceback)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def thread_counts(text: str) -> list[int]:
    """argparse type: comma-separated thread counts, each >= 1."""
    return [positive(part.strip()) for part in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=thread_counts, default=[1, 2], help="comma-separated thread counts (default: 1,2)")
    parser.add_argument("--rounds", type=positive, default=12, help="interleaved rounds (default: 12)")
    parser.add_argument("--per-round", type=positive, default=5, help="timed calls per probe per round (default: 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go (default: benchmarks/results)")
    args = parser.parse_args()
    if importlib.util.find_spec("litert_torch") is None:
        parser.exit(2, "bench_xnnpack_probes: LiteRT is not installed (pip install -r requirements-tflite.txt)\n")
    torch.set_num_threads(1)
    lines = ["# ExecuTorch vs LiteRT: the same XNNPACK kernels, probe by probe", "",
             f"{args.rounds} interleaved rounds x {args.per_round} calls per probe and runtime, medians.", ""]
    by_threads: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = {name: export(name, Path(tmp)) for name in PROBES}
        for threads in args.threads:
            samples = interleaved(calls(files, threads), args.rounds, args.per_round, warmup=3)
            by_threads[threads] = {k: statistics.median(v) for k, v in samples.items()}
            lines += report(by_threads[threads], threads)
    lines += [part("summary", summary(by_threads))]
    data = {"rounds": args.rounds, "per_round": args.per_round, "dispatch_operators": 2 * DISPATCH_OPS,
            "median_ms": {str(t): m for t, m in by_threads.items()},
            "per_operator_us": {str(t): per_operator_us(m) for t, m in by_threads.items()}}
    save(NAME, data, "\n".join(lines), script=__file__, measures=MEASURES, out=args.out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
