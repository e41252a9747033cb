"""Command lines for, and parsers of, the native Android benchmark runners users build themselves.

Both formats were read from the runners' public sources:

ExecuTorch ``executor_runner`` (examples/portable/executor_runner/executor_runner.cpp) takes gflags
``--model_path``, ``--num_executions`` and ``--cpu_threads`` and logs through ET_LOG, whose default
(posix) PAL prints to stderr as ``I 00:00:01.234567 executorch:executor_runner.cpp:123] <message>``.
Recent builds log ``Model loaded in X ms.`` and one ``Iteration i of N: X ms`` line per execution;
every build since 0.1 logs the total: ``Model executed successfully N time(s) in X ms.``

ONNX Runtime ``onnxruntime_perf_test`` (onnxruntime/test/perftest/) takes ``-m times -r N -x T -I
-e cpu <model> [result_file]``. It always runs one warm-up inference of its own, prints
``Session creation time cost: X s``, ``First inference time cost: N ms``, ``Average inference time
cost[ total]: X ms`` and ``Peak working set size: N bytes`` on stdout, and appends one CSV line per
measured run to ``result_file``: ``model_name,seconds,peak_working_set,cpu_usage,run_index``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from affdeploy.errors import DeviceError

EXECUTOR_RUNNER = "executor_runner"
ORT_PERF_TEST = "onnxruntime_perf_test"

_NUM = r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)"
_ET_ITERATION = re.compile(rf"\] Iteration (\d+) of (\d+): {_NUM} ms")
_ET_TOTAL = re.compile(rf"\] Model executed successfully (\d+) time\(s\) in {_NUM} ms\.")
_ET_LOAD = re.compile(rf"\] Model loaded in {_NUM} ms\.")
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


def executor_runner_command(binary: str, model: str, *, executions: int, threads: int) -> str:
    """The device shell command line of one executor_runner process (flags every build accepts)."""
    return " ".join(
        shlex.quote(a)
        for a in (binary, f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={threads}")
    )


def parse_executor_runner(log: str, *, warmup: int) -> RunnerOutput:
    """Samples from one executor_runner log; the first ``warmup`` iterations are dropped.

    Builds that log each iteration give one sample per iteration. Older builds log only the
    total; then the whole process is one sample (total / executions) and ``warmup`` must be 0,
    because the caller runs one process per sample (see docs/android.md).
    """
    total = _ET_TOTAL.search(log)
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
    """True when this executor_runner build logs every iteration (recent builds do)."""
    return _ET_ITERATION.search(log) is not None


def ort_perf_test_command(binary: str, model: str, result_file: str, *, runs: int, threads: int, provider: str) -> str:
    """The device shell command line of one onnxruntime_perf_test run in 'times' mode with generated inputs."""
    args = (binary, "-m", "times", "-r", str(runs), "-x", str(threads), "-e", provider, "-I", model, result_file)
    return " ".join(shlex.quote(a) for a in args)


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
