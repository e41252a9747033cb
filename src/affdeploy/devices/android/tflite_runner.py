"""LiteRT's ``benchmark_model`` as the Android runner of ``.tflite`` artifacts, and the parser of what it prints.

Facts from its source (google-ai-edge/LiteRT tflite/tools/benchmark/, same as tensorflow/lite/tools/):
- flags (benchmark_model.cc, benchmark_tflite_model.cc, delegates/xnnpack_delegate_provider.cc):
  ``--graph``, ``--num_threads``, ``--num_runs`` (default 50), ``--min_secs`` (1.0: keeps running
  past num_runs until that much time passed), ``--max_secs`` (150: stops early), ``--warmup_runs``
  (1), ``--warmup_min_secs`` (0.5), ``--use_xnnpack`` (set explicitly, it replaces the default
  XNNPACK delegate by an explicitly applied one) and ``--report_peak_memory_footprint``.
- output: TFLITE_LOG(INFO/WARN) lines go to stdout as ``INFO: <message>``, ERROR/FATAL to stderr.
  Each of the two Run() phases (warm-up, then measured) logs the run statistics of
  tsl::StatWithPercentiles: ``count=N first=F curr=C min=A max=B avg=X std=S p5=.. median=.. p95=..``
  (``count=N curr=C(all same)`` when every run took the same time), in microseconds; then
  ``Inference timings in us: Init: I, First inference: F, Warmup (avg): W, Inference (avg): X``;
  memory: ``Memory footprint delta from the start of the tool (MB): init=.. overall=..`` and, with
  the peak flag, ``Overall peak memory footprint (MB) via periodic monitoring: ..``; delegation:
  ``Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the
  delegate.`` (or ``partially executed ... w/ N delegate kernels.``). Averages are C++ doubles
  streamed with 6 significant digits, so a 1.5 s run prints ``1.5e+06``.

It prints no per-run times, only these aggregates, so ``bench`` runs one process per sample (each
after its own warm-up runs) with ``--min_secs=0`` so each process runs exactly what it is told.

Inputs (benchmark_tflite_model.cc): random data for every input at the model's shapes. With
``--input_layer=a,b --input_layer_shape=1,2:3,4`` it resizes them first; the two lists must have as
many items as each other (else an error) and as the model has inputs (else a CHECK aborts), each
shape the input's rank, and no -1 ("Any unknown sizes in the shapes (-1's) must be replaced with the
size you want to benchmark with"); a name that differs from the tensor's is only a WARN.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from affdeploy.devices.android.parsing import RunnerOutput
from affdeploy.devices.android.runners import Job, Measured, NativeRunner, register
from affdeploy.devices.android.session import AndroidSession, Step
from affdeploy.errors import DeviceError, UsageError

NAME = "benchmark_model"
_NUM = r"(-?(?:[0-9]+(?:\.[0-9]*)?|nan|inf)(?:[eE][-+]?[0-9]+)?)"
_TIMINGS = re.compile(
    rf"^INFO: Inference timings in us: Init: {_NUM}, First inference: {_NUM}, "
    rf"Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", re.M)
_STATS = re.compile(r"^INFO: (count=\d+.*)$", re.M)
_STAT_FIELD = re.compile(rf"(\w+)={_NUM}")
_MEMORY = re.compile(rf"^INFO: Memory footprint delta from the start of the tool \(MB\): init={_NUM} overall={_NUM}", re.M)
_PEAK = re.compile(rf"^INFO: Overall peak memory footprint \(MB\) via periodic monitoring: {_NUM}", re.M)
_DELEGATION = re.compile(r"^INFO: ((?:Explicitly applied|Though) \S+ delegate.*)$", re.M)
_PARTIAL = re.compile(r"partially executed by the delegate w/ (\d+) delegate kernels")


@dataclass
class BenchmarkModelOutput:
    """Everything one benchmark_model process reported (times in microseconds, memory in MB)."""

    init_us: float
    first_us: float
    warmup_avg_us: float
    inference_avg_us: float
    runs: list[dict[str, float]]  # the statistics lines: warm-up phase, then measured phase
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_mb: float | None = None
    delegation: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def measured_runs(self) -> int:
        return int(self.runs[-1]["count"]) if self.runs else 0


def _stat_line(text: str) -> dict[str, float]:
    """``count=5 first=.. curr=..(all same) ..`` -> its fields (an all-same line has only count and curr)."""
    fields = {k: float(v) for k, v in _STAT_FIELD.findall(text)}
    if fields["count"] and "min" not in fields:
        fields.update(first=fields["curr"], min=fields["curr"], max=fields["curr"], avg=fields["curr"], std=0.0)
    return fields


def parse_benchmark_model(stdout: str) -> BenchmarkModelOutput:
    """What one benchmark_model run printed; a run without its timings line is a DeviceError."""
    timings = _TIMINGS.search(stdout)
    if timings is None:
        raise DeviceError(f"{NAME} exited 0 without its 'Inference timings in us' line, so there are no timings to read")
    init, first, warmup, average = (float(v) for v in timings.groups())
    memory, peak, delegation = _MEMORY.search(stdout), _PEAK.search(stdout), _DELEGATION.search(stdout)
    out = BenchmarkModelOutput(
        init_us=init, first_us=first, warmup_avg_us=warmup, inference_avg_us=average,
        runs=[_stat_line(m.group(1)) for m in _STATS.finditer(stdout)],
        memory_init_mb=float(memory.group(1)) if memory else None,
        memory_overall_mb=float(memory.group(2)) if memory else None,
        peak_mb=float(peak.group(1)) if peak and float(peak.group(1)) > 0 else None,
        delegation=delegation.group(1) if delegation else None,
    )
    if out.delegation is None or not out.delegation.startswith("Explicitly applied"):
        out.notes.append(f"{NAME}: {out.delegation or 'no delegate was applied'}")
    elif (partial := _PARTIAL.search(out.delegation)) is not None:
        out.notes.append(f"{NAME}: XNNPACK took the graph in {partial.group(1)} delegate kernels, the rest "
                         "ran on CPU kernels")
    return out


def benchmark_model_command(binary: str, model: str, *, threads: int, warmup: int, runs: int,
                            input_layers: Sequence[str] = ()) -> str:
    """One process: ``warmup`` + ``runs`` inferences exactly (min_secs 0), XNNPACK explicitly applied."""
    return shlex.join([binary, f"--graph={model}", f"--num_threads={threads}", f"--warmup_runs={warmup}",
                       "--warmup_min_secs=0", f"--num_runs={runs}", "--min_secs=0", "--max_secs=600",
                       "--use_xnnpack=true", "--report_peak_memory_footprint=true", *input_layers])


def tflite_inputs(path: Path) -> list[tuple[str, list[int]]] | None:
    """Name and shape signature (-1: a dynamic dim) of each input of the .tflite; None without ai-edge-litert here."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    graph = schema.Model.GetRootAs(path.read_bytes(), 0).Subgraphs(0)
    tensors = [graph.Tensors(graph.Inputs(i)) for i in range(graph.InputsLength())]
    return [(t.Name().decode(), [int(d) for d in (t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength()
                                                  else t.ShapeAsNumpy())]) for t in tensors]


def input_layer_flags(job: Job) -> tuple[list[str], list[str]]:
    """``--input_layer``/``--input_layer_shape`` at the example sizes when the .tflite has a dynamic dim, and notes.

    benchmark_model otherwise runs a dynamic dim at the size stored in the file; its flags must name
    every input (a count mismatch aborts it) and take no -1.
    """
    declared = tflite_inputs(job.artifact)
    shown = ", ".join(map(str, job.inputs))
    if declared is None or all(d >= 0 for _, shape in declared for d in shape):
        return [], [f"{NAME} fills every input with random values at the .tflite's static shapes: {shown}"] if shown else []
    dynamic = [f"{name} {shape}" for name, shape in declared if min(shape) < 0]
    if len(job.inputs) != len(declared) or any(len(i.shape) != len(s)
                                               for i, (_, s) in zip(job.inputs, declared, strict=True)):
        raise UsageError(f"{job.artifact.name} has dynamic input dims ({', '.join(dynamic)}) that no example input "
                         f"sizes; {NAME} would run them at the sizes stored in the file",
                         hint="bench the model by --model (affdeploy's .tflite export has static shapes)")
    shapes = ":".join(",".join(map(str, i.shape)) for i in job.inputs)
    flags = [f"--input_layer={','.join(name for name, _ in declared)}", f"--input_layer_shape={shapes}"]
    return flags, [f"{NAME} resized the dynamic inputs ({', '.join(dynamic)}) to the example shapes with {' '.join(flags)}"
                   f" and fills every input with random values: {shown}"]


def measure_benchmark_model(session: AndroidSession, job: Job, binary: str) -> Measured:
    """One process per sample: benchmark_model reports only aggregates of the runs in one process."""
    flags, input_notes = input_layer_flags(job)
    command, notes = session.pinned(
        benchmark_model_command(binary, job.remote_artifact, threads=job.threads, warmup=job.warmup, runs=1,
                                input_layers=flags),
        job.threads)
    outputs = []
    step = Step(NAME, job.artifact.name, job.warmup + 1, job.warmup, "one-sample")
    for index in range(job.iters):
        session.report_sample_process(index, job.iters)
        out = parse_benchmark_model(session.run_checked(command, step).stdout)
        if out.measured_runs != 1:
            raise DeviceError(f"{NAME} ran {out.measured_runs} measured runs instead of 1 (see --min_secs/--max_secs)")
        outputs.append(out)
    first = outputs[0]
    notes.append(f"{NAME} prints only aggregates: one process per sample, each after {job.warmup} warm-up runs "
                 "(--min_secs=0 --warmup_min_secs=0), XNNPACK applied explicitly (--use_xnnpack=true)")
    notes += input_notes
    if first.memory_overall_mb is not None:
        notes.append(f"{NAME} memory footprint delta init={first.memory_init_mb} MB overall={first.memory_overall_mb} MB")
    output = RunnerOutput(
        samples_ms=[o.inference_avg_us / 1000.0 for o in outputs],
        load_ms=first.init_us / 1000.0,
        first_inference_ms=first.first_us / 1000.0 if job.warmup else None,  # "first" is the first warm-up run
        peak_memory_bytes=int(first.peak_mb * 2**20) if first.peak_mb is not None else None,
        notes=first.notes,
    )
    return Measured(NAME, output, notes=notes + output.notes)


register(NativeRunner(
    target="tflite", name=NAME, backend="xnnpack", option="--tflite-benchmark", env="AFFDEPLOY_TFLITE_BENCHMARK",
    measure=measure_benchmark_model,
))  # fmt: skip
