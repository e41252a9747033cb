"""ExecuTorch target: a ``.pte`` lowered with ``to_edge_transform_and_lower``.

``xnnpack`` (default) delegates to XNNPACK, ``coreml`` to the Core ML delegate (runs only on Apple
devices), ``portable`` keeps everything on ExecuTorch's own kernels. The delegation report (per op:
inside a delegate or not) goes into the manifest; ``--require-full-delegation`` turns anything left
outside into an error, because every such op is a round trip out of the accelerator. XNNPACK also
takes fp16 (the graph cast to half, fp32 in and out) and int8 (PT2E, :mod:`affdeploy.export.quantize`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.errors import ExportError
from affdeploy.etruntime import native, open_forward
from affdeploy.export.artifactio import BY_POSITION, ArtifactIO, Dim, TensorIO
from affdeploy.export.base import ExportTarget, Lowered, NotRunnable, Session
from affdeploy.export.opreport import Delegation, OpReport
from affdeploy.export.parity import Checkset, ParityResult
from affdeploy.export.pteformat import PlanValue, read_plan
from affdeploy.export.registry import register_target
from affdeploy.fft.lower import source_line
from affdeploy.fft.policy import CHECKED, FFTSupport
from affdeploy.graph import is_fft_op
from affdeploy.vocab import Backend, DeviceKind, Precision, Target

if TYPE_CHECKING:
    from affdeploy.export.request import ExportRequest
    from affdeploy.models.source import TensorInputs
    from affdeploy.preprocessing import InputSpec

SCALAR_TYPES = {"FLOAT": "float32", "HALF": "float16", "DOUBLE": "float64", "BFLOAT16": "bfloat16", "LONG": "int64",
                "INT": "int32", "SHORT": "int16", "CHAR": "int8", "BYTE": "uint8", "BOOL": "bool"}
"""ExecuTorch's scalar types by numpy's names, as the manifest records every dtype."""

POSITIONAL = ("a .pte holds no tensor names: inputs and outputs are positional, in this order; a dynamic tensor's "
              "sizes are the largest the program plans memory for")

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

    return quantize.quantize_pt2e(ep, load_calibration(request.pixels, request.calibration).calibration)


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


def refuse_cpu_conv3d(edge: Any) -> None:
    """Raise on a 3-D convolution left outside every delegate: ExecuTorch's CPU convolution kernel handles only
    1-D and 2-D, so the .pte would fail at run time (error 0x12) instead of here, naming the model's line."""
    for node in edge.exported_program().graph.nodes:
        if node.op == "call_function" and "convolution" in str(node.target) and node.args[0].meta["val"].dim() == 5:
            raise ExportError(
                f"cannot run {node.target.__name__} (a 3-D convolution) outside the delegate at {source_line(node)}: "
                "ExecuTorch's CPU convolution kernel handles only 1-D and 2-D",
                hint="give it static shapes and a constant weight (export then rewrites it into 2-D convolutions), "
                     "or export to onnx or coreml",
            )


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

    def export(self, ep: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path, request: ExportRequest) -> Lowered:
        from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

        if request.backend == Backend.XNNPACK and request.precision != Precision.FP32:
            ep = _reduced(ep, request)
        edge = to_edge_transform_and_lower(ep, partitioner=_partitioners(request.backend, request.precision),
                                           compile_config=EdgeCompileConfig(_check_ir_validity=True),
                                           generate_etrecord=True)
        refuse_cpu_conv3d(edge)
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
        native()

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

    def io(self, path: Path) -> ArtifactIO:
        """The forward method's inputs and outputs from the program's flatbuffer: positional, sizes and dtypes.

        A dynamically shaped tensor is planned at its largest size, which is what the file records.
        """
        plan = read_plan(path)

        def tensor(value: PlanValue) -> TensorIO:
            if value.kind != "tensor":  # an int or float argument
                return TensorIO(None, [], value.kind)
            sizes: list[Dim] = list(value.sizes)
            return TensorIO(None, sizes, SCALAR_TYPES.get(value.scalar_type, value.scalar_type.lower()),
                            list(value.sizes) if value.dynamic else None)

        return ArtifactIO(BY_POSITION, [tensor(v) for v in plan.inputs], [tensor(v) for v in plan.outputs],
                          {"method": plan.name},
                          [POSITIONAL])

    def inspect(self, path: Path) -> OpReport:
        """Kernel and delegate calls read from the program's flatbuffer (what the runtime will execute)."""
        plan = read_plan(path)
        kernels, delegate_calls = plan.kernels, plan.delegate_calls
        fft_ops = sum(c for name, c in kernels.items() if is_fft_op(name))
        backends = {f"{bid} delegate": f"{n} calls" for bid, n in delegate_calls.items()}
        backends["CPU kernels"] = f"{sum(kernels.values())} calls" + (
            "; FFT kernels exist only in the optimized (pocketfft) library" if fft_ops else "")
        ops = dict(kernels)
        ops.update({f"delegate:{bid}": n for bid, n in delegate_calls.items()})
        return OpReport.build(ops, fft_ops=fft_ops, complex_values=plan.complex_values,
                              delegate_calls=sum(delegate_calls.values()), backends=backends)
