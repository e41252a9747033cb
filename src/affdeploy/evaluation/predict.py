"""``affdeploy run``: one artifact on the user's own input, with the preprocessing ``eval`` and parity use.

An image (``.jpg``/``.png``...) goes to an image classifier's artifact resized and centre-cropped as its
manifest entry says; an ``.npz`` of arrays goes to a tensor model's artifact (the same arrays
``export --parity-inputs`` takes, one set). A classifier's result is its top-k classes; a tensor
model's, each output by the name and shape the manifest records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.data.inputs import TensorSignature, npz_parity_inputs
from affdeploy.data.photos import IMAGE_SUFFIXES, center_crop, read_rgb
from affdeploy.errors import UsageError
from affdeploy.export.base import NotRunnable
from affdeploy.export.manifest import ArtifactEntry, find_entry
from affdeploy.export.registry import target_for_path
from affdeploy.preprocessing import imagenet_labels


@dataclass
class Prediction:
    """What one run of an artifact gave: the top classes of a classifier, or each named output."""

    artifact: str
    input: str
    engine: str
    top: list[dict[str, Any]] = field(default_factory=list)  # classifier: label, class, score
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # tensor model: name -> array

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "input": self.input, "engine": self.engine, "top": self.top,
                "outputs": {name: {"shape": list(a.shape), "values": a.reshape(-1).tolist()}
                            for name, a in self.outputs.items()}}


def _image_input(path: Path, entry: ArtifactEntry) -> np.ndarray:
    if "height" not in entry.input:
        raise UsageError(f"{entry.path} takes tensors ({', '.join(t['name'] for t in entry.input.get('inputs', []))}); "
                         "give them as an .npz (arrays named like the inputs, or arr_0...)")
    return center_crop(read_rgb(path, "input image"), int(entry.input["height"]))


def _tensor_input(path: Path, entry: ArtifactEntry) -> Any:
    specs = entry.input.get("inputs")
    if not specs:
        raise UsageError(f"{entry.path} is an image classifier; give it a photo (.jpg, .png ...), not an .npz")
    signature = TensorSignature(tuple(t["name"] for t in specs), tuple(tuple(t["shape"]) for t in specs),
                                tuple(t["dtype"] for t in specs))
    sets = npz_parity_inputs(path, signature, option="--input")
    if len(sets.inputs) != 1:
        raise UsageError(f"--input {path} holds {len(sets.inputs)} input sets; run takes one")
    return sets.inputs[0]


def run_artifact(artifact: Path, input_path: Path, top: int = 5) -> Prediction:
    """Run ``artifact`` (found with its manifest entry) on ``input_path`` (an image or an .npz)."""
    artifact, input_path = Path(artifact), Path(input_path)
    if not artifact.exists():
        raise UsageError(f"{artifact} does not exist")
    if not input_path.is_file():
        raise UsageError(f"--input {input_path} is not a file")
    target = target_for_path(artifact)
    folder, entry = find_entry(artifact)
    from affdeploy.export.verify import entry_request

    request = entry_request(entry, folder)
    is_image = input_path.suffix.lower() in IMAGE_SUFFIXES
    if not is_image and input_path.suffix.lower() != ".npz":
        raise UsageError(f"--input {input_path}: give an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or an .npz")
    x = _image_input(input_path, entry) if is_image else _tensor_input(input_path, entry)
    try:
        session = target.open(artifact, request)
        scores, engine = session.predict(x), str(session.backend)
    except NotRunnable:
        reference_predict = getattr(target, "reference_predict", None)
        if reference_predict is None:
            raise
        from affdeploy.coreml_reference import ENGINE

        scores, engine = reference_predict(artifact, request)(x), ENGINE
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    result = Prediction(str(artifact), str(input_path), engine)
    if "height" in entry.input:
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        labels = imagenet_labels()
        result.top = [{"label": labels[i], "class": int(i), "probability": float(probabilities[i])}
                      for i in np.argsort(-scores, kind="stable")[:top]]
        return result
    offset = 0
    for spec in entry.input.get("outputs", []):
        size = int(np.prod(spec["shape"])) if all(isinstance(d, int) for d in spec["shape"]) else scores.size - offset
        result.outputs[spec["name"]] = scores[offset:offset + size].reshape(
            spec["shape"] if all(isinstance(d, int) for d in spec["shape"]) else (-1,))
        offset += size
    return result

