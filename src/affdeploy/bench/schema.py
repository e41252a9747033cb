"""The benchmark result schema, shared by the host engine, the Android app and the iOS app.

A results file is a JSON object ``{"schema": SCHEMA_ID, "records": [BenchRecord, ...]}``.
One record per model x target x fft x threads x device (x backend/compute unit). Raw samples
are always kept so that statistics can be recomputed and compared later. Field names are
snake_case; times are milliseconds, memory is bytes. docs/results-schema.md documents it.

Loading checks more than types, because ``report`` and ``compare`` act on what a file says: times are
finite and non-negative, percentiles are ordered, the statistics agree with the raw samples, texts are
short and printable, and no configuration appears twice in one file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from affdeploy.errors import AffdeployError
from affdeploy.fsutil import check_readable_file

SCHEMA_ID = "affdeploy.bench/v1"
MAX_NAME = 256
"""Longest text a record may hold in a name or table cell: a 10 MB model name made ``report`` run for minutes."""
MAX_TEXT = 4096
"""Longest free text (``notes``, ``artifact_path``), which tables do not show."""
FREE_TEXT = ("notes", "artifact_path")
_TOLERANCE = 1e-6  # relative: the apps compute the statistics in Java/Swift doubles
Key = tuple[str, str, str, str, int, str, int, str]
KEY_FIELDS = ("model", "target", "backend", "fft", "threads", "precision", "image_size", "device")


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
    model_sha256: str = ""  # a user model's .pt2 file or factory module source; empty for AFFNet
    tools: dict[str, str] = field(default_factory=dict)  # package -> version
    timestamp: str = ""  # ISO 8601 UTC
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA_ID

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stats"]["median_ci95"] = list(self.stats.median_ci95)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "benchmark record") -> BenchRecord:
        """Parse and validate one record against the schema; an error names the record, the field and what was expected."""
        if not isinstance(data, dict):
            raise AffdeployError(f"{where} is {_kind(data)}, expected an object")
        label = " ".join(str(data[k]) for k in ("model", "target", "backend") if isinstance(data.get(k), str))
        where = f"{where} ({label})" if label else where
        if data.get("schema", SCHEMA_ID) != SCHEMA_ID:
            raise AffdeployError(f"{where} has schema {data.get('schema')!r}; this affdeploy reads {SCHEMA_ID}")
        record = _build(cls, data, where, "")
        _check_stats(record, where)
        return record


def device_identity(d: DeviceInfo) -> str:
    """The hardware a record ran on, not the machine's name: CI runners change hostnames, not CPUs."""
    what = (d.cpu or d.model) if d.kind == "host" else (d.model or d.cpu)
    if d.soc and d.soc not in what:
        what = f"{what} ({d.soc})" if what else d.soc
    return f"{d.kind} {what}" if what else f"{d.kind} {d.name}"


def record_key(r: BenchRecord) -> Key:
    """What defines a configuration across runs: model, target, backend, fft, threads, precision, size, hardware."""
    return (r.model, r.target, r.backend, r.fft, r.threads, r.precision, r.image_size, device_identity(r.device))


def _check_stats(r: BenchRecord, where: str) -> None:
    """Statistics that could have come from a real run, so ``compare`` never judges a made-up number."""
    s = r.stats
    times = {"samples_ms": min(r.samples_ms, default=0.0), "load_ms": r.load_ms or 0.0,
             "first_inference_ms": r.first_inference_ms or 0.0, "stats.std": s.std, "stats.cv": s.cv,
             **{f"stats.{name}": getattr(s, name) for name in ("min", "p50", "mean", "trimmed_mean")},
             "stats.median_ci95": min(s.median_ci95)}
    for name, value in times.items():
        if value < 0:
            raise AffdeployError(f"{where}: field '{name}' holds {value:g}, expected times >= 0")
    ordered = [("min", s.min), ("p50", s.p50), ("p90", s.p90), ("p99", s.p99), ("max", s.max)]
    for (low_name, low), (high_name, high) in zip(ordered, ordered[1:], strict=False):
        if not _at_most(low, high):
            raise AffdeployError(f"{where}: stats.{low_name} ({low:g}) is above stats.{high_name} ({high:g}); "
                                 "percentiles must be ordered min <= p50 <= p90 <= p99 <= max")
    if not _at_most(*s.median_ci95):
        raise AffdeployError(f"{where}: stats.median_ci95 {list(s.median_ci95)} is not an interval (low > high)")
    if not r.samples_ms:
        return
    if s.count != len(r.samples_ms):
        raise AffdeployError(f"{where}: stats.count is {s.count} but the record holds {len(r.samples_ms)} samples")
    low, high = min(r.samples_ms), max(r.samples_ms)
    if not (_at_most(low, s.p50) and _at_most(s.p50, high)):
        raise AffdeployError(f"{where}: stats.p50 ({s.p50:g}) lies outside its samples ({low:g} to {high:g} ms)")


def _at_most(low: float, high: float) -> bool:
    return low <= high + _TOLERANCE * max(abs(low), abs(high))


_CONTAINERS: dict[type, str] = {list: "a list", dict: "an object"}


def _kind(value: Any) -> str:
    """How a JSON value reads in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return _CONTAINERS.get(type(value), type(value).__name__)


def _expected(tp: Any) -> str:
    """``list[float]`` -> "a list of numbers", for error messages."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is UnionType:
        return " or ".join("null" if a is type(None) else _expected(a) for a in args)
    if origin is list:
        return f"a list of {_expected(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is tuple:
        return f"a list of {len(args)} numbers"
    if origin is dict or is_dataclass(tp):
        return "an object"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, "any value")


def _value(value: Any, tp: Any, where: str, name: str) -> Any:
    """``value`` checked against the annotation ``tp`` (and converted: tuples, nested dataclasses)."""
    origin, args = get_origin(tp), get_args(tp)

    def bad(path: str = name) -> AffdeployError:
        return AffdeployError(f"{where}: field '{path}' is {_kind(value)}, expected {_expected(tp)}")

    if tp is Any:
        return value
    if origin is UnionType:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        if is_dataclass(inner) or get_origin(inner) is not None:
            return _value(value, inner, where, name)  # errors deeper inside name their own field
        try:
            return _value(value, inner, where, name)
        except AffdeployError:
            raise bad() from None
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, where, f"{name}.")
    if origin is list or origin is tuple:
        if not isinstance(value, list) or (origin is tuple and len(value) != len(args)):
            raise bad()
        items = [_value(v, args[0] if origin is list else args[i], where, f"{name}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        return {str(k): _value(v, args[1], where, f"{name}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad()
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if not isinstance(value, tp):
        raise bad()
    if tp is str:
        _check_text(value, where, name)
    return value


def _check_text(value: str, where: str, name: str) -> None:
    """Bounded, printable text: a huge name stalls every table, control characters rewrite the terminal."""
    free = name.split("[")[0] in FREE_TEXT
    limit = MAX_TEXT if free else MAX_NAME
    if len(value) > limit:
        raise AffdeployError(f"{where}: field '{name}' holds {len(value):,} characters, at most {limit} are allowed")
    if not (value.replace("\n", " ").replace("\t", " ") if free else value).isprintable():  # notes keep lines, tabs
        raise AffdeployError(f"{where}: field '{name}' holds control characters ({value[:40]!r})")


def _build(cls: Any, data: dict[str, Any], where: str, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from ``data``; unknown keys are ignored (newer writers)."""
    hints = get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise AffdeployError(f"{where}: field '{prefix}{f.name}' is missing, expected {_expected(hints[f.name])}")
            continue
        kwargs[f.name] = _value(data[f.name], hints[f.name], where, prefix + f.name)
    return cls(**kwargs)


def dump_results(records: list[BenchRecord]) -> dict[str, Any]:
    """The JSON document for a list of records."""
    return {"schema": SCHEMA_ID, "records": [r.to_dict() for r in records]}


def load_results(path: str | os.PathLike[str]) -> list[BenchRecord]:
    """Read a results file written by the host engine, the Android app or the iOS app."""
    path = Path(path)
    check_readable_file(path, "results file")
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise AffdeployError(f"results file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AffdeployError(f"{path} is not a readable JSON results file ({exc})") from None
    if not isinstance(doc, dict) or "schema" not in doc:
        raise AffdeployError(f"{path} is not an affdeploy results file (expected an object with schema {SCHEMA_ID})")
    if doc["schema"] != SCHEMA_ID:
        if str(doc["schema"]).startswith(SCHEMA_ID.split("/")[0] + "/"):  # another version of our own schema
            raise AffdeployError(f"{path} has schema {doc['schema']!r}; this affdeploy reads {SCHEMA_ID}",
                                 hint="upgrade affdeploy or re-run the benchmark")
        raise AffdeployError(f"{path} is not a benchmark results file: its schema is {doc['schema']!r}, expected "
                             f"{SCHEMA_ID}", hint="'affdeploy bench --json FILE' writes one")
    if not isinstance(doc.get("records"), list):
        raise AffdeployError(f"{path}: 'records' is {_kind(doc.get('records'))}, expected a list of records")
    records = [BenchRecord.from_dict(r, f"{path}: record {i}") for i, r in enumerate(doc["records"])]
    seen: dict[Key, int] = {}
    for i, record in enumerate(records):
        first = seen.setdefault(record_key(record), i)
        if first != i:
            raise AffdeployError(f"{path}: records {first} and {i} measure the same configuration "
                                 f"({' '.join(map(str, record_key(record)))})",
                                 hint="keep one record per configuration; put separate runs in separate files")
    return records
