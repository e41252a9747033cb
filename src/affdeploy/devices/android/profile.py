"""``affdeploy profile --device <phone>``: the native runners with their own profilers on, parsed as on the host.

Load, first inference and the warm median come from the phone's ``bench`` (the same runners, profilers
off). Then each artifact runs once more with its runner's profiler, the file it writes is pulled back
and read by the host's parsers (:mod:`affdeploy.bench.profile`):

- ``executor_runner --etdump_path=F``: the flag exists only in builds with the event tracer
  (``-DEXECUTORCH_BUILD_DEVTOOLS=ON -DEXECUTORCH_ENABLE_EVENT_TRACER=ON``, which defines
  ET_EVENT_TRACER_ENABLED; examples/portable/executor_runner/executor_runner.cpp); any other build
  stops at gflags' ``unknown command line flag 'etdump_path'``, which becomes one error naming the flags.
  The ETDump is mapped with the ETRecord ``export`` wrote beside the .pte on this machine.
- ``onnxruntime_perf_test -p F``: ONNX Runtime's profiler, a JSON trace written as ``F_<date>_<time>.json``
  (SessionOptions.profile_file_prefix; onnxruntime/core/common/profiler.cc).
- ``benchmark_model --enable_op_profiling=true --op_profiling_output_mode=csv --op_profiling_output_file=F``.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from affdeploy.bench.profile.etdump import parse_etdump
from affdeploy.bench.profile.host import (
    ET_MAPPING,
    ORT_MAPPING,
    etrecord_for,
    no_etrecord,
)
from affdeploy.bench.profile.litert import parse_op_profile
from affdeploy.bench.profile.model import OpTime, RuntimeProfile
from affdeploy.bench.profile.ort import parse_ort_trace
from affdeploy.bench.request import BenchRequest
from affdeploy.devices.android.bench import PhoneBench, jobs
from affdeploy.devices.android.device import AndroidDevice
from affdeploy.devices.android.runners import (
    RUNNERS,
    Job,
    RunnerPaths,
    executor_runner_command,
    onnx_free_dims,
    ort_perf_test_command,
)
from affdeploy.devices.android.session import AndroidSession, Step
from affdeploy.devices.android.tflite_runner import benchmark_model_command
from affdeploy.errors import DeviceError, ToolMissingError
from affdeploy.export.registry import target_for_path
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind

EVENT_TRACER_FLAGS = "-DEXECUTORCH_BUILD_DEVTOOLS=ON -DEXECUTORCH_ENABLE_EVENT_TRACER=ON"
LITERT_MAPPING = ("CPU-kernel ops: exact (litert-torch's tensor names carry the module stack); XNNPACK delegate "
                  "operators: lined up with the delegated graph ops by op family, the rest unmapped; times are "
                  "benchmark_model's averages (it keeps no medians)")


@dataclass(frozen=True)
class Profiled:
    """How one runner profiles: its command, the device file it writes, and how that file is read."""

    command: Callable[[str, Job, str], str]  # (binary on the device, job, device output path) -> command line
    parse: Callable[[Path, Job], tuple[list[OpTime], list[str]]]  # (pulled file, job) -> rows, notes
    mapping: str
    suffix: str


def _et_command(binary: str, job: Job, output: str) -> str:
    base = executor_runner_command(binary, job.remote_artifact, executions=job.warmup + job.iters, threads=job.threads)
    return f"{base} {shlex.quote('--etdump_path=' + output)}"


def _et_parse(local: Path, job: Job) -> tuple[list[OpTime], list[str]]:
    etrecord = etrecord_for(job.artifact)
    notes = [] if etrecord else [no_etrecord(job.artifact)]
    return parse_etdump(local, etrecord, skip=job.warmup).ops, notes


def _ort_command(binary: str, job: Job, output: str) -> str:
    free_dims, _ = onnx_free_dims(job)
    return ort_perf_test_command(binary, job.remote_artifact, "/dev/null", runs=job.iters,
                                 threads=job.threads, provider="cpu", free_dims=free_dims,
                                 profile=output.removesuffix(".json"))


def _ort_parse(local: Path, job: Job) -> tuple[list[OpTime], list[str]]:
    source = job.artifact.with_suffix(".onnx")
    notes = ["onnxruntime_perf_test profiles its one warm-up run too: the first run of each node is left out"]
    return parse_ort_trace(local, source if source.is_file() else None, skip=1), notes


def _tflite_command(binary: str, job: Job, output: str) -> str:
    base = benchmark_model_command(binary, job.remote_artifact, threads=job.threads, warmup=job.warmup, runs=job.iters)
    return f"{base} --enable_op_profiling=true --op_profiling_output_mode=csv " + shlex.quote(
        f"--op_profiling_output_file={output}")


def _tflite_parse(local: Path, job: Job) -> tuple[list[OpTime], list[str]]:
    return parse_op_profile(local, job.artifact), []


PROFILED = {
    "executorch": Profiled(_et_command, _et_parse, ET_MAPPING, ".etdump"),
    "onnx": Profiled(_ort_command, _ort_parse, ORT_MAPPING, ".json"),
    "tflite": Profiled(_tflite_command, _tflite_parse, LITERT_MAPPING, ".csv"),
}


def _remote_output(session: AndroidSession, job: Job, output: str) -> str:
    """Where the runner wrote its profile: ``output``, or for ONNX Runtime the one file its prefix names."""
    if job.target != "onnx":
        return output
    listed = session.adb.shell(f"ls {shlex.quote(output.removesuffix('.json'))}_*.json", check=False)
    found = listed.stdout.split()
    return found[-1] if listed.exit_code == 0 and found else output


def _run_profiled(bench: PhoneBench, job: Job, binary: str, local_dir: Path) -> RuntimeProfile:
    runner = RUNNERS[job.target]
    profiled = PROFILED[job.target]
    session = bench.session
    output = session.temp_file(f"profile-{job.target}", profiled.suffix)
    command, notes = session.pinned(profiled.command(binary, job, output), job.threads)
    step = Step(runner.name, job.artifact.name, job.warmup + job.iters, job.warmup, "profiled runs")
    try:
        run = session.run_checked(command, step)
    except DeviceError as exc:
        if job.target == "executorch" and "etdump_path" in exc.message:
            raise DeviceError(f"{runner.name} on {session.serial} was built without the event tracer (no "
                              f"--etdump_path): rebuild it with {EVENT_TRACER_FLAGS}") from None
        raise
    remote = _remote_output(session, job, output)
    if remote != output:
        session.temp_files.append(remote)
    local = local_dir / f"{job.target}{profiled.suffix}"
    session.pull_output(runner.name, run, remote, local)
    ops, parse_notes = profiled.parse(local, job)
    return RuntimeProfile(job.target, runner.backend, str(job.artifact), f"{runner.name} (profiler on)",
                          profiled.mapping, ops, notes=notes + parse_notes)


def profile_android(device: AndroidDevice, request: BenchRequest, progress: Progress = silent) -> list[RuntimeProfile]:
    """The phone's bench (cold start, warm median), then one profiled run per artifact with its native runner."""
    request = device.prepare(request)
    paths = RunnerPaths.resolve(device.runners)
    targets = [target_for_path(Path(a), DeviceKind.ANDROID).name for a in request.artifacts] or request.targets
    for target in dict.fromkeys(targets):  # checked before anything is exported or pushed
        if paths.native(target) is None:
            runner = RUNNERS[target]
            raise ToolMissingError(f"profiling {target} on a phone needs {runner.name}: the benchmark app has no "
                                   "per-op profiler", hint=f"pass {runner.option} PATH (or set {runner.env})")
    records = device.run(request, progress)
    bench = PhoneBench(device, request, paths)
    profiles = []
    with tempfile.TemporaryDirectory(prefix="affdeploy-profile-") as work:
        for job, record in zip(jobs(request, request.warmup or 0, request.iters or 1), records, strict=True):
            progress(f"profiling {job.target} on {device.id}", None)
            native = paths.native(job.target)
            assert native is not None
            binary, files = RUNNERS[job.target].device_files(native)
            bench.session.sync([(job.artifact, job.remote_artifact), *files])
            bench.session.adb.shell(f"chmod 755 {shlex.quote(binary)}")
            try:
                profile = _run_profiled(bench, job, binary, Path(work))
            finally:
                bench.session.cleanup()
            profile.load_ms, profile.first_ms, profile.warm_ms = (record.load_ms, record.first_inference_ms,
                                                                  record.stats.p50)
            profiles.append(profile)
    return profiles
