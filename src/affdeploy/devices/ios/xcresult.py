"""Reading an xcresult bundle's JSON: the results attachment and XCTest's metrics, in both formats.

Xcode 16+ exports attachments with a manifest and metrics as one JSON document; Xcode 15 and
older only expose the legacy typed object graph. Both end up as records and XcMetric lists.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.ios.app import RESULTS_NAME

CLOCK_METRIC = "com.apple.dt.XCTMetric_Clock.time.monotonic"
MEMORY_METRIC = "com.apple.dt.XCTMetric_Memory.physical"
_METRIC_TEST = re.compile(r"test(Load|Predict)_(coreml_cpu|coreml_gpu|coreml_ane|coreml_all|xnnpack)\b")
_UNIT_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}
_UNIT_TO_BYTES = {"B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def parse_xcresulttool_version(text: str) -> int:
    """``xcresulttool version 23500, format version 3.53 (current)`` -> 23500 (0 if unreadable)."""
    match = re.search(r"version\s+(\d+)", text)
    return int(match.group(1)) if match else 0



@dataclass
class XcMetric:
    """One XCTest performance metric of one test (all its measure iterations)."""

    test: str
    identifier: str
    name: str
    unit: str
    measurements: list[float]


def attachment_files(manifest: list[dict[str, Any]], folder: Path, name: str = RESULTS_NAME) -> list[Path]:
    """Files exported by ``xcresulttool export attachments`` whose attachment is called ``name``.

    XCTest appends ``_<index>_<UUID>`` to the name the test gave, so the stem is matched.
    """
    stem, suffix = os.path.splitext(name)
    found = []
    for test in manifest:
        for att in test.get("attachments", []):
            shown = att.get("suggestedHumanReadableName") or att.get("exportedFileName", "")
            if shown == name or (shown.startswith(f"{stem}_") and shown.endswith(suffix)):
                found.append(folder / att["exportedFileName"])
    return found


def metrics_from_test_results(doc: list[dict[str, Any]]) -> list[XcMetric]:
    """Metrics in the JSON of ``xcresulttool get test-results metrics`` (Xcode 16.3+)."""
    out = []
    for test in doc:
        test_id = test.get("testIdentifier", "")
        for run in test.get("testRuns", []):
            for metric in run.get("metrics", []):
                out.append(
                    XcMetric(
                        test=test_id,
                        identifier=metric.get("identifier", ""),
                        name=metric.get("displayName", ""),
                        unit=metric.get("unitOfMeasurement", ""),
                        measurements=[float(v) for v in metric.get("measurements", [])],
                    )
                )
    return out


def legacy_plain(node: Any) -> Any:
    """The legacy typed JSON (``{"_type": ..., "_value": ...}`` / ``"_values"``) as plain Python.

    Objects keep their type name under ``"_type"`` so a walker can pick them out.
    """
    if isinstance(node, dict):
        if "_values" in node:
            return [legacy_plain(v) for v in node["_values"]]
        if "_value" in node:
            return node["_value"]
        plain = {k: legacy_plain(v) for k, v in node.items() if not k.startswith("_")}
        plain["_type"] = node.get("_type", {}).get("_name", "")
        return plain
    if isinstance(node, list):
        return [legacy_plain(v) for v in node]
    return node


def _objects(node: Any, type_name: str) -> Iterator[dict[str, Any]]:
    """Every object of ``type_name`` anywhere inside a legacy_plain tree."""
    if isinstance(node, dict):
        if node.get("_type") == type_name:
            yield node
        for value in node.values():
            yield from _objects(value, type_name)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, type_name)


def legacy_tests_refs(root: dict[str, Any]) -> list[str]:
    """Ids of the test-plan summaries referenced by the root ActionsInvocationRecord."""
    plain = legacy_plain(root)
    return [a["actionResult"]["testsRef"]["id"] for a in plain.get("actions", [])
            if a.get("actionResult", {}).get("testsRef")]


def legacy_summary_refs(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(test identifier, summaryRef id) of every test in an ActionTestPlanRunSummaries object."""
    return [
        (meta.get("identifier", ""), meta["summaryRef"]["id"])
        for meta in _objects(legacy_plain(plan), "ActionTestMetadata")
        if meta.get("summaryRef")
    ]


def legacy_attachments(summary: dict[str, Any], name: str = RESULTS_NAME) -> list[tuple[str, str]]:
    """(payload id, filename) of the attachments called ``name`` in an ActionTestSummary."""
    return [
        (att["payloadRef"]["id"], att.get("filename", name))
        for att in _objects(legacy_plain(summary), "ActionTestAttachment")
        if att.get("name") == name and att.get("payloadRef")
    ]


def legacy_metrics(summary: dict[str, Any]) -> list[XcMetric]:
    """The performanceMetrics of one ActionTestSummary."""
    plain = legacy_plain(summary)
    return [
        XcMetric(
            test=plain.get("identifier", ""),
            identifier=m.get("identifier", ""),
            name=m.get("displayName", ""),
            unit=m.get("unitOfMeasurement", ""),
            measurements=[float(v) for v in m.get("measurements", [])],
        )
        for m in plain.get("performanceMetrics", [])
    ]


def merge_metrics(records: list[BenchRecord], metrics: list[XcMetric], model: str) -> list[BenchRecord]:
    """Fold the XCTest measure(metrics:) results of ``model`` into the matching records.

    MetricTests name their methods ``testLoad_<backend>``/``testPredict_<backend>``; their clock
    medians become notes (and load_ms when the app's own timer did not set it), their physical
    memory growth fills peak_rss_growth_bytes when missing.
    """
    by_backend: dict[str, list[tuple[str, XcMetric]]] = {}
    for metric in metrics:
        match = _METRIC_TEST.search(metric.test)
        if match and metric.measurements:
            by_backend.setdefault(match.group(2).replace("_", "-"), []).append((match.group(1), metric))
    merged = []
    for rec in records:
        rec = replace(rec, notes=list(rec.notes))
        for phase, metric in by_backend.get(rec.backend, []) if rec.model == model else []:
            if metric.identifier == CLOCK_METRIC and metric.unit in _UNIT_TO_MS:
                median_ms = statistics.median(metric.measurements) * _UNIT_TO_MS[metric.unit]
                rec.notes.append(f"XCTClockMetric {phase.lower()}: median {median_ms:.3f} ms "
                                 f"over {len(metric.measurements)}")
                if phase == "Load" and rec.load_ms is None:
                    rec.load_ms = median_ms
            elif metric.identifier == MEMORY_METRIC and metric.unit in _UNIT_TO_BYTES and phase == "Predict":
                if rec.peak_rss_growth_bytes is None:
                    rec.peak_rss_growth_bytes = int(max(metric.measurements) * _UNIT_TO_BYTES[metric.unit])
        merged.append(rec)
    return merged


