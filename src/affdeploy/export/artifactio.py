"""What an artifact file takes and returns, read back from the file: names, shapes, dtypes, and how it is fed.

Each target's ``io(path)`` reads it from the written file (ONNX graph inputs, the Core ML spec, the
LiteRT signature, the ExecuTorch program's flatbuffer), so the manifest tells an app what that file
really has rather than what was asked for: runtimes differ in what they can carry (a .pte has no
names, Core ML no dim names, LiteRT fixes dynamic dims), and each entry says so in its notes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

BY_NAME = "name"
"""Fed by tensor name (ONNX Runtime's ``run``, Core ML's ``prediction(from:)``)."""
BY_SIGNATURE = "signature"
"""Fed by the names of a LiteRT signature (``get_signature_runner(key)(**inputs)``), not its tensor names."""
BY_POSITION = "position"
"""Fed a list in this order; the file holds no names (ExecuTorch's ``method.execute``)."""

Dim = int | str | None
"""int: a static size; str: a dynamic dim by name; None: a dynamic dim the file leaves unnamed."""


@dataclass(frozen=True)
class TensorIO:
    """One input or output as the file declares it."""

    name: str | None  # None: the file holds no name (fed by position)
    shape: list[Dim] | None  # None: the file declares no shape (Core ML outputs)
    dtype: str  # numpy's name ("float32"); "image RGB", "string", "dict" for Core ML's non-tensor features
    upper_bounds: list[int] | None = None  # where the file bounds dynamic dims instead of naming them (-1: none)

    def labelled(self, user: dict[str, Any]) -> tuple[TensorIO, list[str]]:
        """Dynamic dims the file leaves unnamed, named as the model names them (``user``: its manifest tensor).

        A dim counts as dynamic here when the file leaves it unnamed (Core ML ranges) or gives its upper
        bound (a .pte plans memory for the largest size); a dim the file fixed stays the file's number.
        """
        if self.shape is None or len(self.shape) != len(user["shape"]):
            return self, []
        shape, named = [], []
        for axis, (dim, wanted) in enumerate(zip(self.shape, user["shape"], strict=True)):
            bound = self.upper_bounds[axis] if self.upper_bounds else None
            if isinstance(wanted, str) and (dim is None or (bound is not None and dim == bound)):
                most = f", at most {bound}" if bound not in (None, -1) else ""
                named.append(f"{wanted} (axis {axis} of {user['name']}{most})")
                dim = wanted
            shape.append(dim)
        return replace(self, shape=shape), named


@dataclass(frozen=True)
class ArtifactIO:
    """Every input and output of one artifact, how a runtime is fed, and the file's format versions."""

    feed: str  # BY_NAME | BY_SIGNATURE | BY_POSITION
    inputs: list[TensorIO]
    outputs: list[TensorIO]
    format: dict[str, str | int] = field(default_factory=dict)  # opset and IR version, deployment target, signature
    notes: list[str] = field(default_factory=list)

    def labelled(self, model: dict[str, Any]) -> ArtifactIO:
        """Dims the file cannot name, named from ``model`` (a user model's manifest description), and a note saying so."""
        tensors: dict[str, list[TensorIO]] = {}
        named: list[str] = []
        for key in ("inputs", "outputs"):
            pairs = [t.labelled(u) for t, u in zip(getattr(self, key), model[key], strict=False)]
            tensors[key] = [t for t, _ in pairs] + getattr(self, key)[len(pairs):]
            named += [n for _, names in pairs for n in names]
        note = f"the file does not name its dynamic dims; named here as the model does: {', '.join(named)}"
        notes = self.notes + ([note] if named else [])
        return replace(self, inputs=tensors["inputs"], outputs=tensors["outputs"], notes=notes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactIO:
        """Build from a manifest's JSON, ignoring keys this version does not know (as ``ArtifactEntry`` does)."""
        known = {f.name for f in fields(TensorIO)}

        def tensors(key: str) -> list[TensorIO]:
            return [TensorIO(**{k: v for k, v in t.items() if k in known}) for t in data[key]]

        return cls(data["feed"], tensors("inputs"), tensors("outputs"), dict(data.get("format", {})),
                   list(data.get("notes", [])))
