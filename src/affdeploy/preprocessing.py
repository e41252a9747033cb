"""The one place that states how AFFNet expects its input (as the official cvnets training set it up).

Exporters embed these facts (Core ML image input, manifest input spec) and the Android and
iOS apps read them from the manifest, so a change here reaches every consumer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources

DEFAULT_IMAGE_SIZE = 256
NUM_CLASSES = 1000


@dataclass(frozen=True)
class InputSpec:
    """Input tensor and the pixel preprocessing that produces it."""

    height: int = DEFAULT_IMAGE_SIZE
    width: int = DEFAULT_IMAGE_SIZE
    batch: int = 1
    channels: int = 3
    name: str = "image"
    layout: str = "NCHW"
    dtype: str = "float32"
    color_order: str = "RGB"
    scale: float = 1.0 / 255.0  # uint8 pixel -> [0, 1]
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # no mean/std normalisation
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "resize shorter side, center crop"
    output_name: str = "logits"
    labels: str = "ImageNet-1k (1000 classes)"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.height, self.width)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        return data


def input_spec(image_size: int = DEFAULT_IMAGE_SIZE) -> InputSpec:
    """The input spec for a square image of ``image_size`` pixels."""
    return InputSpec(height=image_size, width=image_size)


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index = class id."""
    text = resources.files("affdeploy.data").joinpath("imagenet_labels.txt").read_text("utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != NUM_CLASSES:
        raise RuntimeError(f"imagenet_labels.txt has {len(labels)} labels, expected {NUM_CLASSES}")
    return labels
