"""What the Android and iOS apps know about a model: ``<artifact>.model.json`` and the apps' catalog.

One versioned schema for both apps (``affdeploy.app-model/v1``), parsed by android_app's
ModelMeta.java and ios_app's BenchCore ModelMeta.swift: the artifact and its sha256, the model it
was exported from, its inputs (names, static shapes, float32) and outputs; for AFFNet also the
image preprocessing and the labels (``mode`` "image"). A user model is benchmarked in ``mode``
"tensor": the app feeds every input the numbers :func:`bench_input` makes, so every device and
both apps measure on the same data, and each input's exact ``sum`` lets an app prove that its own
generator agrees with this one before it measures anything.

``affdeploy android-assets`` / ``ios-assets`` write one file per bundled artifact plus the catalog
(schema ``affdeploy.app-assets/v1``: the labels and the metadata files, in preference order); the
Android bench's app route pushes the file next to the artifact it measures.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.bench.records import record_image_size
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.export.manifest import ArtifactEntry
from affdeploy.fsutil import atomic_write_text
from affdeploy.models import MODELS
from affdeploy.models.source import model_slug
from affdeploy.preprocessing import NUM_CLASSES

APP_MODEL_SCHEMA = "affdeploy.app-model/v1"  # ModelMeta.SCHEMA (Java), appModelSchemaID (Swift)
APP_CATALOG_SCHEMA = "affdeploy.app-assets/v1"  # ModelManifest.SCHEMA (Java), catalogSchemaID (Swift)
META_SUFFIX = ".model.json"
IMAGE, TENSOR = "image", "tensor"
INPUT_DTYPE = "float32"  # what the apps' runners feed (ExecuTorch Tensor.fromBlob(float[]), ORT, LiteRT, MLMultiArray)
IMAGE_KEYS = ("height", "width", "color_order", "scale", "mean", "std")  # the Android app's InputSpec
_SPLITMIX_GAMMA, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


@dataclass
class TensorMeta:
    """One output: name, static shape, dtype."""

    name: str
    shape: list[int]
    dtype: str


@dataclass
class InputMeta:
    """One input and the benchmark data the apps generate for it."""

    name: str
    shape: list[int]
    dtype: str
    seed: int  # bench_input(shape, seed)
    sum: float  # exact sum of those values (multiples of 2^-23: no rounding in any summation order)


@dataclass
class ImageMeta:
    """AFFNet's picture preprocessing (affdeploy.preprocessing) and its labels file."""

    height: int
    width: int
    color_order: str
    scale: float
    mean: list[float]
    std: list[float]
    labels: str


@dataclass
class AppModel:
    """One bundled (or pushed) artifact as the apps read it."""

    model: str  # what records name: the AFFNet variant, the .pt2 path, or package.module:factory
    id: str  # file-name-safe name the CLI asks the apps for (`--models`)
    source_sha256: str | None  # the .pt2 file's / factory module's sha256 (None for AFFNet)
    file: str  # the artifact, in the same folder as this file
    sha256: str
    target: str
    backend: str
    fft: str
    precision: str
    image_size: int  # the records' image_size (AFFNet's input size; the export default for a user model)
    mode: str  # image | tensor
    inputs: list[InputMeta]
    outputs: list[TensorMeta]
    image: ImageMeta | None = None
    macs: int | None = None  # one inference, where known (AFFNet)
    schema: str = APP_MODEL_SCHEMA

    @property
    def meta_name(self) -> str:
        return self.file + META_SUFFIX

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench_input(shape: list[int], seed: int) -> np.ndarray:
    """Float32 values in [-1, 1): the i-th is SplitMix64(seed)'s i-th output, top 24 bits, scaled.

    Chosen so Java (long arithmetic) and Swift (UInt64 &+ &*) compute the very same bits.
    """
    count = math.prod(shape)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_SPLITMIX_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
        z ^= z >> np.uint64(31)
    top = (z >> np.uint64(40)).astype(np.int64) - (1 << 23)
    return (top / float(1 << 23)).astype(np.float32).reshape(shape)


def _input(spec: dict[str, Any], seed: int, where: str) -> InputMeta:
    """A user model's input, refused with one line when the apps cannot feed it."""
    shape, dtype = spec["shape"], spec["dtype"]
    dynamic = [d for d in shape if not isinstance(d, int)]
    if dynamic:
        raise UsageError(f"{where}: input '{spec['name']}' has the dynamic dimension {dynamic[0]} ({shape}); "
                         "the apps need static shapes", hint="export the model without dynamic_shapes")
    if dtype != INPUT_DTYPE:
        raise UsageError(f"{where}: input '{spec['name']}' is {dtype}; the apps feed {INPUT_DTYPE} tensors only",
                         hint="make the model take float32 inputs (cast inside forward)")
    values = bench_input(shape, seed)
    return InputMeta(spec["name"], list(shape), dtype, seed, float(values.sum(dtype=np.float64)))


def _output(spec: dict[str, Any], where: str) -> TensorMeta:
    if not all(isinstance(d, int) for d in spec["shape"]):
        raise UsageError(f"{where}: output '{spec['name']}' has a dynamic shape {spec['shape']}; "
                         "the apps need static shapes")
    return TensorMeta(spec["name"], list(spec["shape"]), spec["dtype"])


def app_model(entry: ArtifactEntry, *, labels: str, macs: int | None = None) -> AppModel:
    """The metadata of one manifest entry; a user model with a dynamic or non-float input is refused."""
    file = Path(entry.path).name
    common: dict[str, Any] = dict(model=entry.model, file=file, sha256=entry.sha256, target=entry.target,
                                  backend=entry.backend, fft=entry.fft, precision=entry.precision,
                                  image_size=record_image_size(entry.image_size), macs=macs)
    if entry.model in MODELS:
        spec = entry.input
        lacking = [key for key in (*IMAGE_KEYS, "name", "shape") if key not in spec]
        if lacking:
            raise AffdeployError(f"the manifest entry of {file} has no input {', '.join(lacking)}", hint="export it again")
        image = ImageMeta(**{k: spec[k] for k in IMAGE_KEYS}, labels=labels)
        inputs = [_input({"name": spec["name"], "shape": spec["shape"], "dtype": INPUT_DTYPE}, 0, file)]
        outputs = [TensorMeta(spec.get("output_name", "logits"), [1, NUM_CLASSES], INPUT_DTYPE)]
        return AppModel(**common, id=entry.model, source_sha256=None, mode=IMAGE, inputs=inputs, outputs=outputs,
                        image=image)
    spec = entry.input
    if "outputs" not in spec or "kind" not in spec:
        raise AffdeployError(f"the manifest entry of {file} does not list the model's outputs (an older export)",
                             hint="export it again")
    model_id = model_slug(entry.model, spec["kind"])
    inputs = [_input(s, seed, f"{model_id} ({file})") for seed, s in enumerate(spec["inputs"])]
    outputs = [_output(s, f"{model_id} ({file})") for s in spec["outputs"]]
    return AppModel(**common, id=model_id, source_sha256=spec.get("sha256"), mode=TENSOR, inputs=inputs, outputs=outputs)


def write_app_model(folder: Path, meta: AppModel) -> str:
    """Atomically write ``folder/<artifact>.model.json``; returns its name."""
    atomic_write_text(folder / meta.meta_name, json.dumps(meta.to_dict(), indent=2) + "\n")
    return meta.meta_name


def write_catalog(path: Path, metas: list[AppModel], labels: str) -> None:
    """The apps' index: the labels file and every metadata file, preferred artifact of a model first."""
    doc = {"schema": APP_CATALOG_SCHEMA, "labels": labels, "models": [m.meta_name for m in metas]}
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def read_app_model(path: Path) -> AppModel | None:
    """A metadata file written earlier (iOS reuses its MACs); None when absent or unreadable."""
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("schema") != APP_MODEL_SCHEMA:
            return None
        data["inputs"] = [InputMeta(**i) for i in data["inputs"]]
        data["outputs"] = [TensorMeta(**o) for o in data["outputs"]]
        data["image"] = ImageMeta(**data["image"]) if data.get("image") else None
        return AppModel(**data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None

