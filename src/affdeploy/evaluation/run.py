"""``affdeploy eval``: every artifact of a model on a folder of images, against PyTorch and the labels.

What a user asks before shipping: does the phone's artifact classify my pictures as PyTorch does,
and as well? For each artifact (the ones ``export`` already wrote into ``--models-dir`` are used as
they are, others are exported into its cache) and each image: top-1/top-5 against the folder's
ImageNet label where it has one, top-1 agreement and cosine against PyTorch's logits (compared as
parity compares them: a classifier package's probabilities in log space), the worst images kept.
Images stream one at a time; an unreadable one is skipped with its reason and counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affdeploy.data.photos import center_crop, read_rgb
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.evaluation.images import ImageSet, open_image_set
from affdeploy.export.base import NotRunnable
from affdeploy.export.cache import ensure_artifacts
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest
from affdeploy.preprocessing import imagenet_labels
from affdeploy.progress import Progress, silent
from affdeploy.vocab import Precision

PYTORCH = "PyTorch"
TOP_K = 5


@dataclass(frozen=True)
class EvalRequest:
    """What to evaluate: the artifacts (one model, weights and size), the images, and where artifacts live."""

    exports: tuple[ExportRequest, ...]
    images: Path
    labels: Path | None = None
    models_dir: Path = Path("models")
    limit: int | None = None  # the first N images (in folder order)
    worst: int = 5  # worst images kept per artifact


@dataclass(order=True)
class WorstImage:
    """An image on which an artifact strays furthest from PyTorch (heap-ordered by cosine, lowest first out)."""

    cosine: float
    image: str = field(compare=False)
    pytorch: str = field(compare=False)
    artifact: str = field(compare=False)


@dataclass
class Tally:
    """One artifact's running totals; PyTorch's own row has accuracy only."""

    name: str
    path: str | None = None
    engine: str = ""
    images: int = 0
    labelled: int = 0
    top1: int = 0
    top5: int = 0
    agree: int = 0
    cosine_sum: float = 0.0
    cosine_min: float = 1.0
    keep: int = 5
    _worst: list[tuple[float, int, WorstImage]] = field(default_factory=list, repr=False)

    def add(self, label: int | None, scores: np.ndarray, reference: np.ndarray | None, image: str) -> None:
        self.images += 1
        top = np.argsort(-scores, kind="stable")[:TOP_K]
        if label is not None:
            self.labelled += 1
            self.top1 += int(top[0] == label)
            self.top5 += int(label in top)
        if reference is None:
            return
        agree = int(np.argmax(reference)) == int(top[0])
        denom = float(np.linalg.norm(reference) * np.linalg.norm(scores))
        cosine = float(reference @ scores) / denom if denom else float(np.array_equal(reference, scores))
        self.agree += agree
        self.cosine_sum += cosine
        self.cosine_min = min(self.cosine_min, cosine)
        names = imagenet_labels()
        entry = WorstImage(cosine, image, names[int(np.argmax(reference))], names[int(top[0])])
        # a max-heap of the lowest cosines (negated), bounded to ``keep``: memory stays flat
        heapq.heappush(self._worst, (-cosine, self.images, entry))
        if len(self._worst) > self.keep:
            heapq.heappop(self._worst)

    @property
    def worst(self) -> list[WorstImage]:
        return sorted(item[2] for item in self._worst)

    def to_dict(self) -> dict[str, Any]:
        compared = self.name != PYTORCH and self.images > 0
        return {
            "artifact": self.name, "path": self.path, "engine": self.engine, "images": self.images,
            "labelled": self.labelled,
            "top1_accuracy": self.top1 / self.labelled if self.labelled else None,
            "top5_accuracy": self.top5 / self.labelled if self.labelled else None,
            "top1_agreement": self.agree / self.images if compared else None,
            "mean_cosine": self.cosine_sum / self.images if compared else None,
            "min_cosine": self.cosine_min if compared else None,
            "worst": [vars(w) for w in self.worst] if compared else [],
        }


@dataclass
class EvalReport:
    """Totals per artifact, the images skipped and why, and what the folder was."""

    images: str
    layout: str
    found: int
    unmapped_folders: list[str]
    rows: list[Tally]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def evaluated(self) -> int:
        return self.rows[0].images if self.rows else 0

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "layout": self.layout, "found": self.found, "evaluated": self.evaluated,
                "skipped": [{"image": name, "reason": why} for name, why in self.skipped],
                "unmapped_folders": self.unmapped_folders, "notes": self.notes,
                "artifacts": [row.to_dict() for row in self.rows]}


@dataclass
class _Runner:
    """An artifact (or PyTorch) ready to score an image, with the reference it is compared against."""

    tally: Tally
    predict: Callable[[np.ndarray], np.ndarray]
    transform: Callable[[np.ndarray], np.ndarray]
    reference: str  # which reference network: "as built" or "int8 calibrated"


def _open(request: ExportRequest, path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The artifact's predict function and what runs it; Core ML off Apple systems runs in the reference interpreter."""
    target = get_target(request.target)
    try:
        session = target.open(path, request)
        return session.predict, str(session.backend)
    except NotRunnable:
        reference_predict = getattr(target, "reference_predict", None)
        if reference_predict is None:
            raise
        from affdeploy.coreml_reference import ENGINE

        return reference_predict(path, request), ENGINE


def _reference_key(request: ExportRequest) -> str:
    """int8 of untrained weights is checked against the BatchNorm-recalibrated network it was made from."""
    return "int8 calibrated" if request.precision == Precision.INT8 and request.weights is None else "as built"


def evaluate(request: EvalRequest, on_progress: Progress = silent) -> EvalReport:
    """Score every artifact of ``request`` on its images (see the module docstring)."""
    from affdeploy.export.pipeline import reference_network

    if not request.exports:
        raise UsageError("nothing to evaluate: no artifact matches --target and --precision")
    images = open_image_set(request.images, request.labels)
    first = request.exports[0]
    references: dict[str, torch.nn.Module] = {}
    runners = []
    notes = []
    on_progress("finding the artifacts, exporting those missing")
    artifacts = ensure_artifacts(list(request.exports), request.models_dir, on_progress)
    for export, (path, entry) in zip(request.exports, artifacts, strict=True):
        key = _reference_key(export)
        if key not in references:
            on_progress(f"building {export.model} ({key})")
            references[key] = reference_network(export)[0]
        if entry.parity.failed:
            raise AffdeployError(f"{path} failed its parity check at export", hint="export it again")
        try:
            predict, engine = _open(export, path)
        except NotRunnable as exc:
            notes.append(f"{path.name}: not evaluated ({exc})")
            continue
        transform = get_target(export.target).reference_transform(export) or (lambda v: v)
        backend = f" {export.backend}" if export.backend != get_target(export.target).backends[0] else ""
        runners.append(_Runner(Tally(f"{export.target}{backend} {export.precision}", str(path), engine,
                                     keep=request.worst), predict, transform, key))
    pytorch = Tally(PYTORCH, engine="eager", keep=request.worst)
    report = EvalReport(str(Path(request.images).resolve()), images.layout, images.count, images.unmapped,
                        [pytorch] + [r.tally for r in runners], notes=notes)
    _stream(images, request, first.pixels, references, pytorch, runners, report, on_progress)
    if report.evaluated == 0:
        raise UsageError(f"--images {request.images}: none of its {images.count} images could be read "
                         f"(first: {report.skipped[0][0]}: {report.skipped[0][1]})")
    return report


def _stream(images: ImageSet, request: EvalRequest, size: int, references: dict[str, torch.nn.Module],
            pytorch: Tally, runners: Sequence[_Runner], report: EvalReport, on_progress: Progress) -> None:
    """One image at a time through PyTorch and every artifact."""
    total = min(images.count, request.limit) if request.limit else images.count
    for done, image in enumerate(images):
        if request.limit is not None and done >= request.limit:
            break
        on_progress(f"{image.name}", done / max(total, 1))
        try:
            x = center_crop(read_rgb(image.path, "image"), size)
        except UsageError as exc:
            report.skipped.append((image.name, str(exc).removeprefix(f"image {image.path} ")))
            continue
        with torch.no_grad():
            logits = {key: net(torch.from_numpy(x)).numpy().reshape(-1).astype(np.float64)
                      for key, net in references.items()}
        pytorch.add(image.label, logits["as built"] if "as built" in logits else next(iter(logits.values())), None,
                    image.name)
        for runner in runners:
            scores = np.asarray(runner.predict(x), dtype=np.float64).reshape(-1)
            runner.tally.add(image.label, scores, runner.transform(logits[runner.reference]), image.name)
    on_progress("done", 1.0)


def plan_eval(model: str, targets: str, precisions: str | None, **common: Any) -> tuple[list[ExportRequest], list[str]]:
    """The artifacts to evaluate: each target at each asked precision (its default when none is asked).

    A precision a target does not offer is skipped with a note under ``all`` or a list, and refused
    when one target was named.
    """
    from affdeploy.export.request import plan_exports
    from affdeploy.models.source import is_user_model

    if is_user_model(model):
        raise UsageError("eval measures image classifiers (AFFNet variants) on photos; run a user model's "
                         "artifact on your own inputs with 'affdeploy run ARTIFACT --input inputs.npz'")
    chosen = [p.strip() for p in precisions.split(",") if p.strip()] if precisions else [None]
    names = [n.strip() for n in targets.split(",") if n.strip()]
    requests: list[ExportRequest] = []
    notes: list[str] = []
    for precision in chosen:
        for name in names if names != ["all"] else _all_targets():
            try:
                requests += plan_exports(model, name, precision=precision, **common)
            except UsageError as exc:
                if len(names) == 1 and names != ["all"]:
                    raise
                notes.append(f"{name}: skipped ({exc})")
    return list(dict.fromkeys(requests)), notes


def _all_targets() -> list[str]:
    from affdeploy.export.registry import target_names

    return list(target_names())
