"""Loading an ML Program from a saved model and executing its main function op by op.

Loading parses the model spec (``.mlpackage`` via its Manifest.json, or a bare ``.mlmodel``),
decodes every ``const`` once (weights read from the package's weight files) and resolves each
op to its registered function, so an unknown op fails at load, naming the op. Running walks the
ops in program order and checks every result against the type the program declares for it: a
float value of the wrong width (a dropped ``cast``) or a wrong shape (a bad ``transpose``) is a
ProgramError, never silently carried on.
"""

from __future__ import annotations

import inspect
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.coreml_reference.errors import MilReferenceError, ProgramError, UnsupportedOpError
from affdeploy.coreml_reference.registry import OpDef, lookup
from affdeploy.coreml_reference.values import BlobFiles, TensorType, decode_value, tensor_type

_PACKAGE_DATA = Path("Data")


@dataclass(frozen=True)
class _Binding:
    """One argument of an op input: a variable name or an inline value."""

    name: str | None
    value: Any = None


@dataclass(frozen=True)
class _Step:
    op_type: str
    op: OpDef
    inputs: dict[str, tuple[_Binding, ...]]
    outputs: tuple[tuple[str, TensorType | None], ...]


def read_spec(path: Path) -> tuple[Any, Path | None]:
    """The Model protobuf of an ``.mlpackage`` or ``.mlmodel`` and its weights folder (None if it has none)."""
    from coremltools.proto import Model_pb2

    path = Path(path)
    if path.is_dir():
        manifest_path = path / "Manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            entry = manifest["itemInfoEntries"][manifest["rootModelIdentifier"]]
            spec_path = path / _PACKAGE_DATA / entry["path"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MilReferenceError(f"{path} is not a readable .mlpackage ({exc.__class__.__name__}: {exc})") from None
        weights = spec_path.parent / "weights"
    else:
        spec_path, weights = path, path.parent / "weights"
    try:
        data = spec_path.read_bytes()
    except OSError as exc:
        raise MilReferenceError(f"cannot read model spec {spec_path}: {exc.strerror or exc}") from None
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise MilReferenceError(f"{spec_path} is not a Core ML model spec ({exc})") from None
    return spec, weights if weights.is_dir() else None


class MilProgram:
    """The main function of an ML Program, ready to run on NumPy inputs."""

    def __init__(self, spec: Any, weights_dir: Path | None, function: str = "main") -> None:
        if spec.WhichOneof("Type") != "mlProgram":
            raise MilReferenceError(f"the model is a {spec.WhichOneof('Type')!r}, not an ML Program (mlprogram)")
        functions = spec.mlProgram.functions
        if function not in functions:
            raise MilReferenceError(f"the program has no function {function!r} (has: {', '.join(functions)})")
        fn = functions[function]
        block = fn.block_specializations.get(fn.opset)
        if block is None:
            raise MilReferenceError(f"function {function!r} has no block for its opset {fn.opset!r}")
        self.opset: str = fn.opset
        self.input_types: dict[str, TensorType | None] = {i.name: tensor_type(i.type) for i in fn.inputs}
        self.output_names: list[str] = list(block.outputs)
        self.op_counts: Counter[str] = Counter(op.type for op in block.operations)
        self.classifier_probabilities: str | None = None
        """Name of the value a ``classify`` op reads: probabilities in class order, duplicate labels kept."""
        blobs = BlobFiles(weights_dir)
        self._consts: dict[str, Any] = {}
        self._steps: list[_Step] = []
        for op in block.operations:
            if op.type == "const":
                self._add_const(op, blobs)
            else:
                self._steps.append(self._compile(op, blobs))
                if op.type == "classify" and self._steps[-1].inputs["probabilities"][0].name is not None:
                    self.classifier_probabilities = self._steps[-1].inputs["probabilities"][0].name

    @classmethod
    def load(cls, path: Path | str, function: str = "main") -> MilProgram:
        """Read a saved ``.mlpackage`` (or ``.mlmodel``) from disk."""
        spec, weights = read_spec(Path(path))
        return cls(spec, weights, function)

    def _add_const(self, op: Any, blobs: BlobFiles) -> None:
        out = op.outputs[0]
        if "val" not in op.attributes:
            raise ProgramError(f"const {out.name!r} has no value")
        self._consts[out.name] = _conform(decode_value(op.attributes["val"], blobs), tensor_type(out.type),
                                          f"const {out.name!r}")

    @staticmethod
    def _compile(op: Any, blobs: BlobFiles) -> _Step:
        label = op.outputs[0].name if op.outputs else op.type
        definition = lookup(op.type)
        if definition is None:
            raise UnsupportedOpError(op.type, label)
        if len(op.blocks):
            raise ProgramError(f"op {op.type!r} ({label!r}) has nested blocks, which are not supported")
        inputs = {
            name: tuple(_Binding(a.name) if a.WhichOneof("binding") == "name"
                        else _Binding(None, decode_value(a.value, blobs))
                        for a in arg.arguments)
            for name, arg in op.inputs.items()
        }
        try:
            inspect.signature(definition.fn).bind(**dict.fromkeys(inputs))
        except TypeError as exc:
            raise ProgramError(f"op {op.type!r} ({label!r}): inputs {sorted(inputs)} do not "
                               f"match its definition ({exc})") from None
        outputs = tuple((o.name, tensor_type(o.type)) for o in op.outputs)
        return _Step(op.type, definition, inputs, outputs)

    def run(self, feeds: Mapping[str, Any], extra_outputs: tuple[str, ...] = ()) -> dict[str, Any]:
        """Values of the block outputs (and of ``extra_outputs``) for NumPy ``feeds`` keyed by input name."""
        env: dict[str, Any] = dict(self._consts)
        missing = set(self.input_types) - set(feeds)
        if missing:
            raise MilReferenceError(f"missing program input(s): {', '.join(sorted(missing))}")
        for name, ttype in self.input_types.items():
            env[name] = _conform_input(feeds[name], ttype, name)
        for step in self._steps:
            self._execute(step, env)
        unknown = [name for name in extra_outputs if name not in env]
        if unknown:
            raise MilReferenceError(f"the program has no value named {', '.join(unknown)}")
        return {name: env[name] for name in (*self.output_names, *extra_outputs)}

    @staticmethod
    def _execute(step: _Step, env: dict[str, Any]) -> None:
        label = step.outputs[0][0] if step.outputs else step.op_type
        kwargs: dict[str, Any] = {}
        for name, bindings in step.inputs.items():
            values = [env[b.name] if b.name is not None else b.value for b in bindings]
            if name in step.op.variadic:
                kwargs[name] = values
            else:
                kwargs[name] = values[0] if len(values) == 1 else tuple(values)
        try:
            with np.errstate(over="ignore", under="ignore"):
                result = step.op.fn(**kwargs)
        except ProgramError as exc:
            raise ProgramError(f"op {step.op_type!r} ({label!r}): {exc.message}") from None
        except (ValueError, IndexError) as exc:
            raise ProgramError(f"op {step.op_type!r} ({label!r}) failed on its inputs: {exc}") from None
        results = result if isinstance(result, tuple) and len(step.outputs) > 1 else (result,)
        if len(results) != len(step.outputs):
            raise ProgramError(f"op {step.op_type!r} ({label!r}) gave {len(results)} outputs, the program declares "
                               f"{len(step.outputs)}")
        for (name, ttype), value in zip(step.outputs, results, strict=True):
            env[name] = _conform(value, ttype, f"op {step.op_type!r} ({name!r})")


def _conform(value: Any, ttype: TensorType | None, where: str) -> Any:
    """``value`` checked against its declared tensor type; integer widths are representation only."""
    if ttype is None or ttype.dtype is None:
        return value
    arr = np.asarray(value)
    if arr.dtype != ttype.dtype:
        if arr.dtype.kind == "f" or ttype.dtype.kind == "f":
            raise ProgramError(f"{where}: computed {arr.dtype.name}{list(arr.shape)} but the program declares "
                               f"{ttype.describe()}")
        arr = arr.astype(ttype.dtype)
    if ttype.shape is not None and (
        arr.ndim != len(ttype.shape) or any(d is not None and d != a for d, a in zip(ttype.shape, arr.shape, strict=True))
    ):
        raise ProgramError(f"{where}: computed shape {list(arr.shape)} but the program declares {ttype.describe()}")
    return arr


def _conform_input(value: Any, ttype: TensorType | None, name: str) -> Any:
    if ttype is None or ttype.dtype is None:
        return value
    arr = np.asarray(value)
    if arr.dtype.kind in "fiub" and arr.dtype != ttype.dtype:
        arr = arr.astype(ttype.dtype)
    try:
        return _conform(arr, ttype, f"input {name!r}")
    except ProgramError as exc:
        raise MilReferenceError(exc.message) from None
