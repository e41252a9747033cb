"""AFFNet-ET in ONNX Runtime: the native ONNX ``DFT`` op vs affdeploy's DFT-matrix lowering, one run.

Side by side, single thread (ONNX Runtime CPU EP, 1 intra-op thread), interleaved rounds so
that machine noise falls on every variant alike:
  - native:            torch.onnx (dynamo, opset 18) of the unlowered model, FFTs as ONNX DFT,
  - native+friendly:   the same with ``affdeploy.passes.delegate_friendly`` (what ``--fft native`` exports),
                       so that the FFT lowering's own share of the speedup shows apart,
  - dft:               the graph after ``affdeploy.fft.lower_fft`` (real MatMuls),
  - dft+friendly:      ``lower_fft`` then ``delegate_friendly`` (what ``--fft auto`` exports),
and, for information, ExecuTorch with one whole-graph XNNPACK delegate (1 thread).
Every variant is checked against PyTorch before timing. Goal: dft >= 2x faster than native.

Writes <out>/fft_onnx.json and <out>/fft_onnx.md with the machine and tool versions (parts quoted by
README.md and docs/fft.md: ``conditions``, ``table``, ``lowering-alone``).

    .venv/bin/python benchmarks/bench_fft_onnx.py [--image-size 256] [--rounds 15] [--iters 4] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import torch
from _results import part, save
from _timing import interleaved
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import to_edge_transform_and_lower
from torch.export import ExportedProgram

from affdeploy.bench.host import host_device_info
from affdeploy.bench.stats import compute_stats
from affdeploy.export import ExportRequest
from affdeploy.export.base import Session
from affdeploy.export.registry import get_target
from affdeploy.fft import lower_fft
from affdeploy.fsutil import atomic_write_bytes
from affdeploy.graph import example_input, export_program
from affdeploy.models import build_model
from affdeploy.passes import delegate_friendly
from affdeploy.versions import tool_versions

NAME = "fft_onnx"
MEASURES = ("benchmarks/_timing.py", "src/affdeploy/models/__init__.py", "src/affdeploy/models/affnet.py",
            "src/affdeploy/graph.py", "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/export/base.py",
            "src/affdeploy/export/onnx.py", "src/affdeploy/export/executorch.py", "src/affdeploy/etruntime.py",
            "src/affdeploy/bench/stats.py")
PUBLISHED_ARGS = ()
MINUTES = 2
MODEL = "affnet-et"
GOAL = 2.0
ONNX_VARIANTS = ("native", "native+friendly", "dft", "dft+friendly")
LABELS = {"native": "native `DFT` op (plain torch.onnx export)",
          "native+friendly": "native `DFT` op + delegate-friendly rewrites (`--fft native`)",
          "dft": "DFT lowering only", "dft+friendly": "DFT lowering + delegate-friendly rewrites (`--fft auto`)",
          "executorch-xnnpack": "ExecuTorch XNNPACK, one delegate call (for reference)"}


def save_onnx(ep: ExportedProgram, x: torch.Tensor, path: Path) -> dict[str, int]:
    """torch.onnx dynamo export (opset 18); returns the ONNX op histogram."""
    program = torch.onnx.export(ep, (x,), dynamo=True, opset_version=18, external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    return dict(Counter(node.op_type for node in onnx.load(str(path)).graph.node))


def save_pte(ep: ExportedProgram, path: Path) -> int:
    """Lower to ExecuTorch with the XNNPACK partitioner; returns the number of delegate calls."""
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    calls = sum(1 for n in edge.exported_program().graph.nodes
                if n.target == torch.ops.higher_order.executorch_call_delegate)
    atomic_write_bytes(path, edge.to_executorch().buffer)
    return calls


def build(folder: Path, size: int) -> tuple[dict[str, Path], dict[str, dict[str, object]], torch.Tensor]:
    """Export every variant into ``folder``; returns paths, per-variant facts and the reference logits."""
    torch.manual_seed(0)
    model = build_model(MODEL)
    x = example_input(size)
    with torch.no_grad():
        reference = model(x)
    base = export_program(model, size)
    started = time.perf_counter()
    lowered = lower_fft(copy.deepcopy(base))
    lower_s = time.perf_counter() - started
    started = time.perf_counter()
    friendly = delegate_friendly(copy.deepcopy(lowered))
    friendly_s = time.perf_counter() - started
    paths = {name: folder / f"{name.replace('+', '_')}.onnx" for name in ONNX_VARIANTS}
    facts: dict[str, dict[str, object]] = {}
    native_friendly = delegate_friendly(copy.deepcopy(base))
    for name, ep in zip(ONNX_VARIANTS, (base, native_friendly, lowered, friendly), strict=True):
        ops = save_onnx(ep, x, paths[name])
        facts[name] = {"onnx_nodes": sum(ops.values()), "dft_ops": ops.get("DFT", 0),
                       "top_ops": dict(Counter(ops).most_common(8))}
    facts["dft"]["lower_fft_s"] = round(lower_s, 2)
    facts["dft+friendly"]["delegate_friendly_s"] = round(friendly_s, 2)
    paths["executorch-xnnpack"] = folder / "dft_friendly.pte"
    facts["executorch-xnnpack"] = {"delegate_calls": save_pte(friendly, paths["executorch-xnnpack"])}
    return paths, facts, reference


def open_all(paths: dict[str, Path], size: int) -> dict[str, Callable[[], object]]:
    """One inference of each variant on a fixed input, opened with one thread by its target."""
    x = example_input(size).numpy()
    runs = {}
    for name, path in paths.items():
        target = "executorch" if name == "executorch-xnnpack" else "onnx"
        session = get_target(target).open(path, ExportRequest.create("affnet-et", target, image_size=size), threads=1)
        runs[name] = _bound(session, x)
    return runs


def _bound(session: Session, x: np.ndarray) -> Callable[[], object]:
    feed = session.prepare(x)
    return lambda: session.infer(feed)


def first_output(result: object) -> np.ndarray:
    return np.asarray(result[0] if isinstance(result, (list, tuple)) else result, dtype=np.float32)


def print_round(r: int, samples: dict[str, list[float]]) -> None:
    print(f"round {r}: " + ", ".join(f"{n} {np.median(v):.2f} ms" for n, v in samples.items()), flush=True)


def markdown(summary: dict[str, object]) -> str:
    device = summary["machine"]
    results = summary["results"]
    conditions = (f"{device['cpu']}, {device['cores']} cores, 1 thread, {MODEL} at {summary['image_size']}, p50 of "
                  f"{summary['rounds']} interleaved rounds x {summary['iters']} calls, load average "
                  f"{device['extra']['load_average'][0]:.1f}")
    table = ["| ONNX Runtime CPU EP | p50 | vs native DFT |", "|---|---|---|"]
    for name, row in results.items():
        bold = "**" if name == "dft+friendly" else ""
        table.append(f"| {LABELS[name]} | {bold}{row['p50_ms']:.1f} ms{bold} | "
                     f"{bold}{row['speedup_vs_native']:.2f}x{bold} |")
    lines = [
        f"# {MODEL} @ {summary['image_size']}: ONNX Runtime native DFT vs DFT-matrix lowering",
        "",
        f"Machine: {device['cpu']}, {device['cores']} usable cores, {device['os']}; 1 thread per runtime, "
        f"{summary['rounds']} interleaved rounds x {summary['iters']} iterations.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        "Load average when measuring (1/5/15 min): " + " / ".join(f"{v:.2f}" for v in device["extra"]["load_average"])
        + " (absolute times grow with load; interleaving keeps the ratios fair).",
        "",
        part("conditions", conditions),
        "",
        part("table", "\n".join(table)),
        "",
        "| variant | p50 ms | p90 ms | speedup vs native | max abs err vs PyTorch | notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        notes = ", ".join(f"{k}={v}" for k, v in row["facts"].items() if k != "top_ops")
        lines.append(f"| {name} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['speedup_vs_native']:.2f}x | "
                     f"{row['max_abs_err']:.1e} | {notes} |")
    verdict = "met" if summary["speedup"] >= GOAL else "NOT met"
    alone = (f"the FFT lowering alone runs {summary['lowering_speedup_same_rewrites']:.2f}x as fast as ONNX's native "
             "`DFT` op")
    lines += ["", f"Best lowered ONNX variant ({summary['best_lowered']}) is {summary['speedup']:.2f}x faster than the "
              f"native DFT op (goal >= {GOAL:.0f}x: {verdict}).",
              "With the same delegate-friendly rewrites on both sides (native+friendly vs dft+friendly):", "",
              part("lowering-alone", alone)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        paths, facts, reference = build(Path(tmp), args.image_size)
        sessions = open_all(paths, args.image_size)
        errors = {name: float(np.abs(first_output(s()) - reference.numpy()).max()) for name, s in sessions.items()}
        samples = interleaved(sessions, args.rounds, args.iters, args.warmup, print_round)
    stats = {name: compute_stats(values) for name, values in samples.items()}
    native = stats["native"].p50
    best = min(("dft", "dft+friendly"), key=lambda n: stats[n].p50)
    results = {
        name: {"p50_ms": s.p50, "p90_ms": s.p90, "speedup_vs_native": native / s.p50, "max_abs_err": errors[name],
               "facts": facts[name], "stats": asdict(s), "samples_ms": samples[name]}
        for name, s in stats.items()
    }
    summary = {"model": MODEL, "image_size": args.image_size, "threads": 1, "rounds": args.rounds, "iters": args.iters,
               "machine": asdict(host_device_info()), "versions": tool_versions(), "results": results,
               "best_lowered": best, "speedup": native / stats[best].p50, "goal": GOAL,
               "lowering_speedup_same_rewrites": stats["native+friendly"].p50 / stats["dft+friendly"].p50}
    for name, row in results.items():
        print(f"{name:20s} p50 {row['p50_ms']:7.2f} ms  p90 {row['p90_ms']:7.2f} ms  "
              f"{row['speedup_vs_native']:.2f}x vs native  err {row['max_abs_err']:.1e}")
    print(f"speedup (native / {best}): {summary['speedup']:.2f}x  goal >= {GOAL:.0f}x")
    print(f"FFT lowering alone, same rewrites elsewhere (native+friendly / dft+friendly): "
          f"{summary['lowering_speedup_same_rewrites']:.2f}x")
    save(NAME, summary, markdown(summary), script=__file__, measures=MEASURES, out=args.out)


if __name__ == "__main__":
    main()
