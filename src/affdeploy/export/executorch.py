"""ExecuTorch target: a ``.pte`` lowered with ``to_edge_transform_and_lower``.

``xnnpack`` (default) delegates to XNNPACK, ``coreml`` to the Core ML delegate (runs only on Apple
devices), ``portable`` keeps everything on ExecuTorch's own kernels. The delegation report (per op:
inside a delegate or not) goes into the manifest; ``--require-full-delegation`` turns anything left
outside into an error, because every such op is a round trip out of the accelerator.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.errors import ExportError, UsageError
from affdeploy.etruntime import load_forward
from affdeploy.export.base import ExportOptions, Lowered, NotRunnable, Target, op_report
from affdeploy.export.parity import Runner
from affdeploy.graph import is_fft_op
from affdeploy.preprocessing import InputSpec

STRUCTURAL_OPS = frozenset({"getitem", "executorch_call_delegate"})
"""Graph plumbing that the delegation report lists but that is no computation left outside."""

RUNNABLE_BACKENDS = frozenset({"xnnpack", "portable"})


def _partitioners(backend: str, precision: str) -> list[Any]:
    if backend == "xnnpack":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return [XnnpackPartitioner()]
    if backend == "coreml":
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        specs = CoreMLBackend.generate_compile_specs(  # same deployment floor and precision as --target coreml
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
        )
        return [CoreMLPartitioner(compile_specs=specs)]
    return []


def _short(op_type: str) -> str:
    """``aten_native_group_norm_default`` -> ``native_group_norm`` (the names ``inspect`` prints)."""
    name = op_type.removeprefix("aten_").removeprefix("dim_order_ops_")
    for tail in ("_default", "_tensor", "_Tensor", "_Scalar", "_scalar", "_int", "_dim", "_self", "_start_step"):
        if name.endswith(tail):
            return name[: -len(tail)]
    return name


def _delegation_report(edge: Any, backend: str) -> dict[str, Any]:
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    per_op: dict[str, dict[str, int]] = {}
    for op_type, row in info.delegation_by_operator.items():
        if op_type in STRUCTURAL_OPS:
            continue
        slot = per_op.setdefault(_short(op_type), {"delegated": 0, "non_delegated": 0})
        slot["delegated"] += row.delegated
        slot["non_delegated"] += row.non_delegated
    delegated = sum(v["delegated"] for v in per_op.values())
    outside = sum(v["non_delegated"] for v in per_op.values())
    ops = {name: v["delegated"] + v["non_delegated"] for name, v in per_op.items()}
    fft_ops = sum(c for name, c in ops.items() if is_fft_op(name))
    return op_report(ops, fft_ops=fft_ops, complex_values=0, delegated=delegated, non_delegated=outside,
                     delegate_calls=info.num_delegated_subgraphs, backends=_backend_support(backend, outside, fft_ops),
                     per_op=per_op)


def _backend_support(backend: str, outside: int, fft_ops: int) -> dict[str, str]:
    delegate = {"xnnpack": "XNNPACK delegate", "coreml": "Core ML delegate", "portable": "no delegate"}[backend]
    kernels = "portable or optimized CPU kernels"
    if fft_ops:
        kernels = "optimized CPU kernels (pocketfft); a portable-only runtime fails with OperatorMissing"
    rest = f"{outside} ops outside the delegate need {kernels}" if outside else "nothing outside the delegate"
    where = "Apple devices only" if backend == "coreml" else "any ExecuTorch runtime with it linked in"
    return {delegate: f"{where}; {rest}"}


class ExecuTorchTarget(Target):
    name = "executorch"
    suffix = ".pte"
    backends = ("xnnpack", "coreml", "portable")
    precisions = ("fp32",)
    coreml_precisions = ("fp16", "fp32")  # the Core ML delegate computes in fp16 unless told otherwise

    def check_options(self, backend: str | None, precision: str | None, input_kind: str | None) -> tuple[str, str, str]:
        """XNNPACK and portable lowerings here are fp32; the Core ML delegate also offers fp16 (its default)."""
        allowed = self.coreml_precisions if backend == "coreml" else self.precisions
        if precision is not None and precision not in allowed:
            raise UsageError(f"--precision {precision} is not available for --target executorch --backend "
                             f"{backend or self.backends[0]}; choose: {', '.join(allowed)}")
        resolved_backend, _, kind = super().check_options(backend, None, input_kind)
        return resolved_backend, precision or allowed[0], kind

    def export(self, ep: ExportedProgram, spec: InputSpec, dest: Path, opts: ExportOptions) -> Lowered:
        from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

        edge = to_edge_transform_and_lower(ep, partitioner=_partitioners(opts.backend, opts.precision),
                                           compile_config=EdgeCompileConfig(_check_ir_validity=True))
        report = _delegation_report(edge, opts.backend)
        if opts.require_full_delegation and report["non_delegated_ops"]:
            left = {k: v["non_delegated"] for k, v in report["delegation"].items() if v["non_delegated"]}
            shown = ", ".join(f"{k} x{v}" for k, v in sorted(left.items(), key=lambda kv: -kv[1])[:6])
            raise ExportError(
                f"{report['non_delegated_ops']} ops stay outside the {opts.backend} delegate: {shown}",
                hint="drop --require-full-delegation to export anyway",
            )
        dest.write_bytes(edge.to_executorch().buffer)
        return Lowered(dest, report)

    def runner(self, path: Path, opts: ExportOptions) -> Runner:
        if opts.backend not in RUNNABLE_BACKENDS:
            raise NotRunnable("the ExecuTorch Core ML delegate runs only on macOS/iOS; this runtime cannot execute it")
        forward = load_forward(path)

        def run(x: np.ndarray) -> np.ndarray:
            return forward([torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))])[0].numpy().reshape(-1)

        return run

    def inspect(self, path: Path) -> dict[str, Any]:
        """Kernel and delegate calls read from the program's flatbuffer (what the runtime will execute)."""
        from executorch.exir._serialize._program import deserialize_pte_binary
        from executorch.exir.schema import Tensor

        program = deserialize_pte_binary(path.read_bytes()).program
        plan = program.execution_plan[0]
        kernels: Counter[str] = Counter()
        delegate_calls: Counter[str] = Counter()
        for chain in plan.chains:
            for instruction in chain.instructions:
                args = instruction.instr_args
                if hasattr(args, "op_index"):
                    kernels[plan.operators[args.op_index].name.split("::")[-1]] += 1
                elif hasattr(args, "delegate_index"):
                    delegate_calls[plan.delegates[args.delegate_index].id] += 1
        fft_ops = sum(c for name, c in kernels.items() if is_fft_op(name))
        complex_values = sum(isinstance(v.val, Tensor) and v.val.scalar_type.name.startswith("COMPLEX") for v in plan.values)
        backends = {f"{bid} delegate": f"{n} calls" for bid, n in delegate_calls.items()}
        backends["CPU kernels"] = f"{sum(kernels.values())} calls" + (
            "; FFT kernels exist only in the optimized (pocketfft) library" if fft_ops else "")
        ops = dict(kernels)
        ops.update({f"delegate:{bid}": n for bid, n in delegate_calls.items()})
        return op_report(ops, fft_ops=fft_ops, complex_values=complex_values, delegated=None, non_delegated=None,
                         delegate_calls=sum(delegate_calls.values()), backends=backends)


TARGET = ExecuTorchTarget()
