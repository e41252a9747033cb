"""``affdeploy profile`` on this machine: bench's cold/warm numbers, then one profiled run per artifact.

Artifacts are found or exported exactly as ``bench`` does (``engine.plan``), and load, first inference
and the warm median come from ``engine.measure`` with the profilers off, so they are ``bench``'s
numbers. Each artifact is then loaded a second time with its runtime's profiler on and run warm-up +
iterations again, each profiled run right after an unprofiled one of bench's session (:class:`Alternated`):
the per-op medians are the rows, and they are held against that unprofiled median, taken in the same
seconds (on a shared machine, load minutes apart differs by 2x).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.bench.engine import (
    Config,
    bench_input,
    measure,
    parse_targets,
    plan,
    validate_request,
)
from affdeploy.bench.profile.etdump import parse_etdump
from affdeploy.bench.profile.model import RuntimeProfile
from affdeploy.bench.profile.ort import parse_ort_trace
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.runtimes import open_artifact
from affdeploy.errors import UsageError
from affdeploy.progress import Progress, silent
from affdeploy.vocab import BASELINE, DeviceKind, Target, split_names

ET_MAPPING = ("CPU-kernel ops: exact (debug handles -> ETRecord nn_module_stack); ops inside the XNNPACK delegate: "
              "aligned in execution order with the delegated graph's nodes by op family, unaligned ones unmapped")
ORT_MAPPING = ("exact for nodes ONNX Runtime kept (the exporter's name scopes); fused nodes map through the name of "
               "the node they replaced; unmatched names unmapped")
TFLITE_HOST = ("not available on the host: ai_edge_litert's Python Interpreter exposes no per-op profiler (only the "
               "experimental_force_delegate_node_profiling flag, with no API to read events); per-op times come "
               "from benchmark_model --enable_op_profiling on a phone (--device <phone>)")
COREML_NO_PER_OP = ("Core ML per-op time is not available outside Xcode (its Core ML performance report and "
                    "Instruments are not scriptable; MLComputePlan gives estimated costs on macOS only)")
IOS_NO_PER_OP = "not profiled on iPhones: the AFFBench app has no per-op profiler (Xcode's Instruments has one)"


def etrecord_for(pte: Path) -> Path | None:
    """The ETRecord ``export`` wrote beside ``pte`` (None when there is none)."""
    from affdeploy.export.executorch import etrecord_path

    path = etrecord_path(pte)
    return path if path.is_file() else None


def no_etrecord(pte: Path) -> str:
    """What a profile of a .pte without its ETRecord says, and how to get one."""
    from affdeploy.export.executorch import etrecord_path

    return (f"no ETRecord beside {pte.name}: per-op times only, the module mapping is missing; export again with "
            f"'affdeploy export --target executorch' (it writes {etrecord_path(pte).name} beside the .pte)")


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e6


def reference_call(config: Config, feed: Any) -> Callable[[], object]:
    """One unprofiled inference of the session ``bench`` opens for ``config`` (opened first: for ExecuTorch it
    sizes the process-wide threadpool, which a method loaded before would no longer see)."""
    assert config.artifact is not None and config.export is not None
    session = open_artifact(config.artifact, config.export, config.threads)
    prepared = session.prepare(feed)
    session.activate()
    return lambda: session.infer(prepared)


@dataclass
class Alternated:
    """Wall times of the profiled runs and of unprofiled runs of the same artifact taken in turn with them."""

    profiled: list[float]
    unprofiled: list[float]

    @classmethod
    def run(cls, profiled: Callable[[], object], unprofiled: Callable[[], object], runs: int) -> Alternated:
        """One unprofiled run, one profiled run, and again: whatever else the machine does meanwhile falls on both
        alike, so their medians compare as the profiler's overhead."""
        times = cls([], [])
        for _ in range(runs):
            times.unprofiled.append(_timed(unprofiled))
            times.profiled.append(_timed(profiled))
        return times

    def medians(self, skip: int) -> tuple[float, float]:
        return statistics.median(self.profiled[skip:]), statistics.median(self.unprofiled[skip:])


def _executorch(config: Config, feed: Any, runs: int, skip: int, work: Path) -> RuntimeProfile:
    """ETDump through the pybindings (``enable_etdump``), parsed with the ETRecord beside the .pte."""
    import torch

    from affdeploy.etruntime import check_pte_header
    from affdeploy.models.source import as_arrays
    from affdeploy.runtime_guard import native_stderr_captured

    assert config.artifact is not None
    reference = reference_call(config, feed)  # sizes the threadpool before the profiled method loads
    check_pte_header(config.artifact)
    with native_stderr_captured():
        from executorch.extension.pybindings import portable_lib

        module = portable_lib._load_for_executorch(str(config.artifact), enable_etdump=True)
    inputs = [torch.from_numpy(np.ascontiguousarray(a)) for a in as_arrays(feed)]
    walls = Alternated.run(lambda: module.forward(inputs), reference, runs)
    dump = work / "forward.etdump"
    module.write_etdump_result_to_file(str(dump))
    etrecord = etrecord_for(config.artifact)
    parsed = parse_etdump(dump, etrecord, skip)
    notes = [] if etrecord else [no_etrecord(config.artifact)]
    profiled, unprofiled = walls.medians(skip)
    return RuntimeProfile(config.target, config.backend, str(config.artifact), "executorch pybindings (ETDump)",
                          ET_MAPPING if etrecord else "none: no ETRecord", parsed.ops, profiled_ms=profiled,
                          reference_ms=unprofiled, notes=notes)


def _onnxruntime(config: Config, feed: Any, runs: int, skip: int, work: Path) -> RuntimeProfile:
    """ONNX Runtime's own profiler (``enable_profiling``) on the session options ``bench`` uses."""
    import onnxruntime as ort

    from affdeploy.export.onnx import session_options
    from affdeploy.models.source import as_arrays

    assert config.artifact is not None
    options = session_options(config.threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(work / "ort")
    session = ort.InferenceSession(str(config.artifact), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    inputs = {n: np.ascontiguousarray(a) for n, a in zip(names, as_arrays(feed), strict=True)}
    walls = Alternated.run(lambda: session.run(None, inputs), reference_call(config, feed), runs)
    trace = Path(session.end_profiling())
    onnx_file = config.artifact if config.artifact.suffix == ".onnx" else config.artifact.with_suffix(".onnx")
    profiled, unprofiled = walls.medians(skip)
    ops = parse_ort_trace(trace, onnx_file if onnx_file.is_file() else None, skip, run_ms=unprofiled)
    return RuntimeProfile(config.target, config.backend, str(config.artifact), "onnxruntime profiler",
                          ORT_MAPPING, ops, profiled_ms=profiled, reference_ms=unprofiled)


_PROFILERS = {Target.EXECUTORCH: _executorch, Target.ONNX: _onnxruntime}


def unavailable(target: str, backend: str, reason: str, artifact: str = "") -> RuntimeProfile:
    """A column for a runtime that reports no per-op times here: the reason instead of a blank."""
    return RuntimeProfile(target, backend, artifact, "", "none", per_op=reason)


def profile_targets(values: list[str]) -> tuple[list[str], bool]:
    """Host targets to profile (the eager baseline is PyTorch's own profiler's job) and whether Core ML was asked."""
    names = [n.lower() for n in split_names(values)]
    if BASELINE in names:
        raise UsageError(f"'{BASELINE}' is eager PyTorch, not an exported runtime: profile it with torch.profiler")
    coreml = Target.COREML in names or "all" in names
    rest = [n for n in names if n != Target.COREML]
    targets = [t for t in parse_targets(rest or ["all"], DeviceKind.HOST) if t != BASELINE] if rest else []
    return targets, coreml


def profile_host(request: BenchRequest, progress: Progress = silent) -> list[RuntimeProfile]:
    """Cold start and warm median through bench's engine, then per-op rows from each runtime's profiler."""
    validate_request(request)
    targets, coreml = profile_targets(request.targets)
    profiles = []
    if targets:
        configs = plan(request, targets, progress)
        records = measure(configs, request, progress)
        feed = bench_input(request.models[0], request.image_size)
        runs = 1 + (request.warmup or 0) + (request.iters or 1)
        for config, record in zip(configs, records, strict=True):
            progress(f"profiling {config.label}", None)
            with tempfile.TemporaryDirectory(prefix="affdeploy-profile-") as work:
                profiler = _PROFILERS.get(Target(config.target))
                profile = (profiler(config, feed, runs, runs - (request.iters or 1), Path(work)) if profiler
                           else unavailable(config.target, config.backend, TFLITE_HOST, str(config.artifact)))
            profile.load_ms, profile.first_ms, profile.warm_ms = (record.load_ms, record.first_inference_ms,
                                                                  record.stats.p50)
            profiles.append(profile)
    if coreml:
        profiles.append(unavailable(Target.COREML, "", COREML_NO_PER_OP))
    return profiles
