"""ONNX target: torch.onnx's dynamo exporter, one self-contained file, optionally the ``.ort`` format.

The old TorchScript exporter cannot export rfft2; the dynamo exporter emits ONNX ``DFT`` (opset
17+) for ``--fft native``. With ``--fft dft`` the graph is plain MatMul/Conv and every ONNX Runtime
execution provider (NNAPI, Core ML, XNNPACK) can take the whole model. ``--precision int8`` is
static QDQ (per-channel weights) of that file, calibrated on images (:mod:`affdeploy.export.quantize`).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.export.artifactio import BY_NAME, ArtifactIO, Dim, TensorIO
from affdeploy.export.base import ExportTarget, Lowered, Session
from affdeploy.export.opreport import OpReport
from affdeploy.export.registry import register_target
from affdeploy.fft.policy import CHECKED, FFTSupport
from affdeploy.vocab import Backend, DeviceKind, Precision, Target

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

    from affdeploy.export.request import ExportRequest
    from affdeploy.models.source import TensorInputs
    from affdeploy.preprocessing import InputSpec

OPSET = 18
FFT_OP_TYPES = ("DFT", "STFT")
ORT_SUFFIX = ".ort"


def session_options(threads: int | None = None, optimized_path: Path | None = None) -> ort.SessionOptions:
    """``threads`` intra-op threads (default: a count sane for small boxes shared with other work),
    one inter-op thread, sequential execution, quiet logs.

    Idle intra-op threads sleep instead of spinning: ONNX Runtime's default spin-wait after each run
    keeps its threads busy long enough to take the cores from whatever runs next in an interleaved
    benchmark (ExecuTorch at 2 threads measured 30.1 ms right after a spinning session, 14.2 ms after
    a sleeping one, 13.8 ms alone; AFFNet-T, 2 cores).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return options


def _write_ort(onnx_path: Path, dest: Path) -> None:
    """Save the ONNX Runtime Mobile (``.ort``) flatbuffer form of ``onnx_path``.

    ONNX Runtime writes it itself when ``optimized_model_filepath`` ends in ``.ort``; basic
    (platform-independent) optimizations keep the file runnable on every mobile build.
    """
    import onnxruntime as ort

    options = session_options(optimized_path=dest)
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


@register_target
class OnnxTarget(ExportTarget):
    name = Target.ONNX
    display = "ONNX Runtime"
    suffix = ".onnx"
    extra_suffixes = (ORT_SUFFIX,)
    backends = (Backend.ONNXRUNTIME,)
    precisions = (Precision.FP32, Precision.INT8)
    runs_on = frozenset({DeviceKind.HOST, DeviceKind.ANDROID})
    fft_support = {
        Backend.ORT_CPU: FFTSupport(
            True,
            f"torch.onnx (dynamo) emits ONNX DFT (opset 17+) which the ORT CPU EP runs ({CHECKED}); its cost per "
            "transform is modelled from benchmarks/results/fft_scaling.json (radix-2 for powers of two, O(n^2) "
            "otherwise), and AFFNet-ET 256 (benchmarks/results/fft_onnx.md) runs faster lowered",
            cost="onnxruntime", native_cost="onnxruntime-dft",
        ),
        Backend.ORT_NNAPI: FFTSupport(False, f"ORT NNAPI EP has no DFT kernel: the graph splits back to CPU ({CHECKED})",
                                      cost="onnxruntime"),
        Backend.ORT_COREML: FFTSupport(False, f"ORT Core ML EP has no DFT kernel: the graph splits back to CPU ({CHECKED})",
                                       cost="onnxruntime"),
    }

    def runtime_backend(self, backend: Backend) -> Backend:
        return Backend.ORT_CPU  # what ``open`` runs it with, here and in onnxruntime_perf_test on a phone

    def export(self, ep: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path, request: ExportRequest) -> Lowered:
        import onnx

        from affdeploy.models.source import TensorInputs

        if isinstance(spec, TensorInputs):  # a user model: its program's inputs and dynamic dims (named below)
            program = torch.onnx.export(ep, (), dynamo=True, opset_version=OPSET, external_data=False, verbose=False)
        else:
            program = torch.onnx.export(ep, (torch.zeros(spec.shape),), dynamo=True, opset_version=OPSET,
                                        input_names=[spec.name], output_names=[spec.output_name],
                                        external_data=False, verbose=False)
        assert program is not None  # None only without dynamo=True
        with tempfile.TemporaryDirectory() as work:
            fp32 = dest if request.precision == Precision.FP32 else Path(work) / "fp32.onnx"
            program.save(str(fp32), external_data=False)
            # raises ValidationError, reported by the pipeline
            onnx.checker.check_model(onnx.load(str(fp32)), full_check=True)
            if request.precision == Precision.INT8:
                from affdeploy.data.calibration import load_calibration
                from affdeploy.export.quantize import quantize_onnx

                quantize_onnx(fp32, dest, load_calibration(request.pixels, request.calibration).calibration)
        model = onnx.load(str(dest))
        if isinstance(spec, TensorInputs):
            _name_io(model.graph, [*spec.input_names, *spec.output_names])
            _name_dims(model, spec.dim_names(ep))
        _set_metadata(model, dest, request)
        companions = []
        if request.ort_format:
            ort_path = dest.with_suffix(ORT_SUFFIX)
            _write_ort(dest, ort_path)
            companions.append(ort_path)
        return Lowered(dest, self.inspect(dest), companions)

    def preload(self) -> None:
        import onnxruntime  # noqa: F401

    def open(self, path: Path, request: ExportRequest, threads: int | None = None) -> Session:
        import onnxruntime as ort

        from affdeploy.models.source import as_arrays, flat_outputs

        session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return Session(
            infer=lambda feed: session.run(None, feed),
            prepare=lambda x: {n: np.ascontiguousarray(a) for n, a in zip(names, as_arrays(x), strict=True)},
            scores=flat_outputs,
            backend=self.runtime_backend(request.backend),
        )

    def io(self, path: Path) -> ArtifactIO:
        """Graph inputs (initializers aside) and outputs with their dim names, opset and IR version."""
        import onnx

        model = onnx.load(str(path.with_suffix(self.suffix)), load_external_data=False)  # an .ort: its .onnx's graph
        weights = {init.name for init in model.graph.initializer}

        def tensor(value: onnx.ValueInfoProto) -> TensorIO:
            typed = value.type.tensor_type
            shape: list[Dim] = [d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in typed.shape.dim]
            return TensorIO(value.name, shape if typed.HasField("shape") else None,
                            onnx.helper.tensor_dtype_to_np_dtype(typed.elem_type).name)

        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        return ArtifactIO(BY_NAME, [tensor(v) for v in model.graph.input if v.name not in weights],
                          [tensor(v) for v in model.graph.output], {"opset": opset, "ir_version": model.ir_version})

    def inspect(self, path: Path) -> OpReport:
        import onnx

        if path.suffix == ORT_SUFFIX:
            path = path.with_suffix(self.suffix)  # the .ort flatbuffer holds the same graph as its .onnx
        model = onnx.load(str(path))
        ops = Counter(node.op_type for node in model.graph.node)
        fft_ops = sum(ops[t] for t in FFT_OP_TYPES)
        inferred = onnx.shape_inference.infer_shapes(model)
        values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
        complex_types = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}
        complex_values = sum(v.type.tensor_type.elem_type in complex_types for v in values)
        mobile = ("no DFT; which other ops they take is decided per op when the session loads" if not fft_ops
                  else f"partly: {fft_ops} DFT ops have no kernel there, the graph splits back to CPU around each")
        backends = {
            "onnxruntime CPU EP": "all ops",
            "onnxruntime NNAPI / Core ML EP": mobile,
        }
        return OpReport.build(ops, fft_ops=fft_ops, complex_values=complex_values, backends=backends)


def _rename(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Rename values wherever ``graph`` mentions them: node inputs and outputs, graph I/O, value infos, initializers."""
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.name = renames.get(value.name, value.name)


def _name_io(graph: onnx.GraphProto, names: list[str]) -> None:
    """The graph's inputs then outputs renamed to ``names``.

    torch.onnx names them after the lowered program (``args_0``, ``linear_4``) and its own values after
    ops (``sub``): each input and output takes a placeholder name first and a value already called what
    one of them must be called moves aside, so no name is used twice on the way.
    """
    weights = {init.name for init in graph.initializer}
    current = [v.name for v in graph.input if v.name not in weights] + [v.name for v in graph.output]
    used = {n for node in graph.node for n in (*node.input, *node.output)} | weights | set(current)
    placeholders = [f"affdeploy_io_{i}" for i in range(len(current))]
    aside = {n: f"affdeploy_moved_{i}" for i, n in enumerate(sorted(used & set(names) - set(current)))}
    _rename(graph, {**dict(zip(current, placeholders, strict=True)), **aside})
    _rename(graph, dict(zip(placeholders, names, strict=True)))


def _name_dims(model: onnx.ModelProto, names: dict[str, str]) -> None:
    """Dynamic dims by the user's names (``batch``) instead of the symbols of the program it was lowered from (``s33``)."""
    from affdeploy.models.source import renamed_dim

    graph = model.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = renamed_dim(dim.dim_param, names)


def _set_metadata(model: onnx.ModelProto, dest: Path, request: ExportRequest) -> None:
    """Record what the file is (model, FFT mode) inside it, for people who find it without a manifest."""
    import onnx

    from affdeploy import __version__

    for key, value in {"affdeploy.model": request.model, "affdeploy.fft": request.fft,
                       "affdeploy.image_size": request.image_size, "affdeploy.precision": request.precision}.items():
        if value is not None:  # a user model has no image size
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
    model.producer_name, model.producer_version = "affdeploy", __version__
    onnx.save(model, str(dest))

