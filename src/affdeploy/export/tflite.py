"""LiteRT (TFLite) target: a ``.tflite`` converted with litert-torch, run by LiteRT's XNNPACK delegate.

litert-torch 0.10 cannot take AFFNet as written (``rfft2(norm="ortho")`` and ``irfft2`` have no
lowering), so this target always converts the DFT-lowered, delegate-friendly program, which is
plain convolutions, matmuls and elementwise ops. fp16 is TFLite's float16 weight format: weights
stored in half precision behind DEQUANTIZE ops (ai-edge-quantizer's FLOAT_CASTING), which
XNNPACK folds into fp32 weights on CPU and a GPU delegate runs in fp16. int8 is static PT2E
quantization of the same convolutions ExecuTorch's int8 quantizes (export/quantize.py), which
litert-torch converts into int8 kernels. ``inspect`` reads the op
codes from the flatbuffer and asks the interpreter which nodes its XNNPACK delegate took.

Everything heavy (litert-torch, ai-edge-litert) is imported inside methods: those packages are
optional (requirements-tflite.txt), and without them the target is "unavailable" with the pip line
that installs them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.errors import ExportError
from affdeploy.export.artifactio import BY_POSITION, BY_SIGNATURE, ArtifactIO, TensorIO
from affdeploy.export.base import ExportTarget, Lowered, Session
from affdeploy.export.opreport import Delegation, OpReport
from affdeploy.export.registry import register_target
from affdeploy.fft.policy import CHECKED, FFTSupport
from affdeploy.models.source import TensorInputs
from affdeploy.runtime_guard import native_stderr_captured
from affdeploy.vocab import Backend, DeviceKind, Precision, Target

if TYPE_CHECKING:
    from affdeploy.export.request import ExportRequest
    from affdeploy.models.source import TensorInputs
    from affdeploy.preprocessing import InputSpec

FFT_BUILTINS = frozenset({"RFFT2D"})
FFT_CUSTOM_CODES = frozenset({"IRFFT2D", "FlexRFFT", "FlexIRFFT", "FlexFFT", "FlexIFFT"})
DELEGATE_NODE = "DELEGATE"  # the op name of a delegate kernel node that replaced a partition
DELEGATE_NAME = "XNNPACK delegate"

_LITERT_TORCH = (
    "litert-torch 0.10.0 (backend/lowerings/_fft.py) lowers aten._fft_r2c only for a 1-D transform over the "
    "last dim with normalization 0 (no 'ortho'), and has no _fft_c2r lowering: AFFNet's rfft2/irfft2 do not convert"
)
FFT_ROWS: Mapping[Backend, FFTSupport] = {
    Backend.XNNPACK: FFTSupport(
        False, f"RFFT2D is not among the operators the XNNPACK delegate takes (delegates/xnnpack/README.md); "
        f"{_LITERT_TORCH} ({CHECKED})"),
    Backend.LITERT_CPU: FFTSupport(
        False, "RFFT2D is a builtin CPU kernel (kernels/rfft2d.cc) and IRFFT2D only a custom op outside "
        f"BuiltinOpResolver (kernels/irfft2d.cc); {_LITERT_TORCH} ({CHECKED})"),
}


@contextmanager
def _quiet_conversion() -> Iterator[None]:
    """litert-torch prints a progress tree and logs warnings; the MLIR converter logs to descriptor 2."""
    saved = os.environ.get("LITERT_TORCH_SHOW_PROGRESS")
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with native_stderr_captured():
            yield
    finally:
        root.setLevel(level)
        if saved is None:
            os.environ.pop("LITERT_TORCH_SHOW_PROGRESS", None)
        else:
            os.environ["LITERT_TORCH_SHOW_PROGRESS"] = saved


def example_inputs(ep: ExportedProgram, names: list[str]) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """Zeros at the example shape of each user input of ``ep``, and each dynamic dim that this makes static.

    A dynamic dim's example value is the hint torch.export recorded for it (the size it traced at);
    ``names`` are the inputs as the user knows them (the lowered program renames its placeholders).
    """
    values = {n.name: n.meta["val"] for n in ep.graph.nodes if n.op == "placeholder"}
    tensors, fixed = [], []
    for index, name in enumerate(ep.graph_signature.user_inputs):
        shape = []
        for axis, dim in enumerate(values[name].shape):
            if isinstance(dim, torch.SymInt):
                hint = dim.node.hint
                if hint is None:
                    raise ExportError(f"LiteRT takes static shapes and dynamic dim {axis} of input {index} "
                                      f"({names[index]}) has no example size to convert at")
                fixed.append(f"dynamic dim {axis} of input {index} ({names[index]}) fixed at {hint}")
                dim = hint
            shape.append(int(dim))
        tensors.append(torch.zeros(shape, dtype=values[name].dtype))
    return tuple(tensors), fixed


def _refuse_float64(ep: ExportedProgram) -> None:
    """LiteRT has no float64 kernels: its converter stops on the first such op with an MLIR dump, not a reason."""
    wide = [n.name for n in ep.graph.nodes
            if isinstance(n.meta.get("val"), torch.Tensor) and n.meta["val"].dtype in (torch.float64, torch.complex128)]
    if wide:
        inputs = " (an input among them)" if set(wide) & set(ep.graph_signature.user_inputs) else ""
        raise ExportError(f"LiteRT cannot run float64, and {len(wide)} values of the model are float64{inputs}",
                          hint="call .float() on the model and its example inputs; mobile runtimes compute in float32 "
                               "or less")


class _Named(torch.nn.Module):
    """A user's program taking keyword arguments and returning a dict: litert-torch names the signature's
    inputs and outputs after them (otherwise ``args_0`` and ``output_0``)."""

    def __init__(self, program: torch.nn.Module, spec: TensorInputs) -> None:
        super().__init__()
        self.program = program
        self.inputs, self.outputs = spec.input_names, spec.output_names

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        results = self.program(*(inputs[name] for name in self.inputs))
        return dict(zip(self.outputs, results if isinstance(results, (tuple, list)) else (results,), strict=True))


def convert(ep: ExportedProgram, example: tuple[torch.Tensor, ...], *, int8: bool = False,
            names: TensorInputs | None = None) -> bytes:
    """The ``.tflite`` bytes of ``ep`` (litert-torch re-exports its module at the shapes of ``example``).

    ``int8``: ``ep`` holds static quantize/dequantize pairs (:func:`quantize_pt2e`); the converter turns
    them into int8 kernels when told they are static, which a PT2E quantizer's config is how it is told.
    ``names``: a user model's, which its signature takes and returns tensors by.
    """
    import litert_torch

    options: dict[str, Any] = {}
    if int8:
        from litert_torch.quantize import pt2e_quantizer, quant_config

        static = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
        options["quant_config"] = quant_config.QuantConfig(pt2e_quantizer=pt2e_quantizer.PT2EQuantizer().set_global(static))
    module: torch.nn.Module = ep.module()
    if names is not None:
        options["sample_kwargs"] = dict(zip(names.input_names, example, strict=True))
        module, example = _Named(module, names), ()
    with _quiet_conversion():
        return bytes(litert_torch.convert(module, example, **options).model_content())


def int8_model(ep: ExportedProgram, example: tuple[torch.Tensor, ...], request: ExportRequest) -> bytes:
    """Static int8 of the lowered program: the convolutions ExecuTorch's int8 quantizes, calibrated alike."""
    from affdeploy.data.calibration import load_calibration
    from affdeploy.export.quantize import quantize_pt2e

    calibration = load_calibration(request.pixels, request.calibration).calibration
    return convert(quantize_pt2e(ep, calibration, fold_weights=False), example, int8=True)


def to_fp16_weights(model: bytes) -> bytes:
    """TFLite's float16 format: conv/fully-connected weights in half precision behind DEQUANTIZE ops."""
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    q = quantizer.Quantizer(bytearray(model))
    q.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                             algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
    with native_stderr_captured():
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


PRECISION_STEPS: Mapping[Precision, Callable[[bytes], bytes]] = {
    Precision.FP32: lambda model: model,
    Precision.FP16: to_fp16_weights,
}
"""fp32 flatbuffer -> the artifact's bytes, for the float precisions (int8 is quantized before conversion)."""


def interpreter(path: Path, threads: int, *, xnnpack: bool = True) -> Any:
    """An allocated LiteRT interpreter; ``xnnpack`` applies the default XNNPACK delegate with ``threads``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with native_stderr_captured():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        runner = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver)
        runner.allocate_tensors()
    return runner


def read_op_codes(path: Path) -> tuple[Counter[str], int]:
    """Operator counts (builtin names, custom codes) and complex tensors of every subgraph, from the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    complex_types = {schema.TensorType.COMPLEX64, schema.TensorType.COMPLEX128}
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        names.append(custom.decode() if custom else builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    ops: Counter[str] = Counter()
    complex_values = 0
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        ops.update(names[graph.Operators(i).OpcodeIndex()] for i in range(graph.OperatorsLength()))
        complex_values += sum(graph.Tensors(i).Type() in complex_types for i in range(graph.TensorsLength()))
    return ops, complex_values


def delegated_nodes(details: list[dict[str, Any]]) -> tuple[set[int], int]:
    """Indices of the original nodes that delegate kernels replaced, and how many delegate kernels there are.

    A delegate kernel node's inputs are exactly the tensors its partition consumes from outside, so
    walking producers back from its outputs, and stopping at those inputs, visits its partition.
    """
    delegates = [d for d in details if d["op_name"] == DELEGATE_NODE]
    producer = {t: d["index"] for d in details if d["op_name"] != DELEGATE_NODE for t in d["outputs"]}
    by_index = {d["index"]: d for d in details}
    taken: set[int] = set()
    for node in delegates:
        boundary = set(node["inputs"])
        stack = [t for t in node["outputs"] if t in producer]
        while stack:
            index = producer[stack.pop()]
            if index in taken:
                continue
            taken.add(index)
            stack.extend(t for t in by_index[index]["inputs"] if t >= 0 and t not in boundary and t in producer)
    return taken, len(delegates)


def _tensor(detail: dict[str, Any], name: str | None) -> TensorIO:
    """One interpreter tensor under its signature name (a dim of -1 in its shape signature is dynamic)."""
    return TensorIO(name, [int(d) if d >= 0 else None for d in detail["shape_signature"]], np.dtype(detail["dtype"]).name)


@register_target
class TFLiteTarget(ExportTarget):
    name = Target.TFLITE
    display = "LiteRT"
    suffix = ".tflite"
    backends = (Backend.XNNPACK,)
    precisions = (Precision.FP32, Precision.FP16, Precision.INT8)
    runs_on = frozenset({DeviceKind.HOST, DeviceKind.ANDROID})
    fft_support = FFT_ROWS
    requires = ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")
    requirements = "requirements-tflite.txt"  # not an extra: see that file

    def export(self, ep: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path, request: ExportRequest) -> Lowered:
        """Every input and output of the program; a dynamic dim is fixed at its example size, with a warning."""
        _refuse_float64(ep)
        user, names = (spec, spec.input_names) if isinstance(spec, TensorInputs) else (None, [spec.name])
        example, fixed = example_inputs(ep, names)
        if request.precision == Precision.INT8:
            dest.write_bytes(int8_model(ep, example, request))
        else:
            dest.write_bytes(PRECISION_STEPS[request.precision](convert(ep, example, names=user)))
        report = self.inspect(dest)
        if fixed:
            note = (f"LiteRT takes static shapes: converted at the example size, {', '.join(fixed)}; "
                    "other sizes need an export at another example size")
            report = dataclasses.replace(report, warnings=[*report.warnings, note])
        return Lowered(dest, report)

    def preload(self) -> None:
        from ai_edge_litert import interpreter as _  # noqa: F401

    def open(self, path: Path, request: ExportRequest, threads: int | None = None) -> Session:
        from affdeploy.models.source import as_arrays, flat_outputs

        runner = interpreter(path, threads or min(4, os.cpu_count() or 1))
        sources = runner.get_input_details()
        sinks = [d["index"] for d in runner.get_output_details()]

        def prepare(x: Any) -> list[np.ndarray]:
            arrays = as_arrays(x)
            if len(arrays) != len(sources):
                raise ValueError(f"{path.name} takes {len(sources)} inputs, {len(arrays)} given")
            return [np.ascontiguousarray(a, dtype=d["dtype"]) for a, d in zip(arrays, sources, strict=True)]

        def infer(feed: list[np.ndarray]) -> list[np.ndarray]:
            for detail, array in zip(sources, feed, strict=True):
                runner.set_tensor(detail["index"], array)
            runner.invoke()
            return [runner.get_tensor(sink) for sink in sinks]

        return Session(infer=infer, prepare=prepare, scores=flat_outputs, backend=self.runtime_backend(request.backend))

    def io(self, path: Path) -> ArtifactIO:
        """Inputs and outputs in the interpreter's order, by the names of the signature they are fed through."""
        runner = interpreter(path, 1, xnnpack=False)
        key = next(iter(runner.get_signature_list()), None)  # litert-torch writes one: serving_default
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        if key is None:
            return ArtifactIO(BY_POSITION, [_tensor(d, None) for d in inputs], [_tensor(d, None) for d in outputs],
                              notes=["the file has no signature: its tensors are fed by position"])
        signature = runner.get_signature_runner(key)
        names = {d["index"]: name for details in (signature.get_input_details(), signature.get_output_details())
                 for name, d in details.items()}
        note = (f"LiteRT's tensors are named {', '.join(d['name'] for d in (*inputs, *outputs))}; "
                f"get_signature_runner({key!r}) takes and returns them by the names above")
        return ArtifactIO(BY_SIGNATURE, [_tensor(d, names.get(d["index"])) for d in inputs],
                          [_tensor(d, names.get(d["index"])) for d in outputs], {"signature": key}, [note])

    def inspect(self, path: Path) -> OpReport:
        """Ops from the flatbuffer; which of them LiteRT's XNNPACK delegate takes, from the loaded interpreter."""
        ops, complex_values = read_op_codes(path)
        fft_ops = sum(n for name, n in ops.items() if name in FFT_BUILTINS or name in FFT_CUSTOM_CODES)
        details = interpreter(path, 1)._get_ops_details()
        taken, kernels = delegated_nodes(details)
        per_op: dict[str, Delegation] = {}
        for node in details:
            if node["op_name"] == DELEGATE_NODE:
                continue
            slot = per_op.get(node["op_name"], Delegation())
            inside = node["index"] in taken
            per_op[node["op_name"]] = Delegation(slot.delegated + inside, slot.non_delegated + (not inside))
        outside = sum(v.non_delegated for v in per_op.values())
        rest = f"{outside} ops stay on LiteRT's builtin CPU kernels" if outside else "nothing outside the delegate"
        backends = {DELEGATE_NAME: f"{kernels} delegate kernel(s); {rest}"}
        if fft_ops:
            backends["LiteRT CPU kernels"] = f"{fft_ops} FFT ops: RFFT2D is CPU-only, IRFFT2D a custom op"
        return OpReport.build(ops, fft_ops=fft_ops, complex_values=complex_values, delegated=len(taken),
                              non_delegated=outside, delegate_calls=kernels, backends=backends, per_op=per_op)
