"""A saved Core ML model as its users see it: named features in, named features out.

Inputs follow the model description: an image input takes a PIL image or an HxWxC uint8 array in
RGB order and becomes the program's float NCHW tensor of pixel values in the declared color layout
(RGB, BGR or grayscale); the image scale and bias are ops inside the program, so they run as
written. Outputs follow it too: a classifier gives its label and a label -> probability dict,
multi-array outputs come back as NumPy arrays of their declared data type.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.coreml_reference.errors import MilReferenceError
from affdeploy.coreml_reference.program import MilProgram, read_spec

_ARRAY_DTYPES = {65552: np.float16, 65568: np.float32, 65600: np.float64, 131104: np.int32}
"""ArrayFeatureType data types of the model description (FLOAT16, FLOAT32, DOUBLE, INT32)."""


class ReferenceModel:
    """``predict`` with the feature semantics of coremltools' MLModel, computed by the reference interpreter."""

    def __init__(self, path: Path | str) -> None:
        spec, weights = read_spec(Path(path))
        self.path = Path(path)
        self.program = MilProgram(spec, weights)
        self.description = spec.description
        self.is_classifier = bool(self.description.predictedFeatureName)

    @property
    def op_counts(self) -> dict[str, int]:
        """Op type -> count in the main function (``const`` included)."""
        return dict(self.program.op_counts)

    def predict(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Outputs by name for ``features`` by name, like ``MLModel.predict``."""
        return self._predict(features)[0]

    def class_probabilities(self, features: Mapping[str, Any]) -> np.ndarray:
        """A classifier's probabilities in class order: unlike the label dict, repeated labels keep their own entry."""
        name = self.program.classifier_probabilities
        if name is None:
            raise MilReferenceError(f"{self.path.name} is not a classifier")
        return np.asarray(self._predict(features, (name,))[1][name], dtype=np.float64).reshape(-1)

    def _predict(self, features: Mapping[str, Any], extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        feeds = {}
        for feature in self.description.input:
            if feature.name not in features:
                raise MilReferenceError(f"missing input feature {feature.name!r}")
            value = features[feature.name]
            kind = feature.type.WhichOneof("Type")
            feeds[feature.name] = image_tensor(value, feature.type.imageType) if kind == "imageType" else np.asarray(value)
        values = self.program.run(feeds, extra)
        outputs: dict[str, Any] = {}
        for feature in self.description.output:
            if feature.name not in values:
                raise MilReferenceError(f"the program does not produce output feature {feature.name!r}")
            value = values[feature.name]
            kind = feature.type.WhichOneof("Type")
            if kind == "multiArrayType":
                dtype = _ARRAY_DTYPES.get(feature.type.multiArrayType.dataType, np.float32)
                value = np.asarray(value).astype(dtype)
            outputs[feature.name] = value
        return outputs, values


def image_tensor(image: Any, image_type: Any) -> np.ndarray:
    """The program's input tensor (1, C, H, W) of 0..255 pixel values for an RGB image or array."""
    from coremltools.proto import FeatureTypes_pb2

    spaces = FeatureTypes_pb2.ImageFeatureType
    pixels = _pixels(image, gray=image_type.colorSpace in (spaces.GRAYSCALE, spaces.GRAYSCALE_FLOAT16))
    height, width = pixels.shape[:2]
    if (image_type.height, image_type.width) != (height, width):
        raise MilReferenceError(f"image is {width}x{height}, the model takes {image_type.width}x{image_type.height}")
    if image_type.colorSpace == spaces.BGR:
        pixels = pixels[:, :, ::-1]
    dtype = np.float16 if image_type.colorSpace == spaces.GRAYSCALE_FLOAT16 else np.float32
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]).astype(dtype)


def _pixels(image: Any, gray: bool) -> np.ndarray:
    """HxWxC uint8 pixels (C = 1 for grayscale, else 3 in RGB order) from a PIL image or array."""
    if hasattr(image, "convert") and hasattr(image, "size"):
        image = np.asarray(image.convert("L" if gray else "RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise MilReferenceError(f"image pixels must be uint8 (got {arr.dtype})")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = 1 if gray else 3
    if arr.ndim != 3 or arr.shape[2] != channels:
        raise MilReferenceError(f"image array must be HxWx{channels} (got shape {arr.shape})")
    return arr
