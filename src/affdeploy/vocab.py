"""The words every layer shares, defined once: targets, backends, FFT modes, precisions, device and input kinds.

They are ``StrEnum``s, so a member *is* its string: it compares equal to the text the user typed,
prints as that text and serialises to it in JSON (manifests and results keep their plain strings).
What each target can do (suffix, backends, precisions, FFT support, where it runs) is not here but
on the target itself, in the export registry (``affdeploy.export.registry``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TypeVar

StrEnumT = TypeVar("StrEnumT", bound=StrEnum)


class Target(StrEnum):
    """An export format; each has exactly one module ``affdeploy.export.<value>`` that registers it."""

    ONNX = "onnx"
    COREML = "coreml"
    EXECUTORCH = "executorch"
    TFLITE = "tflite"


BASELINE = "torch"
"""The benchmark's eager PyTorch baseline: a runtime ``bench`` measures that needs no export."""


class Backend(StrEnum):
    """What an artifact is lowered for (``export --backend``) or what executes it (bench records, FFT rows)."""

    # lowered for (the manifest's ``backend``)
    ONNXRUNTIME = "onnxruntime"
    COREML = "coreml"
    XNNPACK = "xnnpack"
    PORTABLE = "portable"
    VULKAN = "vulkan"
    QNN = "qnn"
    MPS = "mps"
    # executed by (a result record's ``backend``)
    ORT_CPU = "ort-cpu"
    ORT_NNAPI = "ort-nnapi"
    ORT_COREML = "ort-coreml"
    LITERT_CPU = "litert-cpu"  # LiteRT builtin kernels, no delegate
    EAGER = "eager"


class FFTMode(StrEnum):
    """``--fft``: ``auto`` resolves to ``dft`` or ``native`` per target and backend before export."""

    AUTO = "auto"
    DFT = "dft"
    NATIVE = "native"


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class DeviceKind(StrEnum):
    HOST = "host"
    ANDROID = "android"
    IOS = "ios"


class InputKind(StrEnum):
    """``tensor``: float NCHW in [0, 1] -> logits; ``image``: Core ML RGB image -> classifier probabilities."""

    TENSOR = "tensor"
    IMAGE = "image"


def choices(enum: type[StrEnum]) -> str:
    """``"a, b, c"``: the values of ``enum`` for help texts and error messages."""
    return ", ".join(member.value for member in enum)


def parse(enum: type[StrEnumT], value: str, option: str) -> StrEnumT:
    """``value`` as a member of ``enum``, or a UsageError naming ``option`` and the choices."""
    from affdeploy.errors import UsageError

    try:
        return enum(value.strip().lower())
    except ValueError:
        raise UsageError(f"{option} must be one of {choices(enum)}, got {value!r}") from None


def split_names(values: Sequence[str]) -> list[str]:
    """``-t onnx -t a,b`` -> ["onnx", "a", "b"]: every repeatable, comma-separated option of every command is
    parsed by this one function (duplicates dropped, order kept; case kept: model names and paths need it)."""
    return list(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))
