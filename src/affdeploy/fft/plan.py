"""How one axis of a transform is computed: a dense DFT matrix, factored stages, or Bluestein.

The forms (docs/fft.md, "Forms and their cost"):

- ``dense``: one matrix on the axis (N MACs per output value). Cheapest for short axes, where
  the fixed cost of the factored form's extra ops and transposes is larger than the MACs it saves.
- ``factored``: the length is split into digits N = N_0 * N_1 * ... (N_0 most significant input
  digit). Level j is a matmul over digit j against small constant matrices, one per value of the
  output digits already computed (k_0..k_{j-1}): the Cooley-Tukey twiddle factors are folded into
  those matrices, so a level is exactly one ``bmm`` and no elementwise op runs between levels.
  Cost per output value ~ sum of the digits instead of N; constants ~ N * N_last instead of N^2.
- ``bluestein``: the chirp-z form for lengths whose factors are large primes: the DFT becomes a
  circular convolution of a padded length L (a product of 2, 3 and 5) computed by two factored
  transforms of length L, with elementwise chirp multiplies before and after.

``choose`` picks the cheapest form by the cost model below. Its constants were fitted to
measurements of the lowered program on this project's benchmark machine (1 thread; fit and data:
``benchmarks/bench_fft_scaling.py --calibrate-only``, results in ``benchmarks/results/fft_calibration.json``).
The model only ranks forms of the same transform, so it needs to be right about ratios, not
absolute times. Each runtime has its own (``MODELS``: per emitted op, eager PyTorch pays ~12 us, ONNX
Runtime ~1 us, XNNPACK ~0.7 us, so eager prefers fewer, larger levels); the export pipeline costs each
target's transforms with its runtime's model (``FFTSupport.cost``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

DENSE = "dense"
FACTORED = "factored"
BLUESTEIN = "bluestein"
NATIVE = "native"


@dataclass(frozen=True)
class CostModel:
    """Microseconds per unit of each cost feature of a transform (fitted per runtime: module docstring).

    Features (``network_features``): MACs of the matmuls, emitted ops (levels and copies), matrices of
    the batched matmuls (small GEMMs run below peak), floats moved by transposing copies, floats
    written by the matmuls, floats of constant matrices read.
    """

    name: str
    mac: float
    op: float
    batch: float
    move: float
    out: float
    const: float = 0.0

    def time(self, f: tuple[float, ...]) -> float:
        return (self.mac * f[0] + self.op * f[1] + self.batch * f[2] + self.move * f[3] + self.out * f[4]
                + self.const * f[5])


# Fitted by benchmarks/bench_fft_scaling.py --calibrate-only (rfft+irfft of 1-D signals, 8 random plans and the
# dense form of each of 13 (n, batch) pairs, n = 64 ... 32768, batch 4 ... 256, 1 thread, non-negative least
# squares on relative error; benchmarks/results/fft_calibration.json). Median relative error of the fit 11-13%;
# the plan each model picks is within 1.05x of the fastest measured plan for n <= 4096.
MODELS = {
    "xnnpack": CostModel("xnnpack", mac=1.95e-5, op=0.713, batch=0.0345, move=0.0, out=4.15e-4, const=5.21e-4),
    "onnxruntime": CostModel("onnxruntime", mac=1.55e-5, op=1.11, batch=0.133, move=0.0, out=3.61e-4, const=2.32e-4),
    "eager": CostModel("eager", mac=1.87e-5, op=11.8, batch=0.167, move=1.44e-4, out=3.25e-4, const=5.34e-4),
}
DEFAULT_MODEL = "xnnpack"
"""ExecuTorch's and LiteRT's XNNPACK delegates (Core ML is costed like them: it cannot be timed here)."""
COST = MODELS[DEFAULT_MODEL]

@dataclass(frozen=True)
class NativeModel:
    """Microseconds of a runtime's native FFT op: per (vector x n log2 n) of a power-of-two axis, per
    (vector x n^2) of any other length (ONNX Runtime's DFT runs those as a naive O(n^2) sum), per op."""

    name: str
    pow2: float
    other: float
    op: float

    def time(self, axes: list[tuple[int, int]]) -> float:
        """``axes``: (length, vectors) of each transformed axis."""
        total = 0.0
        for n, vectors in axes:
            work = n * max(1, n.bit_length() - 1) if n & (n - 1) == 0 else n * n
            total += (self.pow2 if n & (n - 1) == 0 else self.other) * work * vectors + self.op
        return total


NATIVE_MODELS = {  # fitted with MODELS (ONNX Runtime 1.32's DFT: radix-2 for powers of two, O(n^2) otherwise)
    "onnxruntime-dft": NativeModel("onnxruntime-dft", pow2=2.09e-3, other=1.29e-4, op=10.0),
}


# Axes of at most this length are always dense: the measured crossover is above it on every runtime,
# and AFFNet's transforms (8..64 per axis) keep the exact graph they were tuned with.
ALWAYS_DENSE = 64

# Digits larger than this are not considered for a level unless they are prime factors of the length
MAX_DIGIT = 128
# At most this many levels (deeper plans only add ops at the sizes this project targets)
MAX_LEVELS = 5


@dataclass(frozen=True)
class AxisPlan:
    """The form of one axis transform and what it costs per transformed vector."""

    form: str
    digits: tuple[int, ...] = ()  # factored: of n; bluestein: of the padded length
    length: int = 0  # bluestein: the padded convolution length L
    cost_us: float = 0.0  # estimated, for one vector (multiply by the number of vectors)

    def describe(self, n: int) -> str:
        if self.form == FACTORED:
            return f"factored {'x'.join(map(str, self.digits))}"
        if self.form == BLUESTEIN:
            return f"bluestein L={self.length} ({'x'.join(map(str, self.digits))})"
        return self.form


def _divisors(n: int) -> list[int]:
    small = [d for d in range(2, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small] + [n]))


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def level_shapes(digits: tuple[int, ...], real_in: bool, kout: int) -> list[tuple[int, int, int, int]]:
    """(batches, rows out, rows in, columns per vector) of each level of a forward network.

    ``kout`` output bins are needed (a prefix of 0..n-1); the last level computes only the values
    of its digit that reach them. The transposed network (c2r) has the same shapes, transposed.
    """
    n = math.prod(digits)
    shapes = []
    for j, size in enumerate(digits):
        before = math.prod(digits[:j])
        after = n // (before * size)
        k = size if j < len(digits) - 1 else -(-kout // before)
        rows_in = size if (j == 0 and real_in) else 2 * size
        shapes.append((before, 2 * k, rows_in, after))
    return shapes


def network_features(digits: tuple[int, ...], real_in: bool, kout: int, vectors: int) -> tuple[float, ...]:
    """Cost features of one factored network applied to ``vectors`` vectors (transposes included)."""
    shapes = level_shapes(digits, real_in, kout)
    macs = sum(b * o * i * c for b, o, i, c in shapes) * vectors
    batches = sum(b for b, *_ in shapes)
    written = sum(b * o * c for b, o, _, c in shapes) * vectors
    n = math.prod(digits)
    computed = math.prod(digits[:-1]) * shapes[-1][1] // 2
    moved = ((1 if real_in else 2) * n + 2 * computed) * vectors
    constants = sum(b * o * i for b, o, i, _ in shapes)
    return (macs, len(digits) + 3, batches, moved, written, constants)


def dense_features(n_in: int, kout: int, real_in: bool, vectors: int) -> tuple[float, ...]:
    rows_in = n_in if real_in else 2 * n_in
    return (rows_in * 2 * kout * vectors, 3, 1, 2 * kout * vectors, 2 * kout * vectors, rows_in * 2 * kout)


def bluestein_features(n: int, length: int, digits: tuple[int, ...], kout: int, vectors: int) -> tuple[float, ...]:
    a = network_features(digits, False, length, vectors)
    chirps = (2 * n + 2 * kout) * vectors
    return (2 * a[0], 2 * a[1] + 8, 2 * a[2], 2 * a[3] + 3 * chirps, 2 * a[4] + 3 * chirps, 2 * a[5])


@lru_cache(maxsize=4096)
def _compositions(n: int, levels: int) -> tuple[tuple[int, ...], ...]:
    """Ordered factorizations of n into at most ``levels`` digits, each small or a prime factor."""
    if levels == 1:
        return ((n,),) if (n <= MAX_DIGIT or len(prime_factors(n)) == 1) else ()
    out: list[tuple[int, ...]] = [(n,)] if (n <= MAX_DIGIT or len(prime_factors(n)) == 1) else []
    for d in _divisors(n):
        if d == n or (d > MAX_DIGIT and len(prime_factors(d)) > 1):
            continue
        out.extend((d, *rest) for rest in _compositions(n // d, levels - 1))
    return tuple(out)


CONSTANT_CAP = 16 << 20
"""Bytes of constants one network may take: a cheaper plan above it is passed over for one below, if any."""


def network_bytes(digits: tuple[int, ...], real_in: bool, kout: int) -> int:
    return 4 * sum(b * o * i for b, o, i, _ in level_shapes(digits, real_in, kout))


@lru_cache(maxsize=4096)
def best_factored(n: int, real_in: bool, kout: int, vectors: int, model: CostModel = COST,
                  cap: int = CONSTANT_CAP) -> AxisPlan | None:
    """The cheapest factored plan of length n (at least two digits) whose constants fit ``cap`` (else the one
    with the fewest constants), or None when n is prime."""
    best: AxisPlan | None = None
    smallest: tuple[int, AxisPlan] | None = None
    for digits in _compositions(n, MAX_LEVELS):
        if len(digits) < 2:
            continue
        plan = AxisPlan(FACTORED, digits, 0, model.time(network_features(digits, real_in, kout, vectors)))
        size = network_bytes(digits, real_in, kout)
        if smallest is None or size < smallest[0]:
            smallest = (size, plan)
        if size <= cap and (best is None or plan.cost_us < best.cost_us):
            best = plan
    return best if best is not None else (smallest[1] if smallest else None)


def constant_bytes(plan: AxisPlan, n_in: int, kout: int, real_in: bool) -> int:
    """About the bytes of float32 DFT constants ``plan`` builds for one axis (measured within 3% up to 2^20 points)."""
    if plan.form == FACTORED:
        return network_bytes(plan.digits, real_in, kout)
    if plan.form == BLUESTEIN:  # the forward and inverse networks of the padded convolution
        return 2 * network_bytes(plan.digits, False, plan.length)
    return 8 * n_in * kout  # dense: cosine and sine rows


def smooth_length(minimum: int) -> int:
    """The smallest 2^a 3^b 5^c >= minimum."""
    best = 1 << max(0, (minimum - 1).bit_length())
    p3 = 1
    while p3 < 2 * minimum:
        p5 = p3
        while p5 < 2 * minimum:
            value = p5
            while value < minimum:
                value *= 2
            best = min(best, value)
            p5 *= 5
        p3 *= 3
    return best


def bluestein_plan(n: int, kout: int, vectors: int, model: CostModel = COST) -> AxisPlan | None:
    length = smooth_length(2 * n - 1)
    inner = best_factored(length, False, length, vectors, model)  # each of its two networks within the cap
    if inner is None:
        return None
    cost = model.time(bluestein_features(n, length, inner.digits, kout, vectors))
    return AxisPlan(BLUESTEIN, inner.digits, length, cost)


def choose(n: int, n_in: int, kout: int, real_in: bool, vectors: int, allowed: frozenset[str] | None = None,
           model: CostModel = COST, dense_kout: int | None = None) -> AxisPlan:
    """The cheapest form for an axis of signal length n (``n_in`` values arrive, bins 0..kout-1 leave).

    ``vectors`` is how many vectors the call transforms; ``dense_kout`` is how many bins a dense
    matrix computes when only some ranges are read. ``allowed`` restricts the forms (tests force
    one); dense is always possible, and the only form for axes of at most ALWAYS_DENSE values
    unless ``allowed`` excludes it.
    """
    kd = kout if dense_kout is None else dense_kout
    dense = AxisPlan(DENSE, (), 0, model.time(dense_features(min(n, n_in), kd, real_in, vectors)))
    if n <= ALWAYS_DENSE and (allowed is None or DENSE in allowed):
        return dense
    candidates = [dense]
    if allowed is None or FACTORED in allowed:
        factored = best_factored(n, real_in, kout, vectors, model)
        if factored is not None:
            candidates.append(factored)
    if (allowed is None or BLUESTEIN in allowed) and n > 16:
        blue = bluestein_plan(n, kout, vectors, model)
        if blue is not None:
            candidates.append(blue)
    if allowed is not None:
        candidates = [c for c in candidates if c.form in allowed] or candidates[:1]
    return min(candidates, key=lambda c: c.cost_us)


def runtime_independent(report: list[dict]) -> bool:
    """Whether a lowering's plans are the same for every runtime: every axis always dense, no framed stft."""
    for transform in report:
        if any(axis["n"] > ALWAYS_DENSE for axis in transform["axes"]):
            return False
        if any(form not in (DENSE, "strided conv1d", "strided conv_transpose1d") for form in transform["forms"]):
            return False
    return True
