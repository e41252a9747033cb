"""The benchmark result schema, shared by the host engine, the Android app and the iOS app.

A results file is a JSON object ``{"schema": SCHEMA_ID, "records": [BenchRecord, ...]}``.
One record per model x target x fft x threads x device (x backend/compute unit). Raw samples
are always kept so that statistics can be recomputed and compared later. Field names are
snake_case; times are milliseconds, memory is bytes. docs/results-schema.md documents it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from affdeploy.errors import AffdeployError

SCHEMA_ID = "affdeploy.bench/v1"


@dataclass
class Stats:
    """Summary statistics of the per-iteration latencies (ms)."""

    count: int
    min: float
    max: float
    mean: float
    std: float
    p50: float
    p90: float
    p99: float
    trimmed_mean: float  # mean after dropping floor(0.1 * n) samples from each end
    cv: float  # std / mean
    median_ci95: tuple[float, float]  # bootstrap 95% interval of the median
    noisy: bool  # cv above the engine's threshold


@dataclass
class DeviceInfo:
    """Where a record was measured."""

    kind: str  # "host" | "android" | "ios"
    name: str  # profile name (pixel7, iphone15pro) or hostname
    model: str = ""  # ro.product.model / machine model
    manufacturer: str = ""
    serial: str = ""
    soc: str = ""
    abi: str = ""  # arm64-v8a, x86_64 ...
    os: str = ""  # "Linux 6.1", "Android 14", "iOS 17.4"
    cpu: str = ""
    cores: int = 0
    memory_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # clusters, thermal, battery ...


@dataclass
class BenchRecord:
    """One measured configuration."""

    model: str  # affnet-et | affnet-t | affnet
    target: str  # torch | onnx | executorch | coreml
    backend: str  # cpu | xnnpack | coreml-ane | coreml-gpu | portable | ort-cpu ...
    fft: str  # native | dft
    threads: int
    precision: str  # fp32 | fp16
    image_size: int
    device: DeviceInfo
    runner: str  # affdeploy-host | android-app | executor_runner | onnxruntime_perf_test | ios-xctest
    samples_ms: list[float]
    stats: Stats
    warmup: int
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_rss_growth_bytes: int | None = None
    macs: int | None = None
    gmacs_per_s: float | None = None  # macs / p50
    artifact_sha256: str = ""
    artifact_path: str = ""
    tools: dict[str, str] = field(default_factory=dict)  # package -> version
    timestamp: str = ""  # ISO 8601 UTC
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA_ID

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stats"]["median_ci95"] = list(self.stats.median_ci95)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BenchRecord":
        """Parse and validate one record; a clear error names the first bad field."""
        if data.get("schema", SCHEMA_ID) != SCHEMA_ID:
            raise AffdeployError(f"unsupported result schema {data.get('schema')!r} (expected {SCHEMA_ID})")
        try:
            names = {f.name for f in fields(cls)}
            kwargs = {k: v for k, v in data.items() if k in names}
            stats = dict(data["stats"])
            stats["median_ci95"] = tuple(stats["median_ci95"])
            kwargs["stats"] = Stats(**stats)
            kwargs["device"] = DeviceInfo(**data["device"])
            kwargs["samples_ms"] = [float(s) for s in data["samples_ms"]]
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise AffdeployError(f"malformed benchmark record: {exc}") from None


def dump_results(records: list[BenchRecord]) -> dict[str, Any]:
    """The JSON document for a list of records."""
    return {"schema": SCHEMA_ID, "records": [r.to_dict() for r in records]}


def load_results(path: str | os.PathLike[str]) -> list[BenchRecord]:
    """Read a results file written by the host engine, the Android app or the iOS app."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise AffdeployError(f"results file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AffdeployError(f"{path} is not a readable JSON results file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID or not isinstance(doc.get("records"), list):
        raise AffdeployError(f"{path} is not an affdeploy results file (expected schema {SCHEMA_ID})")
    return [BenchRecord.from_dict(r) for r in doc["records"]]
