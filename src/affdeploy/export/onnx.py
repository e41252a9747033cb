"""ONNX target: torch.onnx's dynamo exporter, one self-contained file, optionally the ``.ort`` format.

The old TorchScript exporter cannot export rfft2; the dynamo exporter emits ONNX ``DFT`` (opset
17+) for ``--fft native``. With ``--fft dft`` the graph is plain MatMul/Conv and every ONNX Runtime
execution provider (NNAPI, Core ML, XNNPACK) can take the whole model.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import ExportedProgram

from affdeploy.export.base import ExportOptions, Lowered, Target, op_report
from affdeploy.export.parity import Runner
from affdeploy.preprocessing import InputSpec

OPSET = 18
FFT_OP_TYPES = ("DFT", "STFT")
ORT_SUFFIX = ".ort"
_COMPLEX_TYPES = {onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128}


def session_options(optimized_path: Path | None = None) -> ort.SessionOptions:
    """Thread counts sane for small boxes shared with other work."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
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
    options = session_options(dest)
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


class OnnxTarget(Target):
    name = "onnx"
    suffix = ".onnx"
    extra_suffixes = (ORT_SUFFIX,)
    backends = ("onnxruntime",)
    precisions = ("fp32",)

    def export(self, ep: ExportedProgram, spec: InputSpec, dest: Path, opts: ExportOptions) -> Lowered:
        example = (torch.zeros(spec.shape),)
        program = torch.onnx.export(ep, example, dynamo=True, opset_version=OPSET, input_names=[spec.name],
                                    output_names=[spec.output_name], external_data=False, verbose=False)
        program.save(str(dest), external_data=False)
        model = onnx.load(str(dest))
        onnx.checker.check_model(model, full_check=True)  # raises ValidationError, reported by the pipeline
        _set_metadata(model, dest, opts)
        companions = []
        if opts.ort_format:
            ort_path = dest.with_suffix(ORT_SUFFIX)
            _write_ort(dest, ort_path)
            companions.append(ort_path)
        return Lowered(dest, self.inspect(dest), companions)

    def runner(self, path: Path, opts: ExportOptions) -> Runner:
        session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: np.asarray(session.run(None, {name: x.astype(np.float32)})[0]).reshape(-1)

    def inspect(self, path: Path) -> dict[str, Any]:
        if path.suffix == ORT_SUFFIX:
            path = path.with_suffix(self.suffix)  # the .ort flatbuffer holds the same graph as its .onnx
        model = onnx.load(str(path))
        ops = Counter(node.op_type for node in model.graph.node)
        fft_ops = sum(ops[t] for t in FFT_OP_TYPES)
        inferred = onnx.shape_inference.infer_shapes(model)
        values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
        complex_values = sum(v.type.tensor_type.elem_type in _COMPLEX_TYPES for v in values)
        mobile = ("no DFT; which other ops they take is decided per op when the session loads" if not fft_ops
                  else f"partly: {fft_ops} DFT ops have no kernel there, the graph splits back to CPU around each")
        backends = {
            "onnxruntime CPU EP": "all ops",
            "onnxruntime NNAPI / Core ML EP": mobile,
        }
        return op_report(ops, fft_ops=fft_ops, complex_values=complex_values, delegated=None, non_delegated=None,
                         delegate_calls=None, backends=backends)


def _set_metadata(model: onnx.ModelProto, dest: Path, opts: ExportOptions) -> None:
    """Record what the file is (model, FFT mode) inside it, for people who find it without a manifest."""
    from affdeploy import __version__

    for key, value in {"affdeploy.model": opts.model, "affdeploy.fft": opts.fft,
                       "affdeploy.image_size": str(opts.image_size)}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.producer_version = "affdeploy", __version__
    onnx.save(model, str(dest))


TARGET = OnnxTarget()
