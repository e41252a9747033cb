"""Building a result record: the one place that turns raw timings into a ``BenchRecord``.

Host, Android and iOS runners measure in different ways but report the same facts, so statistics,
MACs, GMAC/s and the timestamp are derived here once (MACs and GMAC/s from ``models/profile.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from affdeploy.bench.request import NOISY_CV
from affdeploy.bench.schema import BenchRecord, DeviceInfo
from affdeploy.bench.stats import compute_stats
from affdeploy.models.profile import gmacs_per_s, model_macs
from affdeploy.models.source import is_user_model
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE


def record_image_size(image_size: int | None) -> int:
    """A result record's ``image_size``: AFFNet's; a user model has none and records the export default, as
    results and the apps' arguments always have (they take an int)."""
    return DEFAULT_IMAGE_SIZE if image_size is None else image_size


@dataclass(frozen=True)
class Subject:
    """What was measured: one model in one runtime configuration."""

    model: str
    target: str
    backend: str
    fft: str
    threads: int
    precision: str
    image_size: int
    artifact: Path | None = None
    artifact_sha256: str = ""
    model_sha256: str = ""  # a user model's .pt2 / factory source (``model`` names the file or factory)


@dataclass(frozen=True)
class Timing:
    """What a runner measured for a subject (None: the runner cannot tell)."""

    samples_ms: list[float]
    warmup: int
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_rss_growth_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


def build_record(subject: Subject, timing: Timing, device: DeviceInfo, runner: str, tools: dict[str, str]) -> BenchRecord:
    """The schema record of one measured configuration (``device`` copied, so records never share state)."""
    stats = compute_stats(timing.samples_ms, cv_threshold=NOISY_CV)
    macs = None if is_user_model(subject.model) else model_macs(subject.model, subject.image_size)
    return BenchRecord(
        model=subject.model, target=subject.target, backend=subject.backend, fft=subject.fft,
        threads=subject.threads, precision=subject.precision, image_size=subject.image_size,
        device=replace(device, extra=dict(device.extra)), runner=runner, samples_ms=list(timing.samples_ms),
        stats=stats, warmup=timing.warmup, load_ms=timing.load_ms, first_inference_ms=timing.first_inference_ms,
        peak_rss_growth_bytes=timing.peak_rss_growth_bytes, macs=macs, gmacs_per_s=gmacs_per_s(macs, stats.p50),
        artifact_sha256=subject.artifact_sha256, artifact_path=str(subject.artifact) if subject.artifact else "",
        model_sha256=subject.model_sha256,
        tools=dict(tools), timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=list(timing.notes),
    )
