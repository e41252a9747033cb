"""The host benchmark engine: load, first inference, warm-up, interleaved timed rounds, records.

How one run proceeds, and why:
1. Configurations (model x target x fft x threads) are grouped by thread count. ExecuTorch's
   threadpool is process-wide (see runtimes.py), so only configurations sharing a count are
   alive together.
2. Within a group each configuration is loaded, runs its first inference and warms up, one after
   the other, with ``cooldown_s`` of rest before each. Peak RSS growth is measured over exactly
   this phase (memory.py): the timed iterations repeat the warm-up's work.
3. Timed iterations then run in interleaved rounds: each round gives every configuration one
   chunk of iterations, rotating who goes first, so that background load or frequency changes
   fall on all configurations alike instead of on whichever ran last. Every iteration is timed
   on its own with ``time.perf_counter_ns``; garbage collection is paused during a chunk.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from affdeploy.bench.artifacts import ensure_artifact
from affdeploy.bench.host import host_device_info, tool_versions
from affdeploy.bench.memory import PeakRssMeter
from affdeploy.bench.request import NOISY_CV, BenchRequest
from affdeploy.bench.runtimes import Session, import_runtime, open_executorch, open_onnx, open_torch
from affdeploy.bench.schema import BenchRecord, DeviceInfo
from affdeploy.bench.stats import compute_stats
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.fsutil import sha256_path
from affdeploy.graph import check_image_size
from affdeploy.models import model_info

HOST_TARGETS = ("torch", "onnx", "executorch")
KNOWN_TARGETS = ("torch", "onnx", "executorch", "coreml")
FFT_MODES = ("auto", "dft", "native")
ARTIFACT_SUFFIXES = {".onnx": "onnx", ".ort": "onnx", ".pte": "executorch"}
ROUNDS = 10  # interleaved rounds in iteration-count mode
CHUNK_S = 0.25  # target duration of one chunk in --min-s mode
RUNNER = "affdeploy-host"

Progress = Callable[[str, float], None]  # (what is happening, overall fraction done)


def parse_targets(values: list[str], allowed: tuple[str, ...] = HOST_TARGETS, where: str = "the host") -> list[str]:
    """Expand ``all`` and check names; order follows ``allowed`` so tables read the same every run."""
    wanted: set[str] = set()
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if name == "all":
                wanted.update(allowed)
            elif name in allowed:
                wanted.add(name)
            elif name in KNOWN_TARGETS:
                raise UsageError(f"target '{name}' cannot run on {where}; choose from: {', '.join(allowed)}, all")
            else:
                raise UsageError(f"unknown target '{name}'; choose from: {', '.join(allowed)}, all")
    if not wanted:
        raise UsageError("no target given")
    return [t for t in allowed if t in wanted]


def validate_request(request: BenchRequest) -> None:
    """Reject impossible settings with one clear line before anything slow starts (any device kind)."""
    if not request.models:
        raise UsageError("no model given")
    for name in request.models:
        model_info(name)
    check_image_size(request.image_size)
    if request.fft not in FFT_MODES:
        raise UsageError(f"unknown --fft '{request.fft}'; choose from: {', '.join(FFT_MODES)}")
    if not request.threads or any(t < 1 for t in request.threads):
        raise UsageError("--threads must be positive integers, e.g. --threads 1,2")
    if request.min_s is not None:
        if request.min_s <= 0:
            raise UsageError(f"--min-s must be positive, got {request.min_s}")
    elif request.iters is None or request.iters < 1:
        raise UsageError(f"--iters must be at least 1, got {request.iters}")
    if request.warmup_s is not None:
        if request.warmup_s < 0:
            raise UsageError(f"--warmup-s must be >= 0, got {request.warmup_s}")
    elif request.warmup is None or request.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {request.warmup}")
    if request.cooldown_s < 0:
        raise UsageError(f"--cooldown-s must be >= 0, got {request.cooldown_s}")
    for path in request.artifacts:
        if not Path(path).exists():
            raise UsageError(f"artifact {path} does not exist")
    if request.artifacts and len(request.models) != 1:
        raise UsageError("with --artifact give exactly one --model (it names the record and counts the MACs)")


@dataclass
class Config:
    """One configuration to measure, and what was measured for it."""

    model: str
    target: str
    fft: str
    threads: int
    backend: str = ""
    artifact: Path | None = None
    artifact_sha256: str = ""
    session: Session | None = None
    load_ms: float = 0.0
    first_ms: float = 0.0
    estimate_ms: float = 0.0  # latest single-iteration time before the timed rounds
    warmup_done: int = 0
    rss_growth: int = 0
    samples_ns: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.model} {self.target}/{self.fft} {self.threads}t"

    @property
    def measured_s(self) -> float:
        return sum(self.samples_ns) / 1e9


def _describe_artifact(path: Path, request: BenchRequest) -> tuple[str, str, str]:
    """(target, fft, backend) of an existing artifact, from the exporter's manifest beside it when present."""
    from affdeploy.export.manifest import find_entry

    target = ARTIFACT_SUFFIXES.get(path.suffix, "")
    if not target:
        raise UsageError(f"cannot benchmark {path} on the host: expected one of {', '.join(ARTIFACT_SUFFIXES)}")
    try:
        _folder, entry = find_entry(path)
    except AffdeployError:
        return target, request.fft if request.fft != "auto" else "unknown", "unknown" if target == "executorch" else ""
    return target, entry.fft, entry.backend if target == "executorch" else ""


def _artifact_configs(request: BenchRequest) -> list[Config]:
    configs = []
    for path in map(Path, request.artifacts):
        target, fft, backend = _describe_artifact(path, request)
        sha = sha256_path(path)
        configs += [Config(request.models[0], target, fft, t, backend, path, sha) for t in request.threads]
    return configs


def plan(request: BenchRequest, targets: list[str], progress: Progress | None = None) -> list[Config]:
    """The configurations to measure, with artifacts exported (or found in the cache) first."""
    if request.artifacts:
        return _artifact_configs(request)
    configs = []
    for model in request.models:
        for target in targets:
            artifact, sha, fft, backend = None, "", "dft" if request.fft == "dft" else "native", ""
            if target != "torch":
                what = f"exporting {model} to {target} (cached under {request.models_dir}/cache)"
                artifact, entry = ensure_artifact(
                    model,
                    target,
                    fft=request.fft,
                    image_size=request.image_size,
                    precision=request.precision,
                    weights=request.weights,
                    models_dir=request.models_dir,
                    on_progress=(lambda step, what=what: progress(f"{what}: {step}", 0.0)) if progress else None,
                )
                sha, fft = entry.sha256, entry.fft
                backend = entry.backend if target == "executorch" else ""
            for threads in request.threads:
                configs.append(Config(model, target, fft, threads, backend, artifact, sha))
    return configs


def _open(config: Config, request: BenchRequest) -> Session:
    if config.target == "onnx":
        assert config.artifact is not None
        return open_onnx(config.artifact, config.threads, request.image_size)
    if config.target == "executorch":
        assert config.artifact is not None
        return open_executorch(config.artifact, config.threads, request.image_size, config.backend or "executorch")
    return open_torch(config.model, config.fft, config.threads, request.image_size, request.weights)


def _timed(session: Session) -> int:
    start = time.perf_counter_ns()
    session.run()
    return time.perf_counter_ns() - start


def _prepare(config: Config, request: BenchRequest) -> None:
    """Load, first inference and warm-up of one configuration, measuring its peak RSS growth."""
    import_runtime(config.target)
    meter = PeakRssMeter()
    meter.start()
    start = time.perf_counter_ns()
    session = _open(config, request)
    config.load_ms = (time.perf_counter_ns() - start) / 1e6
    session.activate()
    config.first_ms = config.estimate_ms = _timed(session) / 1e6
    timed_warmup = request.warmup_s is not None
    count = 0 if timed_warmup else request.warmup or 0
    deadline = time.perf_counter() + (request.warmup_s or 0.0)
    while config.warmup_done < count or (timed_warmup and time.perf_counter() < deadline):
        config.estimate_ms = _timed(session) / 1e6
        config.warmup_done += 1
    config.rss_growth = meter.growth_bytes()
    config.session = session
    if not config.backend:
        config.backend = session.backend
    config.notes.extend(session.notes)
    config.notes.append(f"peak RSS growth over load + first inference + warm-up; {meter.method}")


def _chunk_sizes(configs: list[Config], request: BenchRequest) -> dict[int, int]:
    """Iterations per chunk for each configuration (by index)."""
    if request.min_s is None:
        iters = request.iters or 1
        return {i: math.ceil(iters / min(ROUNDS, iters)) for i in range(len(configs))}
    chunk_s = min(CHUNK_S, request.min_s / ROUNDS)
    return {i: max(1, round(chunk_s / max(c.estimate_ms / 1e3, 1e-6))) for i, c in enumerate(configs)}


def _done(config: Config, request: BenchRequest) -> bool:
    if request.min_s is not None:
        return config.measured_s >= request.min_s
    return len(config.samples_ns) >= (request.iters or 1)


def _fraction(configs: list[Config], request: BenchRequest) -> float:
    if request.min_s is not None:
        return sum(min(1.0, c.measured_s / request.min_s) for c in configs) / len(configs)
    return sum(min(1.0, len(c.samples_ns) / (request.iters or 1)) for c in configs) / len(configs)


def _interleaved_rounds(configs: list[Config], request: BenchRequest, report: Callable[[str], None]) -> None:
    """Round-robin chunks of timed iterations across configurations, rotating the starting one."""
    sizes = _chunk_sizes(configs, request)
    round_no = 0
    gc.collect()
    while not all(_done(c, request) for c in configs):
        if round_no and request.cooldown_s:
            time.sleep(request.cooldown_s)
        order = [(round_no + k) % len(configs) for k in range(len(configs))]
        for index in order:
            config = configs[index]
            if _done(config, request):
                continue
            session = config.session
            assert session is not None
            count = sizes[index]
            if request.min_s is None:
                count = min(count, (request.iters or 1) - len(config.samples_ns))
            session.activate()
            gc.disable()
            try:
                config.samples_ns.extend(_timed(session) for _ in range(count))
            finally:
                gc.enable()
        round_no += 1
        report(f"timed round {round_no}")


def _record(config: Config, request: BenchRequest, device: DeviceInfo, tools: dict[str, str], macs: int) -> BenchRecord:
    samples = [ns / 1e6 for ns in config.samples_ns]
    stats = compute_stats(samples, cv_threshold=NOISY_CV)
    return BenchRecord(
        model=config.model,
        target=config.target,
        backend=config.backend,
        fft=config.fft,
        threads=config.threads,
        precision=request.precision,
        image_size=request.image_size,
        device=device,
        runner=RUNNER,
        samples_ms=samples,
        stats=stats,
        warmup=config.warmup_done,
        load_ms=config.load_ms,
        first_inference_ms=config.first_ms,
        peak_rss_growth_bytes=config.rss_growth,
        macs=macs,
        gmacs_per_s=macs / (stats.p50 / 1e3) / 1e9 if stats.p50 > 0 else None,
        artifact_sha256=config.artifact_sha256,
        artifact_path=str(config.artifact) if config.artifact else "",
        tools=tools,
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        notes=config.notes,
    )


def model_macs(model: str, image_size: int) -> int:
    """MACs of one batch-1 forward pass (FFTs by their radix-2 estimate), for GMAC/s."""
    from affdeploy.models import build_model
    from affdeploy.models.profile import profile_model

    return profile_model(build_model(model), image_size).macs


def measure(configs: list[Config], request: BenchRequest, progress: Progress | None = None) -> list[BenchRecord]:
    """Measure planned configurations on this machine and return one record each, in plan order."""
    device = host_device_info()
    tools = tool_versions()
    macs = {m: model_macs(m, request.image_size) for m in {c.model for c in configs}}
    groups: dict[int, list[Config]] = {}
    for config in configs:
        groups.setdefault(config.threads, []).append(config)
    finished = 0

    def report(text: str, group: list[Config]) -> None:
        if progress:
            progress(text, (finished + _fraction(group, request) * len(group)) / len(configs))

    first = True
    for group in groups.values():
        try:
            for config in group:
                if not first and request.cooldown_s:
                    report(f"cooling down {request.cooldown_s:g} s", group)
                    time.sleep(request.cooldown_s)
                first = False
                report(f"loading and warming up {config.label}", group)
                _prepare(config, request)
            _interleaved_rounds(group, request, lambda text: report(f"{text} ({group[0].threads} thread(s))", group))
        finally:
            for config in group:
                config.session = None
            gc.collect()
        finished += len(group)
    return [_record(c, request, device, tools, macs[c.model]) for c in configs]


def run_host(request: BenchRequest, progress: Progress | None = None) -> list[BenchRecord]:
    """Validate, export what is missing, and benchmark on this machine."""
    validate_request(request)
    targets = parse_targets(request.targets, HOST_TARGETS, "the host (Core ML needs macOS or an iPhone)")
    configs = plan(request, targets, progress)
    return measure(configs, request, progress)
