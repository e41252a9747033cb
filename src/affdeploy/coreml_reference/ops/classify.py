"""The classifier op: the predicted label and the label -> probability dictionary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.registry import register


def _label(value: Any) -> Any:
    return value.reshape(-1)[0].item() if isinstance(value, np.ndarray) else value


@register("classify")
def classify(probabilities: np.ndarray, classes: Sequence[Any]) -> tuple[Any, dict[Any, float]]:
    probs = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    labels = [_label(c) for c in classes]
    if len(labels) != probs.size:
        raise ProgramError(f"classify: {len(labels)} classes for {probs.size} probabilities")
    return labels[int(np.argmax(probs))], dict(zip(labels, probs.tolist(), strict=True))
