"""What a profile is: per-op times of one runtime, their PyTorch modules, and the roll-up per module.

Every runtime's parser (ETDump, ONNX Runtime's trace, benchmark_model's CSV) produces the same
:class:`OpTime` rows, so the side-by-side table, the JSON and the chart never care where a row came
from. Time an op's module is not known for stays in the ``(unmapped)`` row: it is never spread
over modules by guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from affdeploy.graph import is_fft_op

UNMAPPED = "(unmapped)"
RUNTIME = "runtime"
"""``where`` of the rows that are no op: a runtime's time around its ops (a delegate call outside its operators,
a method or session outside its kernels). It holds dispatch overhead and, on a busy machine, the time the
process was preempted mid-run, which per-op medians leave out: so the rows still add up to the run."""
MODEL_ROOT = "(model)"  # ops at the top level of the model, outside every submodule

DFT_MATMULS = "DFT matmuls"
TWIDDLES = "twiddles"
LAYOUT = "layout"
FFT_STAGES = (DFT_MATMULS, TWIDDLES, LAYOUT)

_MATMUL_WORDS = ("conv", "matmul", "gemm", "fully connected", "fully_connected", "batch matrix", "mm", "linear",
                 "addmm", "bmm", "batch_matmul")
_ARITH_WORDS = ("mul", "add", "sub", "neg", "div")


def fft_stage(module: str | None, kind: str) -> str | None:
    """The FFT pass's stage an op belongs to, from its module path and kind; None for the model's own ops.

    The FFT pass puts each transform's nodes under a scope named after the FFT op
    (``layer_4.1.global_rep.0.aff.fft_rfft2``); inside it, contractions are the DFT matrices, elementwise
    arithmetic the twiddle factors and complex recombination, the rest reshapes, slices and concats.
    """
    if not module or not is_fft_op(module.rsplit(".", 1)[-1]):
        return None
    text = kind.lower()
    if any(word in text for word in _MATMUL_WORDS):
        return DFT_MATMULS
    if any(word in text for word in _ARITH_WORDS):
        return TWIDDLES
    return LAYOUT


@dataclass(frozen=True)
class OpTime:
    """One executed op (or one runtime-level cost) and its median time per inference."""

    name: str  # the runtime's own name for it (event, node or tensor name)
    kind: str  # op type as the runtime names it (Conv, convolution, CONV_2D, "Fully Connected (NC, F32) GEMM")
    where: str  # what ran it: "XNNPACK delegate", "CPU kernel", "CPUExecutionProvider", "runtime"
    ms: float  # median over the profiled iterations (benchmark_model's CSV: its average)
    module: str | None = None  # PyTorch module path; None: unmapped
    macs: int | None = None

    @property
    def stage(self) -> str | None:
        return fft_stage(self.module, self.kind)

    @property
    def gmacs_per_s(self) -> float | None:
        return self.macs / (self.ms / 1e3) / 1e9 if self.macs and self.ms > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stage": self.stage, "gmacs_per_s": self.gmacs_per_s}


@dataclass
class RuntimeProfile:
    """One artifact profiled in its runtime: cold start, warm median, and the per-op rows.

    ``warm_ms`` is bench's warm median (its engine, profilers off); ``reference_ms`` the median of
    unprofiled runs of bench's session taken in turn with the profiled ones (host; a phone's runner
    cannot alternate: there it is bench's median), ``profiled_ms`` the median wall time of the
    profiled runs: their ratio is the profiler's overhead, and the sum of per-op medians is held
    against ``reference_ms``. ``per_op`` is None when per-op times exist, else why not.
    """

    target: str
    backend: str
    artifact: str
    runner: str
    mapping: str  # how exactly ops map to modules on this runtime
    ops: list[OpTime] = field(default_factory=list)
    load_ms: float | None = None
    first_ms: float | None = None
    warm_ms: float | None = None
    profiled_ms: float | None = None
    reference_ms: float | None = None
    per_op: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def op_total_ms(self) -> float:
        return sum(op.ms for op in self.ops)

    @property
    def unprofiled_ms(self) -> float | None:
        return self.reference_ms or self.warm_ms

    @property
    def agreement(self) -> float | None:
        """Sum of per-op medians over the unprofiled median (1.0: they agree)."""
        if not self.ops or not self.unprofiled_ms:
            return None
        return self.op_total_ms / self.unprofiled_ms

    @property
    def overhead(self) -> float | None:
        """The profiler's cost: profiled wall-time median over the unprofiled one, minus one."""
        if not self.profiled_ms or not self.unprofiled_ms:
            return None
        return self.profiled_ms / self.unprofiled_ms - 1.0

    @property
    def mapped_share(self) -> float | None:
        total = self.op_total_ms
        return sum(op.ms for op in self.ops if op.module is not None) / total if total else None

    def by_module(self, depth: int) -> dict[str, float]:
        """Milliseconds per module path cut to ``depth`` components, the unmapped time in its own row."""
        return _sums((module_at(op.module, depth), op.ms) for op in self.ops)

    def by_stage(self) -> dict[str, float]:
        """Milliseconds of the FFT pass's stages (empty when the artifact has no lowered FFT)."""
        return _sums((op.stage, op.ms) for op in self.ops if op.stage)

    def module_macs(self, depth: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for op in self.ops:
            if op.macs:
                key = module_at(op.module, depth)
                totals[key] = totals.get(key, 0) + op.macs
        return totals

    def top_ops(self, count: int) -> list[OpTime]:
        return sorted(self.ops, key=lambda op: -op.ms)[:count]

    def to_dict(self, depth: int) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "ops"}
        macs = self.module_macs(depth)
        data.update(
            op_total_ms=self.op_total_ms, agreement=self.agreement, profiler_overhead=self.overhead,
            mapped_share=self.mapped_share,
            modules=[{"module": name, "ms": ms, "macs": macs.get(name),
                      "gmacs_per_s": macs[name] / (ms / 1e3) / 1e9 if macs.get(name) and ms > 0 else None}
                     for name, ms in self.by_module(depth).items()],
            fft_stages=self.by_stage(),
            ops=[op.to_dict() for op in self.ops],
        )
        return data


def module_at(module: str | None, depth: int) -> str:
    """``stages.2.blocks.0.aff.filter_mlp`` at depth 4 -> ``stages.2.blocks.0``; None -> the unmapped row."""
    if module is None:
        return UNMAPPED
    if module == "":
        return MODEL_ROOT
    return ".".join(module.split(".")[:depth])


def common_path(paths: Iterable[str]) -> str | None:
    """The deepest module path all ``paths`` lie in ('' for the model itself; None when there are none)."""
    split = [p.split(".") if p else [] for p in paths]
    if not split:
        return None
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return ".".join(common)


def _sums(pairs: Iterable[tuple[str | None, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for key, ms in pairs:
        if key is not None:
            totals[key] = totals.get(key, 0.0) + ms
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
