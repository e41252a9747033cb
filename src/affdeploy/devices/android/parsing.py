"""Parsers of what the native Android runners print, from their public sources.

ExecuTorch ``executor_runner`` (examples/portable/executor_runner/executor_runner.cpp) logs through
ET_LOG, whose default (posix) PAL prints to stderr as ``I 00:00:01.234567
executorch:executor_runner.cpp:123] <message>``. Since 0.6 it logs the total, ``Model executed
successfully N time(s) in X ms.``; since 1.3 also ``Model loaded in X ms.`` and one ``Iteration i
of N: X ms`` line per execution. ET_LOG compiles to nothing when EXECUTORCH_ENABLE_LOGGING is off,
which ExecuTorch's CMake preset makes the default for every build type but Debug: such a build
exits 0 having printed only its ``OutputX`` lines, and is reported as such.

ONNX Runtime ``onnxruntime_perf_test`` (onnxruntime/test/perftest/) always runs one warm-up
inference of its own, prints ``Session creation time cost: X s``, ``First inference time cost: N
ms``, ``Average inference time cost[ total]: X ms`` and ``Peak working set size: N bytes`` on
stdout, and appends one CSV line per measured run to its result file:
``model_name,seconds,peak_working_set,cpu_usage,run_index``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from affdeploy.errors import DeviceError

LOGGING_HINT = (
    "rebuild executor_runner with -DEXECUTORCH_ENABLE_LOGGING=ON and the posix PAL "
    "(-DEXECUTORCH_PAL_DEFAULT=posix), as docs/android.md shows"
)

_NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_ET_ITERATION = re.compile(rf"\] Iteration (\d+) of (\d+): {_NUM} ms")
_ET_TOTAL = re.compile(rf"\] Model executed successfully (\d+) time\(s\) in {_NUM} ms\.")
_ET_LOAD = re.compile(rf"\] Model loaded in {_NUM} ms\.")
_ET_ANY = re.compile(r"^[DIEWF] \d\d:\d\d:\d\d\.\d{6} executorch:", re.M)
_ORT_SESSION = re.compile(rf"^Session creation time cost: {_NUM} s", re.M)
_ORT_FIRST = re.compile(rf"^First inference time cost: {_NUM} ms", re.M)
_ORT_AVERAGE = re.compile(rf"^Average inference time cost(?: total)?: {_NUM} ms", re.M)
_ORT_PEAK = re.compile(r"^Peak working set size: (\d+) bytes", re.M)
_ORT_ROW = re.compile(rf"^[^,\n]*,{_NUM},(\d+),(-?\d+),(\d+)\s*$", re.M)


@dataclass
class RunnerOutput:
    """What one runner invocation measured."""

    samples_ms: list[float]
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_memory_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


def parse_executor_runner(log: str, *, warmup: int) -> RunnerOutput:
    """Samples from one executor_runner log; the first ``warmup`` iterations are dropped.

    Builds that log each iteration give one sample per iteration. Builds before 1.3 log only the
    total; then the whole process is one sample (total / executions) and ``warmup`` must be 0,
    because the caller runs one process per sample (see docs/android.md).
    """
    total = _ET_TOTAL.search(log)
    if total is None and _ET_ANY.search(log) is None:
        raise DeviceError(
            "executor_runner exited 0 without printing a single ET_LOG line, so there are no timings to read: "
            "it was built without logging (ExecuTorch turns EXECUTORCH_ENABLE_LOGGING on only for Debug builds)",
            hint=LOGGING_HINT,
        )
    if total is None:
        raise DeviceError("executor_runner did not report 'Model executed successfully' (see its log above)")
    load = _ET_LOAD.search(log)
    iterations = [float(m.group(3)) for m in _ET_ITERATION.finditer(log)]
    executions = int(total.group(1))
    if iterations:
        if len(iterations) != executions:
            raise DeviceError(f"executor_runner logged {len(iterations)} iterations but reported {executions}")
        return RunnerOutput(
            samples_ms=iterations[warmup:],
            load_ms=float(load.group(1)) if load else None,
            first_inference_ms=iterations[0],
        )
    return RunnerOutput(samples_ms=[float(total.group(2)) / executions], load_ms=float(load.group(1)) if load else None)


def logs_iterations(log: str) -> bool:
    """True when this executor_runner build logs every iteration (1.3 and later)."""
    return _ET_ITERATION.search(log) is not None


def parse_ort_perf_test(stdout: str, result_csv: str) -> RunnerOutput:
    """Per-run samples from the result file, load/first-inference/peak memory from stdout."""
    samples = [float(m.group(1)) * 1000.0 for m in _ORT_ROW.finditer(result_csv)]
    if not samples:
        raise DeviceError("onnxruntime_perf_test wrote no per-run lines to its result file")
    session, first, peak, average = (p.search(stdout) for p in (_ORT_SESSION, _ORT_FIRST, _ORT_PEAK, _ORT_AVERAGE))
    notes = ["onnxruntime_perf_test ran one extra built-in warm-up inference before the measured runs"]
    if average and abs(float(average.group(1)) - sum(samples) / len(samples)) > 0.05 * float(average.group(1)) + 0.01:
        notes.append(f"runner's own average {float(average.group(1)):.3f} ms differs from the per-run lines")
    return RunnerOutput(
        samples_ms=samples,
        load_ms=float(session.group(1)) * 1000.0 if session else None,
        first_inference_ms=float(first.group(1)) if first else None,
        peak_memory_bytes=int(peak.group(1)) if peak else None,
        notes=notes,
    )
