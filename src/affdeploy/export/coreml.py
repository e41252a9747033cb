"""Core ML target: an ML Program ``.mlpackage`` converted by coremltools from the ExportedProgram.

Two input kinds, one artifact each (the manifest key includes it):

- ``image`` (default): an RGB image input scaled by 1/255 on the way in, a softmax appended and the
  1000 ImageNet labels embedded as a classifier, so Xcode and Vision show it as an image classifier
  (outputs ``classLabel`` and ``classLabel_probs``).
- ``tensor``: a float32 NCHW ``image`` tensor in [0, 1] and raw ``logits``, like the other targets.

fp16 by default (Apple's recommendation for the Neural Engine), fp32 on request; iOS 16 / macOS 13
minimum. coremltools has no converter for rfft2/irfft2, so Core ML always needs ``--fft dft``.
The Core ML runtime exists only on Apple systems; everywhere, parity is checked by executing the
saved program op by op with :mod:`affdeploy.coreml_reference` (engine ``mil-reference``: the
program's math, not the runtime or GPU/Neural Engine precision). On macOS the runtime
(``coreml-runtime``) is checked too, and both results are recorded.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import OutputKind

from affdeploy.export.artifactio import BY_NAME, ArtifactIO, Dim, TensorIO
from affdeploy.export.base import ExportTarget, Lowered, NotRunnable, Session
from affdeploy.export.opreport import OpReport
from affdeploy.export.parity import FAILED, NOT_VERIFIED, Checkset, ParityResult, centred, centred_log, run_parity
from affdeploy.export.registry import register_target
from affdeploy.fft.policy import CHECKED, FFTSupport
from affdeploy.models.source import TensorInputs, as_arrays, flat_outputs
from affdeploy.preprocessing import InputSpec, imagenet_labels
from affdeploy.vocab import Backend, DeviceKind, InputKind, Precision, Target

if TYPE_CHECKING:
    from affdeploy.data.inputs import InputSet
    from affdeploy.export.request import ExportRequest

RUNTIME_ENGINE = "coreml-runtime"
AUTHOR = "affdeploy (model: AFFNet, Huang et al., arXiv 2307.14008)"
LICENSE = "MIT (official AFFNet code and weights: see microsoft/TokenMixers)"


def _with_softmax(ep: ExportedProgram) -> ExportedProgram:
    """A copy of ``ep`` whose output is softmax(logits): a Core ML classifier reports probabilities.

    Appending one node is instant, unlike re-exporting the lowered program.
    """
    ep = copy.deepcopy(ep)
    graph = ep.graph
    output = graph.output_node()
    logits = output.args[0][0]
    with graph.inserting_before(output):
        probs = graph.call_function(torch.ops.aten._softmax.default, (logits, -1, False))
    probs.meta["val"] = logits.meta["val"]
    output.args = ((probs, *output.args[0][1:]),)
    for out_spec in ep.graph_signature.output_specs:
        if out_spec.kind == OutputKind.USER_OUTPUT and out_spec.arg.name == logits.name:
            out_spec.arg.name = probs.name
    ep.graph_module.recompile()
    return ep


FP32_PROBABILITIES = "affdeploy::fp32_probabilities"


def _probability_pipeline(ct: Any, precision: Any) -> tuple[Any, Any]:
    """(compute precision, pass pipeline) that keep a classifier's softmax and probabilities in fp32.

    In an fp16 program coremltools computes the softmax in fp16 and casts its output to fp16 before
    ``classify``: every probability below fp16's range (6e-8) becomes 0 and log-probabilities of a
    confident classifier lose most of the 1000 classes. Run in fp32 (1000 values: nothing next to the
    network), the softmax is exact to the fp16 logits; the pass below removes the cast back to fp16.
    """
    from coremltools.converters.mil.mil.passes.graph_pass import AbstractGraphPass
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY, register_pass

    if precision != ct.precision.FLOAT16:
        return precision, ct.PassPipeline.DEFAULT
    if FP32_PROBABILITIES not in PASS_REGISTRY:

        class fp32_probabilities(AbstractGraphPass):  # noqa: N801 - coremltools names passes by their class
            """Drop a cast to fp16 of an fp32 value that only leaves the program (it is cast back to fp32)."""

            def apply(self, prog: Any) -> None:
                for block in prog.functions.values():
                    for op in list(block.operations):
                        out = op.outputs[0]
                        if (op.op_type != "cast" or op.dtype.val != "fp16" or op.x.dtype.__name__ != "fp32"
                                or out not in block.outputs or out.child_ops):
                            continue
                        block.set_outputs([op.x if v is out else v for v in block.outputs])
                        block.remove_ops([op])
                        op.x.name = out.name

        register_pass(namespace="affdeploy")(fp32_probabilities)
    pipeline = ct.PassPipeline.DEFAULT
    pipeline.append_pass(FP32_PROBABILITIES)
    return ct.transform.FP16ComputePrecision(op_selector=lambda op: op.op_type != "softmax"), pipeline


RECURRENT_ALIASES = {"lstm.input": "lstm"}
"""torch.export spells nn.LSTM ``aten.lstm.input``, TorchScript ``aten::lstm``: coremltools 9 translates only
the latter (its torch.export frontend: "Unsupported fx node lstm"), with the same arguments in the same order.
nn.GRU and nn.RNN are not aliased: their TorchScript translations fail on the torch.export graph."""


def _register_recurrent_aliases() -> None:
    """Let coremltools' TorchScript translation of an op take its torch.export spelling too (once per process)."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    for alias, name in RECURRENT_ALIASES.items():
        registered = _TORCH_OPS_REGISTRY.name_to_func_mapping
        if alias not in registered:
            registered[alias] = registered[name]


def _named(ct: Any, model: Any, spec: TensorInputs) -> Any:
    """``model`` with its features renamed to ``spec``'s names (coremltools names them after the lowered
    program's placeholders, ``args_0``). Every feature takes a placeholder name first, so a name that
    moves from one feature to another never meets itself."""
    proto = model.get_spec()
    features = [*proto.description.input, *proto.description.output]
    current = [f.name for f in features]
    for step in ([f"affdeploy_feature_{i}" for i in range(len(current))], [*spec.input_names, *spec.output_names]):
        for old, new in zip(current, step, strict=True):
            ct.utils.rename_feature(proto, old, new)
        current = step
    return ct.models.MLModel(proto, weights_dir=model.weights_dir)


def _feature(feature: Any) -> TensorIO:
    """One Core ML input or output as its spec declares it (a ranged dim: unnamed, with its upper bound)."""
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        colours = image.ColorSpace.Name(image.colorSpace)
        return TensorIO(feature.name, [image.height, image.width], f"image {colours}")
    if kind != "multiArrayType":  # a classifier's label (string) and probabilities (dictionary)
        return TensorIO(feature.name, None, {"stringType": "string", "dictionaryType": "dict"}.get(kind, str(kind)))
    array = feature.type.multiArrayType
    dtype = array.ArrayDataType.Name(array.dataType).lower().replace("double", "float64")
    ranges = list(array.shapeRange.sizeRanges)
    if not array.shape and not ranges:
        return TensorIO(feature.name, None, dtype)
    if not ranges:
        return TensorIO(feature.name, list(array.shape), dtype)
    shape: list[Dim] = [r.lowerBound if r.lowerBound == r.upperBound else None for r in ranges]
    return TensorIO(feature.name, shape, dtype, [r.upperBound for r in ranges])


def _pixels(x: np.ndarray) -> np.ndarray:
    """The HxWx3 uint8 RGB image of an NCHW input in [0, 1] (parity inputs lie on the 1/255 grid)."""
    return np.round(x[0].transpose(1, 2, 0) * 255).astype(np.uint8)


def _mil_ops(operations: Any) -> Iterator[str]:
    """Op types of a MIL program spec, descending into nested blocks (cond/while bodies)."""
    for op in operations:
        yield op.type
        for block in op.blocks:
            yield from _mil_ops(block.operations)


@register_target
class CoreMLTarget(ExportTarget):
    name = Target.COREML
    display = "Core ML"
    suffix = ".mlpackage"
    is_dir = True
    backends = (Backend.COREML,)
    precisions = (Precision.FP16, Precision.FP32)
    input_kinds = (InputKind.IMAGE, InputKind.TENSOR)
    runs_on = frozenset({DeviceKind.IOS})
    fft_support = {
        Backend.COREML: FFTSupport(
            False, f"coremltools 9 has no converter for fft_rfft2/fft_irfft2 and no complex I/O ({CHECKED})"
        ),
    }

    def export(self, ep: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path, request: ExportRequest) -> Lowered:
        import coremltools as ct

        from affdeploy import __version__

        precision = ct.precision.FLOAT16 if request.precision == Precision.FP16 else ct.precision.FLOAT32
        common = {"minimum_deployment_target": ct.target.iOS16, "compute_precision": precision,
                  "convert_to": "mlprogram"}
        model = self._convert(ct, ep, spec, request, common)
        if isinstance(spec, TensorInputs):
            model.short_description = (f"{request.model}: tensor inputs, FFTs lowered to real DFT matrix products "
                                       f"({request.fft}), {request.precision}.")
        else:
            model.short_description = (
                f"AFFNet ({request.model}) ImageNet-1k classifier, {spec.height}x{spec.width} RGB input scaled to "
                f"[0, 1] (no mean/std), FFTs lowered to real DFT matrix products ({request.fft}), {request.precision}."
            )
        model.author = AUTHOR
        model.license = LICENSE
        model.version = __version__
        model.user_defined_metadata.update({"affdeploy.model": request.model, "affdeploy.fft": str(request.fft),
                                            "affdeploy.input_kind": str(request.input_kind)})
        model.save(str(dest))
        return Lowered(dest, self.inspect(dest))

    @staticmethod
    def _convert(ct: Any, ep: ExportedProgram, spec: InputSpec | TensorInputs, request: ExportRequest,
                 common: dict[str, Any]) -> Any:
        """Image input: softmax appended and labels embedded (a classifier); tensor input: plain logits."""
        _register_recurrent_aliases()
        if isinstance(spec, TensorInputs):  # a user model: plain tensors, named as the user's program names them
            return _named(ct, ct.convert(ep, **common), spec)
        if request.input_kind == InputKind.TENSOR:
            return ct.convert(ep, inputs=[ct.TensorType(name=spec.name, shape=spec.shape)],
                              outputs=[ct.TensorType(name=spec.output_name)], **common)
        precision, pipeline = _probability_pipeline(ct, common["compute_precision"])
        return ct.convert(
            _with_softmax(ep),
            inputs=[ct.ImageType(name=spec.name, shape=spec.shape, scale=spec.scale, color_layout=ct.colorlayout.RGB)],
            classifier_config=ct.ClassifierConfig(list(imagenet_labels())),
            **{**common, "compute_precision": precision}, pass_pipeline=pipeline,
        )

    def open(self, path: Path, request: ExportRequest, threads: int | None = None) -> Session:
        if platform.system() != "Darwin":
            raise NotRunnable("the Core ML runtime exists only on macOS/iOS; coremltools on Linux can "
                              "convert but not predict")
        import coremltools as ct

        model = ct.models.MLModel(str(path))
        if request.input_kind == InputKind.TENSOR:
            feeds = [i.name for i in model.get_spec().description.input]
            fetches = [o.name for o in model.get_spec().description.output]
            return Session(infer=model.predict, prepare=lambda x: dict(zip(feeds, as_arrays(x), strict=True)),
                           scores=lambda out: flat_outputs([out[name] for name in fetches]), backend=Backend.COREML)
        from PIL import Image

        labels = imagenet_labels()

        def prepare(x: InputSet) -> dict[str, Any]:
            (image,) = as_arrays(x)  # an AFFNet package takes one image
            return {"image": Image.fromarray(_pixels(image), "RGB")}

        def scores(out: dict[str, Any]) -> np.ndarray:
            probs = out["classLabel_probs"]
            return centred_log(np.array([probs[label] for label in labels]))

        return Session(infer=model.predict, prepare=prepare, scores=scores, backend=Backend.COREML)

    def validate(self, path: Path, request: ExportRequest, check: Checkset) -> ParityResult:
        """The reference interpreter everywhere, and the Core ML runtime where it exists; either failing fails."""
        runtime = dataclasses.replace(super().validate(path, request, check), engine=RUNTIME_ENGINE)
        reference = self.reference_parity(path, request, check)
        if runtime.status == NOT_VERIFIED:
            return dataclasses.replace(reference, reason=f"{reference.reason}; Core ML runtime: {runtime.reason}")
        if reference.failed and not runtime.failed:
            return dataclasses.replace(reference, also=(runtime,))
        return dataclasses.replace(runtime, also=(reference,))

    def reference_parity(self, path: Path, request: ExportRequest, check: Checkset) -> ParityResult:
        """Parity of the saved ML Program executed by affdeploy.coreml_reference (any OS)."""
        from affdeploy.coreml_reference import ENGINE, MilReferenceError, UnsupportedOpError

        try:
            return run_parity(self.reference_predict(path, request), check, self.tolerance(request.precision),
                              self.reference_transform(request), engine=ENGINE)
        except UnsupportedOpError as exc:
            return dataclasses.replace(ParityResult.not_verified(str(exc)), engine=ENGINE)
        except MilReferenceError as exc:
            return dataclasses.replace(ParityResult.unmeasured(FAILED, f"the reference interpreter rejected the "
                                                                       f"program: {exc}"), engine=ENGINE)

    @staticmethod
    def reference_predict(path: Path, request: ExportRequest) -> Callable[[Any], np.ndarray]:
        """The package run by affdeploy's ML Program interpreter (any OS): inputs -> flat scores, as a Session's."""
        from affdeploy.coreml_reference import ReferenceModel

        model = ReferenceModel(path)
        if request.input_kind == InputKind.TENSOR:
            feeds = [i.name for i in model.description.input]
            fetches = [o.name for o in model.description.output]

            def tensor(x: Any) -> np.ndarray:
                out = model.predict(dict(zip(feeds, as_arrays(x), strict=True)))
                return flat_outputs([out[name] for name in fetches])

            return tensor

        def image(x: np.ndarray) -> np.ndarray:
            return centred_log(model.class_probabilities({"image": _pixels(x)}))

        return image

    def reference_transform(self, request: ExportRequest) -> Callable[[np.ndarray], np.ndarray] | None:
        """The image variant reports probabilities: compare their centred logs with the centred logits."""
        return centred if request.input_kind == InputKind.IMAGE else None

    def io(self, path: Path) -> ArtifactIO:
        """Features from the package's spec and the deployment target its specification version means."""
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))
        version = spec.specificationVersion
        target = next((t.name for t in ct.target if t.value == version), f"specification {version}")
        return ArtifactIO(BY_NAME, [_feature(f) for f in spec.description.input],
                          [_feature(f) for f in spec.description.output],
                          {"specification_version": version, "deployment_target": target})

    def inspect(self, path: Path) -> OpReport:
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))
        ops: Counter[str] = Counter()
        for function in spec.mlProgram.functions.values():
            for block in function.block_specializations.values():
                ops.update(t for t in _mil_ops(block.operations) if t != "const")
        fft_ops = sum(c for name, c in ops.items() if "fft" in name.lower())
        complex_values = sum(c for name, c in ops.items() if "complex" in name.lower())
        total = sum(ops.values())
        backends = {"Core ML (iOS 16+ / macOS 13+)": "all ops (one Core ML program; CPU, GPU or Neural Engine per op)"}
        return OpReport.build(ops, fft_ops=fft_ops, complex_values=complex_values, delegated=total, non_delegated=0,
                              delegate_calls=1, backends=backends)
