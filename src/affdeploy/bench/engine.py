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
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from affdeploy.bench.host import host_device_info
from affdeploy.bench.memory import PeakRssMeter
from affdeploy.bench.records import Subject, Timing, build_record
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.runtimes import open_artifact, open_torch
from affdeploy.bench.schema import BenchRecord, DeviceInfo
from affdeploy.errors import UsageError
from affdeploy.export.base import Session
from affdeploy.export.cache import ensure_artifact
from affdeploy.export.registry import bench_targets, get_target, known_bench_targets, target_for_path
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import sha256_path
from affdeploy.graph import check_image_size, example_input
from affdeploy.models.source import is_user_model, model_kind, resolve_model, source_sha256
from affdeploy.progress import Progress, silent
from affdeploy.versions import tool_versions
from affdeploy.vocab import BASELINE, DeviceKind, FFTMode, Precision, parse, split_names

ROUNDS = 10  # interleaved rounds in iteration-count mode
CHUNK_S = 0.25  # target duration of one chunk in --min-s mode
REPORT_S = 0.5  # a long warm-up reports its progress this often
RUNNER = "affdeploy-host"
log = logging.getLogger(__name__)


def parse_targets(values: list[str], kind: DeviceKind = DeviceKind.HOST, where: str = "the host") -> list[str]:
    """Expand ``all`` and check names; order follows the registry so tables read the same every run."""
    allowed = bench_targets(kind)
    wanted: set[str] = set()
    for name in (n.lower() for n in split_names(values)):
        if name == "all":
            wanted.update(allowed)
        elif name in allowed:
            wanted.add(name)
        elif name in known_bench_targets():
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
        model_kind(name)  # an AFFNet variant, a .pt2 file or package.module:factory
    check_image_size(request.image_size)
    parse(FFTMode, request.fft, "--fft")
    parse(Precision, request.precision, "--precision")
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
    export: ExportRequest | None = None  # what the artifact was exported from (None for the eager baseline)
    session: Session | None = None
    call: Callable[[], object] = lambda: None  # one inference on the prepared input (set by _prepare)
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


def _artifact_config_base(path: Path, request: BenchRequest) -> Config:
    """A configuration for an existing artifact, described by the exporter's manifest beside it when present."""
    from affdeploy.export.manifest import NoEntryError, find_entry
    from affdeploy.export.verify import entry_request

    target = target_for_path(path, DeviceKind.HOST)
    model = request.models[0]
    try:
        folder, entry = find_entry(path)
    except NoEntryError:  # a bare file: open it with the target's defaults, say what is unknown
        export = ExportRequest.create(model, target.name, image_size=request.image_size_of(model))
        fft = request.fft if request.fft != FFTMode.AUTO else "unknown"
        backend = "unknown" if len(target.backends) > 1 else ""
        return Config(model, target.name, fft, 0, backend, path, sha256_path(path), export)
    export = entry_request(entry, folder)
    return Config(model, target.name, entry.fft, 0, target.runtime_backend(export.backend), path, sha256_path(path),
                  export)


def plan(request: BenchRequest, targets: list[str], progress: Progress = silent) -> list[Config]:
    """The configurations to measure, with artifacts found (exported before, or cached) or exported first."""
    if request.artifacts:
        bases = [_artifact_config_base(Path(p), request) for p in request.artifacts]
        return [c for base in bases for c in _per_thread(base, request.threads)]
    configs = []
    for model in request.models:
        for target in targets:
            base = Config(model, target, FFTMode.DFT if request.fft == FFTMode.DFT else FFTMode.NATIVE, 0)
            if target != BASELINE:
                export = ExportRequest.create(model, target, fft=request.fft, image_size=request.image_size_of(model),
                                              precision=request.precision, weights=request.weights)
                what = f"exporting {model} to {target} (kept under {request.models_dir}/cache)"
                artifact, entry = ensure_artifact(
                    export, request.models_dir,
                    lambda step, fraction=None, what=what: progress(f"{what}: {step}", 0.0),
                )
                backend = get_target(target).runtime_backend(export.backend)
                base = Config(model, target, entry.fft, 0, backend, artifact, entry.sha256, export)
            configs += _per_thread(base, request.threads)
    return configs


def _per_thread(base: Config, threads: list[int]) -> list[Config]:
    """One configuration per thread count (each with its own sample and note lists)."""
    return [replace(base, threads=t, samples_ns=[], notes=[]) for t in threads]


def _idle() -> None:
    """What a configuration runs after its session is released: nothing."""


def _open(config: Config, request: BenchRequest) -> Session:
    if config.export is None:
        return open_torch(config.model, FFTMode(config.fft), config.threads, request.image_size, request.weights)
    assert config.artifact is not None
    return open_artifact(config.artifact, config.export, config.threads)


def bench_input(model: str, image_size: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """What every timed inference is fed: a user model's first parity input, else a seeded image."""
    if is_user_model(model):
        return resolve_model(model).parity_inputs()[0]
    return example_input(image_size).numpy()


def _timed(call: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - start


def _prepare(config: Config, request: BenchRequest, report: Callable[[str], None]) -> None:
    """Load, first inference and warm-up of one configuration, measuring its peak RSS growth.

    A long warm-up (a huge --warmup or --warmup-s) reports its progress every REPORT_S.
    """
    if config.export is not None:
        get_target(config.export.target).preload()
    meter = PeakRssMeter()
    meter.start()
    start = time.perf_counter_ns()
    session = _open(config, request)
    config.load_ms = (time.perf_counter_ns() - start) / 1e6
    feed = session.prepare(bench_input(config.model, request.image_size))
    config.call = lambda: session.infer(feed)
    session.activate()
    config.first_ms = config.estimate_ms = _timed(config.call) / 1e6
    timed_warmup = request.warmup_s is not None
    count = 0 if timed_warmup else request.warmup or 0
    deadline = time.perf_counter() + (request.warmup_s or 0.0)
    reported = time.perf_counter()
    while config.warmup_done < count or (timed_warmup and time.perf_counter() < deadline):
        config.estimate_ms = _timed(config.call) / 1e6
        config.warmup_done += 1
        if time.perf_counter() - reported >= REPORT_S:
            reported = time.perf_counter()
            report(f"warming up {config.label}: {config.warmup_done}" + (f" of {count}" if count else " runs"))
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
                config.samples_ns.extend(_timed(config.call) for _ in range(count))
            finally:
                gc.enable()
        round_no += 1
        runs = min(len(c.samples_ns) for c in configs)
        report(f"timed round {round_no}: {runs} runs" + (f" of {request.iters}" if request.min_s is None else ""))


def _record(config: Config, request: BenchRequest, device: DeviceInfo, tools: dict[str, str]) -> BenchRecord:
    subject = Subject(config.model, config.target, config.backend, config.fft, config.threads, request.precision,
                      request.image_size, config.artifact, config.artifact_sha256, source_sha256(config.model) or "")
    timing = Timing([ns / 1e6 for ns in config.samples_ns], config.warmup_done, config.load_ms, config.first_ms,
                    config.rss_growth, config.notes)
    return build_record(subject, timing, device, RUNNER, tools)


def measure(configs: list[Config], request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
    """Measure planned configurations on this machine and return one record each, in plan order."""
    device = host_device_info()
    tools = tool_versions()
    groups: dict[int, list[Config]] = {}
    for config in configs:
        groups.setdefault(config.threads, []).append(config)
    finished = 0

    def report(text: str, group: list[Config]) -> None:
        progress(text, (finished + _fraction(group, request) * len(group)) / len(configs))

    def reporter(group: list[Config], suffix: str = "") -> Callable[[str], None]:
        """``report`` for one group, bound now: the loop's ``group`` moves on."""
        return lambda text: report(f"{text}{suffix}", group)

    first = True
    for group in groups.values():
        try:
            for config in group:
                if not first and request.cooldown_s:
                    report(f"cooling down {request.cooldown_s:g} s", group)
                    time.sleep(request.cooldown_s)
                first = False
                report(f"loading and warming up {config.label}", group)
                started = time.perf_counter()
                _prepare(config, request, reporter(group))
                log.debug("%s: loaded and warmed up in %.1f s", config.label, time.perf_counter() - started)
            _interleaved_rounds(group, request, reporter(group, f" ({group[0].threads} thread(s))"))
        finally:
            for config in group:
                config.session = None
                config.call = _idle
            gc.collect()
        finished += len(group)
    return [_record(c, request, device, tools) for c in configs]


def run_host(request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
    """Validate, export what is missing, and benchmark on this machine."""
    validate_request(request)
    targets = parse_targets(request.targets, DeviceKind.HOST, "the host (Core ML needs macOS or an iPhone)")
    if "all" in (n.lower() for n in split_names(request.targets)):  # all: the targets offering --precision
        targets = [t for t in targets if t == BASELINE or request.precision in get_target(t).allowed_precisions(
            get_target(t).backends[0])]
    configs = plan(request, targets, progress)
    return measure(configs, request, progress)
