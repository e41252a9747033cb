"""The FFT zoo (tests/fft_zoo.py) through ExecuTorch XNNPACK and ONNX Runtime vs eager PyTorch, one run.

Every model: eager PyTorch with its native FFT (torch.set_num_threads(1)), then the program after
``lower_fft`` + ``delegate_friendly`` as an ONNX file in ONNX Runtime (CPU EP, 1 intra-op thread)
and as an ExecuTorch .pte with the XNNPACK delegate (threadpool reset to 1 thread, which
torch.set_num_threads does not touch). Each is checked against eager before timing; the three
run in interleaved rounds so machine noise falls on all alike. Also records, per model, the
XNNPACK delegate calls and the CPU kernels left outside them (the table in docs/fft.md).

Writes <out>/fft_zoo.json and <out>/fft_zoo.md (parts quoted by docs/fft.md: ``table``, ``conditions``).

    .venv/bin/python benchmarks/bench_fft_zoo.py [--rounds 10] [--iters 10] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent / "tests")]

from _results import part, save  # noqa: E402
from _timing import interleaved  # noqa: E402  (the same round-robin timing)
from fft_zoo import ZOO, build  # noqa: E402

from affdeploy.bench.host import host_device_info  # noqa: E402
from affdeploy.bench.stats import compute_stats  # noqa: E402
from affdeploy.export.onnx import session_options  # noqa: E402
from affdeploy.fft import lower_fft  # noqa: E402
from affdeploy.models.source import flat_outputs  # noqa: E402
from affdeploy.passes import delegate_friendly  # noqa: E402
from affdeploy.versions import tool_versions  # noqa: E402

NAME = "fft_zoo"
MEASURES = ("benchmarks/_timing.py", "tests/fft_zoo.py", "tests/fft_models.py", "src/affdeploy/fft",
            "src/affdeploy/passes", "src/affdeploy/export/onnx.py", "src/affdeploy/models/source.py",
            "src/affdeploy/bench/stats.py")
PUBLISHED_ARGS = ()
MINUTES = 3
RUNTIMES = ("eager", "onnxruntime", "executorch-xnnpack")
STRUCTURAL = ("getitem", "executorch_call_delegate")


def onnx_run(ep: torch.export.ExportedProgram, args: tuple[torch.Tensor, ...]) -> Callable[[], Any]:
    import onnxruntime as ort

    buffer = io.BytesIO()
    onnx.save(torch.onnx.export(ep, args, dynamo=True, verbose=False).model_proto, buffer)
    session = ort.InferenceSession(buffer.getvalue(), session_options(threads=1), providers=["CPUExecutionProvider"])
    feed = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)}
    return lambda: session.run(None, feed)


def executorch_run(ep: torch.export.ExportedProgram,
                   args: tuple[torch.Tensor, ...]) -> tuple[Callable[[], Any], dict[str, Any]]:
    """The .pte's forward (program kept alive by the closure) and its delegation facts."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    outside = {op: row.non_delegated for op, row in info.delegation_by_operator.items()
               if row.non_delegated and op not in STRUCTURAL}
    program = Runtime.get().load_program(edge.to_executorch().buffer)
    method = program.load_method("forward")
    inputs = list(args)
    facts = {"delegate_calls": info.num_delegated_subgraphs, "outside": outside}
    return (lambda: (program, method.execute(inputs))[1]), facts


def measure(name: str, rounds: int, iters: int, warmup: int) -> dict[str, Any]:
    model, args, dynamic = build(name)
    friendly = delegate_friendly(lower_fft(torch.export.export(model, args, dynamic_shapes=dynamic)))
    with torch.no_grad():
        reference = flat_outputs(model(*args))

    def eager() -> Any:
        with torch.no_grad():
            return model(*args)

    runs = {"eager": eager, "onnxruntime": onnx_run(friendly, args)}
    runs["executorch-xnnpack"], facts = executorch_run(copy.deepcopy(friendly), args)
    errors = {k: float(np.abs(flat_outputs(run()) - reference).max()) for k, run in runs.items()}
    samples = interleaved(runs, rounds, iters, warmup)
    stats = {k: compute_stats(v) for k, v in samples.items()}
    eager_p50 = stats["eager"].p50
    return {"runtimes": {k: {"p50_ms": s.p50, "p90_ms": s.p90, "speedup_vs_eager": eager_p50 / s.p50,
                             "max_abs_err": errors[k], "stats": asdict(s)} for k, s in stats.items()},
            "xnnpack": facts, "inputs": [list(a.shape) for a in args]}


def markdown(summary: dict[str, Any]) -> str:
    device = summary["machine"]
    models = summary["models"]
    conditions = (f"1 thread, small shapes, p50 ratios of {summary['rounds']} interleaved rounds x {summary['iters']} "
                  f"calls on {device['cpu']}, {device['cores']} cores")
    table = ["| zoo model | XNNPACK delegate calls | CPU kernels outside the delegate | ExecuTorch vs eager | "
             "ONNX Runtime vs eager |", "|---|---|---|---|---|"]
    for name, row in models.items():
        outside = ", ".join(f"`{op.removeprefix('aten_')}` x{n}" for op, n in row["xnnpack"]["outside"].items())
        rt = row["runtimes"]
        table.append(f"| {name} | {row['xnnpack']['delegate_calls']} | {outside or 'none'} | "
                     f"{rt['executorch-xnnpack']['speedup_vs_eager']:.2f}x | {rt['onnxruntime']['speedup_vs_eager']:.2f}x |")
    lines = [
        "# FFT zoo: ExecuTorch XNNPACK and ONNX Runtime (FFT-lowered) vs eager PyTorch (native FFT)",
        "",
        f"Machine: {device['cpu']}, {device['cores']} usable cores, {device['os']}; 1 thread everywhere "
        f"(torch.set_num_threads(1), ORT intra_op_num_threads=1, ExecuTorch threadpool reset to 1); "
        f"{summary['rounds']} interleaved rounds x {summary['iters']} iterations per model.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()),
        "",
        part("conditions", conditions),
        "",
        part("table", "\n".join(table)),
        "",
        "| model | eager p50 ms | ORT p50 ms | ET XNNPACK p50 ms |",
        "|---|---|---|---|",
    ]
    for name, row in models.items():
        rt = row["runtimes"]
        lines.append(f"| {name} | {rt['eager']['p50_ms']:.3f} | {rt['onnxruntime']['p50_ms']:.3f} | "
                     f"{rt['executorch-xnnpack']['p50_ms']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--models", nargs="*", default=list(ZOO))
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(1)
    models = {name: measure(name, args.rounds, args.iters, args.warmup) for name in args.models}
    summary = {"threads": 1, "rounds": args.rounds, "iters": args.iters, "machine": asdict(host_device_info()),
               "versions": tool_versions(), "models": models}
    for name, row in models.items():
        print(f"{name:28s} " + "  ".join(f"{k} {v['p50_ms']:.3f} ms ({v['speedup_vs_eager']:.2f}x)"
                                         for k, v in row["runtimes"].items()))
    save(NAME, summary, markdown(summary), script=__file__, measures=MEASURES, out=args.out)


if __name__ == "__main__":
    main()
