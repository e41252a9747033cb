"""ExecuTorch target: a ``.pte`` lowered with ``to_edge_transform_and_lower``.

``xnnpack`` (default) delegates to XNNPACK, ``coreml`` to the Core ML delegate (runs only on Apple
devices), ``portable`` keeps everything on ExecuTorch's own kernels. The delegation report (per op:
inside a delegate or not) goes into the manifest; ``--require-full-delegation`` turns anything left
outside into an error, because every such op is a round trip out of the accelerator. XNNPACK also
takes fp16 (the graph cast to half, fp32 in and out) and int8 (PT2E, :mod:`affdeploy.export.quantize`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.errors import ExportError
from affdeploy.etruntime import open_forward
from affdeploy.export.base import ExportTarget, Lowered, NotRunnable, Session
from affdeploy.export.opreport import Delegation, OpReport
from affdeploy.export.parity import Checkset, ParityResult
from affdeploy.export.registry import register_target
from affdeploy.fft.policy import CHECKED, FFTSupport
from affdeploy.graph import is_fft_op
from affdeploy.runtime_guard import native_stderr_captured
from affdeploy.vocab import Backend, DeviceKind, Precision, Target

if TYPE_CHECKING:
    from affdeploy.export.request import ExportRequest
    from affdeploy.preprocessing import InputSpec

ETRECORD_SUFFIX = ".etrecord"


def etrecord_path(pte: Path) -> Path:
    """Where the ETRecord of a .pte lives: beside it, same stem (a companion in the manifest)."""
    return pte.with_name(pte.name.removesuffix(".pte") + ETRECORD_SUFFIX)


STRUCTURAL_OPS = frozenset({"getitem", "executorch_call_delegate"})
"""Graph plumbing that the delegation report lists but that is no computation left outside."""

_ET = "ExecuTorch 1.5.1 sources: _fft_r2c/_fft_c2r exist only as optimized (pocketfft) CPU kernels, "


def _partitioners(backend: Backend, precision: Precision) -> list[Any]:
    if backend == Backend.XNNPACK:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return [XnnpackPartitioner()]
    if backend == Backend.COREML:
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner

        specs = CoreMLBackend.generate_compile_specs(  # same deployment floor and precision as --target coreml
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16 if precision == Precision.FP16 else ct.precision.FLOAT32,
        )
        return [CoreMLPartitioner(compile_specs=specs)]
    return []


def _reduced(ep: ExportedProgram, request: ExportRequest) -> ExportedProgram:
    """The program XNNPACK lowers to fp16 or int8 kernels (the Core ML delegate takes precision as a compile spec)."""
    from affdeploy.export import quantize

    if request.precision == Precision.FP16:
        return quantize.half_program(ep)
    from affdeploy.data.calibration import load_calibration

    return quantize.quantize_pt2e(ep, load_calibration(request.image_size, request.calibration).calibration)


def _short(op_type: str) -> str:
    """``aten_native_group_norm_default`` -> ``native_group_norm`` (the names ``inspect`` prints)."""
    name = op_type.removeprefix("aten_").removeprefix("dim_order_ops_")
    for tail in ("_default", "_tensor", "_Tensor", "_Scalar", "_scalar", "_int", "_dim", "_self", "_start_step"):
        if name.endswith(tail):
            return name[: -len(tail)]
    return name


def _delegation_report(edge: Any, backend: Backend) -> OpReport:
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    per_op: dict[str, Delegation] = {}
    for op_type, row in info.delegation_by_operator.items():
        if op_type in STRUCTURAL_OPS:
            continue
        slot = per_op.get(_short(op_type), Delegation())
        per_op[_short(op_type)] = Delegation(slot.delegated + row.delegated, slot.non_delegated + row.non_delegated)
    delegated = sum(v.delegated for v in per_op.values())
    outside = sum(v.non_delegated for v in per_op.values())
    ops = {name: v.delegated + v.non_delegated for name, v in per_op.items()}
    fft_ops = sum(c for name, c in ops.items() if is_fft_op(name))
    return OpReport.build(ops, fft_ops=fft_ops, complex_values=0, delegated=delegated, non_delegated=outside,
                          delegate_calls=info.num_delegated_subgraphs,
                          backends=_backend_support(backend, outside, fft_ops), per_op=per_op)


def _backend_support(backend: Backend, outside: int, fft_ops: int) -> dict[str, str]:
    delegate = {Backend.XNNPACK: "XNNPACK delegate", Backend.COREML: "Core ML delegate",
                Backend.PORTABLE: "no delegate"}[backend]
    kernels = "portable or optimized CPU kernels"
    if fft_ops:
        kernels = "optimized CPU kernels (pocketfft); a portable-only runtime fails with OperatorMissing"
    rest = f"{outside} ops outside the delegate need {kernels}" if outside else "nothing outside the delegate"
    where = "Apple devices only" if backend == Backend.COREML else "any ExecuTorch runtime with it linked in"
    return {delegate: f"{where}; {rest}"}


@register_target
class ExecuTorchTarget(ExportTarget):
    name = Target.EXECUTORCH
    display = "ExecuTorch"
    suffix = ".pte"
    backends = (Backend.XNNPACK, Backend.COREML, Backend.PORTABLE)
    precisions = (Precision.FP32, Precision.FP16, Precision.INT8)  # fp16 and int8: XNNPACK only
    coreml_precisions = (Precision.FP16, Precision.FP32)  # the Core ML delegate computes in fp16 unless told otherwise
    runs_on = frozenset({DeviceKind.HOST, DeviceKind.ANDROID, DeviceKind.IOS})
    host_backends = frozenset({Backend.XNNPACK, Backend.PORTABLE})  # the pip runtime links no Core ML delegate
    fft_support = {
        Backend.PORTABLE: FFTSupport(
            False, _ET + f"a portable-only runtime fails at load with OperatorMissing ({CHECKED})"
        ),
        **{
            delegate: FFTSupport(
                False,
                _ET + f"the {delegate} delegate takes no FFT and complex dtypes break edge IR checks ({CHECKED})",
            )
            for delegate in (Backend.XNNPACK, Backend.COREML, Backend.VULKAN, Backend.QNN, Backend.MPS)
        },
    }

    def allowed_precisions(self, backend: Backend) -> tuple[Precision, ...]:
        """XNNPACK: fp32, fp16, int8; portable: fp32; the Core ML delegate: fp16 (its default) or fp32."""
        if backend == Backend.COREML:
            return self.coreml_precisions
        return self.precisions if backend == Backend.XNNPACK else (Precision.FP32,)

    def export(self, ep: ExportedProgram, spec: InputSpec, dest: Path, request: ExportRequest) -> Lowered:
        from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

        if request.backend == Backend.XNNPACK and request.precision != Precision.FP32:
            ep = _reduced(ep, request)
        edge = to_edge_transform_and_lower(ep, partitioner=_partitioners(request.backend, request.precision),
                                           compile_config=EdgeCompileConfig(_check_ir_validity=True),
                                           generate_etrecord=True)
        report = _delegation_report(edge, request.backend)
        if request.require_full_delegation and report.non_delegated_ops:
            left = {k: v.non_delegated for k, v in report.delegation.items() if v.non_delegated}
            shown = ", ".join(f"{k} x{v}" for k, v in sorted(left.items(), key=lambda kv: -kv[1])[:6])
            raise ExportError(
                f"{report.non_delegated_ops} ops stay outside the {request.backend} delegate: {shown}",
                hint="drop --require-full-delegation to export anyway",
            )
        program = edge.to_executorch()
        dest.write_bytes(program.buffer)
        etrecord = etrecord_path(dest)
        program.get_etrecord().save(str(etrecord))
        return Lowered(dest, report, [etrecord])

    def validate(self, path: Path, request: ExportRequest, check: Checkset) -> ParityResult:
        """The ETRecord beside a .pte is debug data (graphs and debug handles), not a program to run."""
        if path.suffix == ETRECORD_SUFFIX:
            return ParityResult.not_verified("an ETRecord: the graphs and debug handles 'affdeploy profile' reads")
        return super().validate(path, request, check)

    def preload(self) -> None:
        with native_stderr_captured(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import executorch.runtime  # noqa: F401
            from executorch.extension.pybindings import portable_lib  # noqa: F401

    def open(self, path: Path, request: ExportRequest, threads: int | None = None) -> Session:
        if self.host_backends is not None and request.backend not in self.host_backends:
            raise NotRunnable("the ExecuTorch Core ML delegate runs only on macOS/iOS; this runtime cannot execute it")
        from affdeploy.models.source import as_arrays, flat_outputs

        forward = open_forward(path, threads)
        return Session(
            infer=forward,
            prepare=lambda x: [torch.from_numpy(np.ascontiguousarray(a)) for a in as_arrays(x)],
            scores=flat_outputs,
            backend=self.runtime_backend(request.backend),
        )

    def inspect(self, path: Path) -> OpReport:
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
        return OpReport.build(ops, fft_ops=fft_ops, complex_values=complex_values,
                              delegate_calls=sum(delegate_calls.values()), backends=backends)
