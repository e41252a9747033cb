"""The native Android benchmark runners, one registry entry per export target.

A runner is a binary the user builds for Android (docs/android.md). Each entry says which target's
artifacts it runs, which ``bench`` option and environment variable name the binary, and how one
configuration is measured with it. ``bench --executor-runner PATH`` (or AFFDEPLOY_EXECUTOR_RUNNER)
picks the ExecuTorch runner; a new runner (TFLite's benchmark_model, say) is one more
:func:`register` call and one more ``bench`` option.

A user model's job carries its inputs at their example shapes (:class:`ModelInput`). How each tool
feeds inputs, from its source: executor_runner fills every input with ones at the sizes the .pte's
method metadata declares (a dynamic dim at its upper bound; only the newest builds have
``--input_shapes``); onnxruntime_perf_test ``-I`` generates every input with each free dim at 1
unless ``-f dim_param:size`` overrides it (ort_test_session.cc); benchmark_model fills every input
with random data at the model's shapes (benchmark_tflite_model.cc). So ONNX free dims get ``-f``
with the example sizes, and the notes of each record say which shapes ran.
"""

from __future__ import annotations

import logging
import os
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from affdeploy.devices.android import parsing
from affdeploy.devices.android.session import DEVICE_DIR, AndroidSession, Step
from affdeploy.errors import UsageError
from affdeploy.export.request import ExportRequest

log = logging.getLogger(__name__)

RUNNER_CHOICE_ENV = "AFFDEPLOY_ANDROID_RUNNER"  # auto | native | app
RUNNER_CHOICES = ("auto", "native", "app")


@dataclass(frozen=True)
class ModelInput:
    """One input of a user model as the runners must feed it (AFFNet's single image input needs no description)."""

    name: str
    shape: tuple[int, ...]  # the example input's shape: what the host bench and parity run
    dtype: str
    dynamic: tuple[int, ...] = ()  # axes torch.export recorded as dynamic

    def __str__(self) -> str:
        return f"{self.name} [{', '.join(map(str, self.shape))}] {self.dtype}"


@dataclass(frozen=True)
class Job:
    """One configuration to measure on the phone: the artifact, what it was exported from, how to run it."""

    export: ExportRequest
    artifact: Path
    fft: str  # the artifact's FFT mode as exported ("unknown" for a given --artifact under --fft auto)
    threads: int
    warmup: int
    iters: int
    inputs: tuple[ModelInput, ...] = ()  # a user model's inputs (empty for AFFNet)
    model_sha256: str = ""  # a user model's .pt2 / factory source

    @property
    def target(self) -> str:
        return self.export.target

    @property
    def remote_artifact(self) -> str:
        return f"{DEVICE_DIR}/{self.artifact.name}"


@dataclass
class Measured:
    """What a runner measured for one Job, and how."""

    runner: str
    output: parsing.RunnerOutput
    notes: list[str] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NativeRunner:
    """A runner binary and how affdeploy drives it."""

    target: str  # the export target whose artifacts it runs
    name: str  # the binary's name, and the record's "runner"
    backend: str  # the record's "backend"
    option: str  # the `affdeploy bench` option naming the binary
    env: str  # the environment variable naming it when the option is not given
    measure: Callable[[AndroidSession, Job, str], Measured]  # (session, job, device path of the binary)
    libraries: tuple[str, ...] = ()  # shared libraries pushed with the binary when they lie beside it

    def device_files(self, host_path: Path) -> tuple[str, list[tuple[Path, str]]]:
        """Device path of the binary, and every (host, device) file it needs."""
        remote = f"{DEVICE_DIR}/{host_path.name}"
        libs = [host_path.parent / name for name in self.libraries]
        return remote, [(host_path, remote), *((lib, f"{DEVICE_DIR}/{lib.name}") for lib in libs if lib.is_file())]


RUNNERS: dict[str, NativeRunner] = {}


def register(runner: NativeRunner) -> NativeRunner:
    """Add ``runner`` as the native runner of its target."""
    RUNNERS[runner.target] = runner
    return runner


@dataclass
class RunnerPaths:
    """Host paths of the native runners by target, and whether the benchmark app may stand in."""

    paths: dict[str, Path] = field(default_factory=dict)
    choice: str = "auto"  # auto: native runner when configured, else the app | native | app

    @classmethod
    def resolve(cls, given: Mapping[str, Path] | None = None, env: Mapping[str, str] | None = None) -> RunnerPaths:
        """Paths given on the command line, else from each runner's environment variable; all must exist."""
        env = os.environ if env is None else env
        paths = {t: Path(env[r.env]).expanduser() for t, r in RUNNERS.items() if env.get(r.env)}
        paths.update({t: Path(p).expanduser() for t, p in (given or {}).items()})
        for target, path in paths.items():
            runner = RUNNERS[target]
            if not path.is_file():
                raise UsageError(f"{runner.name} {path} does not exist", hint=f"check {runner.option} / {runner.env}")
        choice = env.get(RUNNER_CHOICE_ENV, "auto")
        if choice not in RUNNER_CHOICES:
            raise UsageError(f"{RUNNER_CHOICE_ENV} must be one of {', '.join(RUNNER_CHOICES)}, not {choice!r}")
        log.debug("native runners %s, %s=%s", {t: str(p) for t, p in paths.items()} or "none", RUNNER_CHOICE_ENV, choice)
        return cls(paths, choice)

    def native(self, target: str) -> Path | None:
        """The binary to run ``target`` with, None when the app should (or must) measure it."""
        return None if self.choice == "app" else self.paths.get(target)


# ----------------------------------------------------------------------------- ExecuTorch executor_runner


def executor_runner_command(binary: str, model: str, *, executions: int, threads: int) -> str:
    """One executor_runner process; --num_executions and --cpu_threads exist since ExecuTorch 0.6."""
    return shlex.join([binary, f"--model_path={model}", f"--num_executions={executions}", f"--cpu_threads={threads}"])


def pte_input_sizes(path: Path) -> list[tuple[int, ...]]:
    """Sizes of the inputs of a .pte's first method as its metadata declares them.

    For a dynamic dim that size is the upper bound memory planning allotted: executor_runner sizes
    every input from this metadata (extension/runner_util/inputs.cpp), so that is what it runs.
    """
    from affdeploy.etruntime import input_sizes

    return input_sizes(path)


def executor_runner_inputs(job: Job) -> list[str]:
    """What executor_runner feeds a user model: ones, at the .pte's sizes (a dynamic dim at its upper bound)."""
    if not job.inputs:
        return []
    sizes = pte_input_sizes(job.artifact)
    if len(sizes) != len(job.inputs):
        raise UsageError(f"{job.artifact.name} takes {len(sizes)} inputs but {job.export.model} has {len(job.inputs)}",
                         hint="export the model again (affdeploy export --target executorch)")
    declared = list(zip(job.inputs, sizes, strict=True))
    shapes = ", ".join(str(ModelInput(i.name, shape, i.dtype)) for i, shape in declared)
    notes = [f"executor_runner fills every input with ones at the sizes the .pte declares: {shapes}"]
    bounded = [f"{i.name} dim {axis} at its upper bound {shape[axis]} (example {i.shape[axis]})"
               for i, shape in declared for axis in i.dynamic if shape[axis] != i.shape[axis]]
    if bounded:
        notes.append("executor_runner runs a dynamic dim at the upper bound memory planning allotted, not the example "
                     f"size: {'; '.join(bounded)}")
    return notes


def measure_executor_runner(session: AndroidSession, job: Job, binary: str) -> Measured:
    """One process of warm-up + measured executions; one process per sample for builds before 1.3."""
    name = RUNNERS["executorch"].name
    executions = job.warmup + job.iters
    command, notes = session.pinned(
        executor_runner_command(binary, job.remote_artifact, executions=executions, threads=job.threads), job.threads)
    notes += executor_runner_inputs(job)
    first = session.run_checked(command, Step(name, job.artifact.name, executions, job.warmup, "warm-up and timed runs",
                                              logs_iterations=True))
    parsed = parsing.parse_executor_runner(first.output, warmup=job.warmup)  # a silent build fails here, at once
    if parsing.logs_iterations(first.output):
        notes.append(f"one executor_runner process: {job.warmup} warm-up + {job.iters} measured executions, "
                     "per-iteration log lines")
        return Measured(name, parsed, notes=notes)
    # Before 1.3 only a total is logged: the first process was the warm-up, then one process per sample.
    samples: list[float] = []
    load: float | None = None
    command, _ = session.pinned(
        executor_runner_command(binary, job.remote_artifact, executions=1, threads=job.threads), job.threads)
    step = Step(name, job.artifact.name, 1, 0, "one-sample")
    for index in range(job.iters):
        session.report_sample_process(index, job.iters)
        out = parsing.parse_executor_runner(session.run_checked(command, step).output, warmup=0)
        samples.extend(out.samples_ms)
        load = out.load_ms
    notes.append("this executor_runner build (before 1.3) logs only a total: one process per sample "
                 f"(--num_executions=1) after a warm-up process of {executions} executions")
    return Measured(name, parsing.RunnerOutput(samples_ms=samples, load_ms=load), notes=notes)


register(NativeRunner(
    target="executorch", name="executor_runner", backend="xnnpack", option="--executor-runner",
    env="AFFDEPLOY_EXECUTOR_RUNNER", measure=measure_executor_runner,
))  # fmt: skip


# ----------------------------------------------------------------------------- ONNX Runtime onnxruntime_perf_test


def ort_perf_test_command(binary: str, model: str, result_file: str, *, runs: int, threads: int, provider: str,
                          free_dims: Mapping[str, int] | None = None, profile: str | None = None) -> str:
    """One onnxruntime_perf_test run in 'times' mode with generated inputs (-I) for every input.

    -I treats each free (symbolic) dim as 1 unless ``-f name:value`` overrides it by its dim_param name;
    ``profile`` (-p) turns ONNX Runtime's profiler on, writing ``<profile>_<date>_<time>.json``.
    """
    overrides = [arg for dim, size in (free_dims or {}).items() for arg in ("-f", f"{dim}:{size}")]
    profiling = ["-p", profile] if profile else []
    return shlex.join([binary, "-m", "times", "-r", str(runs), "-x", str(threads), "-e", provider, *overrides,
                       *profiling, "-I", model, result_file])


def onnx_free_dims(job: Job) -> tuple[dict[str, int], list[str]]:
    """``-f`` overrides that give each free dim of the .onnx its example size, and a note of the inputs fed.

    The .onnx names its dynamic dims by dim_param (the lowered program's symbols), input by input in
    the user model's order, so each is matched to the example size at the same input and axis.
    """
    import onnx

    source = job.artifact.with_suffix(".onnx")  # an .ort flatbuffer holds the graph of the .onnx beside it
    if not source.is_file():
        unread = f"{job.artifact.name}: no .onnx beside it to read free dims from; -I runs any free dim at 1"
        return {}, [unread] if job.inputs else []
    graph = onnx.load(str(source), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in inputs]
    free: dict[str, int] = {}
    for index, shape in enumerate(dims):
        for axis, dim in enumerate(shape):
            if isinstance(dim, str):
                if index >= len(job.inputs) or axis >= len(job.inputs[index].shape):
                    raise UsageError(f"{job.artifact.name} has a free dim {dim!r} (input {inputs[index].name}, axis "
                                     f"{axis}) that no example input sizes; onnxruntime_perf_test would run it at 1",
                                     hint="bench the model by --model so its example inputs give the size")
                free[dim] = job.inputs[index].shape[axis]
    if not job.inputs:
        return free, []
    fed = ", ".join(str(i) for i in job.inputs)
    note = f"onnxruntime_perf_test generated every input (-I) at the example shapes: {fed}"
    return free, [note + (f" (free dims set with -f {', '.join(f'{k}:{v}' for k, v in free.items())})" if free else "")]


def measure_ort_perf_test(session: AndroidSession, job: Job, binary: str) -> Measured:
    """The tool warms up once by itself; more warm-up runs go to a separate process first."""
    name = RUNNERS["onnx"].name
    result_file = session.temp_file("ort-result", ".csv")
    free_dims, notes = onnx_free_dims(job)
    if job.warmup > 1:
        command, _ = session.pinned(ort_perf_test_command(binary, job.remote_artifact, result_file, runs=job.warmup - 1,
                                                          threads=job.threads, provider="cpu", free_dims=free_dims),
                                    job.threads)
        session.run_checked(command, Step(name, job.artifact.name, job.warmup - 1, job.warmup - 1, "warm-up"))
        notes.append(f"{job.warmup - 1} warm-up runs in a separate onnxruntime_perf_test process")
    session.adb.shell(f"rm -f {result_file}")
    command, pin_notes = session.pinned(ort_perf_test_command(binary, job.remote_artifact, result_file, runs=job.iters,
                                                              threads=job.threads, provider="cpu", free_dims=free_dims),
                                        job.threads)
    out = session.run_checked(command, Step(name, job.artifact.name, job.iters + 1, 1, "timed runs"))
    with tempfile.TemporaryDirectory(prefix="affdeploy-pull-") as tmp:
        local = Path(tmp) / "result.csv"
        session.pull_output(name, out, result_file, local)
        parsed = parsing.parse_ort_perf_test(out.stdout, local.read_text("utf-8", "replace"))
    return Measured(name, parsed, notes=pin_notes + notes + parsed.notes)


register(NativeRunner(
    target="onnx", name="onnxruntime_perf_test", backend="ort-cpu", option="--ort-perf-test",
    env="AFFDEPLOY_ORT_PERF_TEST", measure=measure_ort_perf_test, libraries=("libonnxruntime.so",),
))  # fmt: skip


# Runners that live in their own module register themselves when imported here.
from affdeploy.devices.android import tflite_runner  # noqa: E402,F401  (LiteRT's benchmark_model)
