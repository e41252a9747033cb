"""One FFT call as real matmuls against constant DFT matrices (dense) or factored networks.

Each transformed axis gets a form from ``affdeploy.fft.plan.choose`` (dense matrix, factored
Cooley-Tukey network, Bluestein). When every axis is dense the call runs as below (the layout
AFFNet was tuned with); otherwise it runs through ``affdeploy.fft.factored`` (``_networks``).

Dense layout rules, chosen for the delegates: every stage is ``x @ M`` with a 2-D constant ``M``
on the last axis (a plain mm/linear; no batched matmul against a broadcast constant, which
becomes expand_copy), real and imaginary parts come out of the same matmul, and the real-input
symmetry is used (r2c keeps n//2+1 bins; c2r weights them as Hermitian, odd n included).
When the transformed axes are small (product <= ``KRON_LIMIT``) all of them go through one
Kronecker matrix on the flattened trailing axes: one matmul and no transposes, which beats
separable stages for AFFNet's 8x8 maps (see docs/fft.md). Larger transforms run one matrix per
axis, moving that axis last: from 16x16 on, the Kronecker matrix's MACs (H*W per value against
H+W) cost more than the transposes the separable stages add.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import numpy as np
import torch

from affdeploy.errors import UsageError
from affdeploy.fft import meter
from affdeploy.fft import plan as planning
from affdeploy.fft.factored import (
    MAX_RANK,
    C,
    Grid,
    Network,
    chirp,
    compact_groups,
    constant_name,
    fetch,
    input_weights,
    run_forward,
    run_transposed,
    split_for_transposed,
)
from affdeploy.fft.matrices import StageKey
from affdeploy.fft.values import Pair
from affdeploy.limits import available_memory_bytes

# Largest product of transformed sizes done as one Kronecker matrix (measured, docs/fft.md).
KRON_LIMIT = 64


class DynamicDimError(ValueError):
    """A transform along a dimension whose size is only known at run time (no constant matrix exists)."""


def static_size(shape: Sequence[Any], dim: int, what: str) -> int:
    """``shape[dim]`` as an int; a dynamic (symbolic) size is an error naming the dim, never specialised."""
    size = shape[dim]
    if not isinstance(size, int):
        raise DynamicDimError(
            f"{what} runs along dim {dim % len(shape)} of a {tuple(str(s) for s in shape)} tensor, which is dynamic "
            f"({size}); a DFT matrix needs a fixed size"
        )
    return size


class MatrixStore(Protocol):
    """Where DFT matrices live: constants of the lowered program, deduplicated by key (or name)."""

    def matrix(self, key: StageKey, dtype: torch.dtype) -> torch.Tensor: ...

    def array(self, name: str, build: Callable[[], np.ndarray], dtype: torch.dtype) -> torch.Tensor: ...


Value = torch.Tensor | Pair


def _out_sizes(key: StageKey) -> list[int]:
    sizes = list(key.n)
    if key.kind == "r2c" and key.onesided:
        last = key.axes_order[-1]
        sizes[last] = sizes[last] // 2 + 1
    return sizes


def _permute(x: Value, perm: list[int]) -> Value:
    return x.map(torch.permute, perm) if isinstance(x, Pair) else torch.permute(x, perm)


def _stage(x: Value, dims: list[int], n: dict[int, int], kind: str, inverse: bool, onesided: bool,
           norm: str, store: MatrixStore) -> Value:
    """Transform axes ``dims`` (in numpy's application order) with one matrix."""
    first = x.re if isinstance(x, Pair) else x
    ndim = first.dim()
    order = sorted(dims)
    k = len(order)
    trailing = order == list(range(ndim - k, ndim))
    perm = [d for d in range(ndim) if d not in order] + order
    if not trailing:
        x = _permute(x, perm)
        first = x.re if isinstance(x, Pair) else x
    lead = list(first.shape[: ndim - k])
    key = StageKey(
        kind=kind,
        inverse=inverse,
        onesided=onesided,
        in_sizes=tuple(first.shape[ndim - k:]),
        n=tuple(n[d] for d in order),
        axes_order=tuple(order.index(d) for d in dims),
        norm=norm,
    )
    flat = x.pack(k) if isinstance(x, Pair) else first.reshape(*lead, -1)
    matrix = store.matrix(key, first.dtype)
    meter.add_constant(key.name, matrix.numel() * matrix.element_size())
    meter.add_macs(math.prod(lead) * matrix.shape[0] * matrix.shape[1])
    y = torch.mm(flat.reshape(-1, matrix.shape[0]), matrix).reshape(*lead, matrix.shape[1])  # plain mm: a linear
    out = _out_sizes(key)
    if kind == "c2r":
        result: Value = y.reshape(*lead, *out)
    else:
        m = math.prod(out)
        re = y[..., :m].reshape(*lead, *out)
        im = y[..., m:].reshape(*lead, *out)
        result = Pair(re, im, packed=(k, y) if trailing else None)
    if trailing:
        return result
    inverse_perm = [perm.index(d) for d in range(ndim)]
    return _permute(result, inverse_perm)



Keep = dict[int, list[tuple[int, int]]]
"""Per transformed dim, the output ranges that are read (the rest is not computed; see ``dft``)."""


def dft(x: Value, kind: str, dims: list[int], n: list[int], *, inverse: bool, onesided: bool, norm: str,
        store: MatrixStore, keep: Keep | None = None, forms: frozenset[str] | None = None) -> Value:
    """An n-dimensional DFT with torch.fft/numpy semantics.

    kind: "r2c" (real input; ``onesided`` halves the last of ``dims``), "c2c" or "c2r"
    (Hermitian input, real output of size n[-1] on the last of ``dims``). ``n`` are the signal
    sizes per axis of ``dims`` (inputs are zero-padded or truncated to them). ``keep`` limits the
    output of an r2c/c2c transform to some ranges of bins per dim (the result then holds those
    ranges only, concatenated in order). ``forms`` restricts the forms the planner may pick.
    """
    shape = x.shape  # a LazyPair knows its shape without leaving its digit layout
    ndim = len(shape)
    dims = [d % ndim for d in dims]
    for d in dims:
        static_size(shape, d, "the FFT")
    keep = {d % ndim: ranges for d, ranges in (keep or {}).items()}
    sizes = dict(zip(dims, n, strict=True))
    model = getattr(store, "cost_model", None) or planning.COST
    plans = _plans(shape, kind, dims, sizes, onesided, isinstance(x, Pair), keep, forms, model)
    if isinstance(x, LazyPair) and _reads_layout(x, _steps(kind, dims), sizes, inverse, plans):
        for d in dims:  # an inverse reading a forward network's digits takes that network's form
            state = x.axes.get(x.names[d])
            if state is not None and state.net is not None:
                digits = state.net.digits
                form = planning.FACTORED if len(digits) > 1 else planning.DENSE
                plans[d] = planning.AxisPlan(form, digits if len(digits) > 1 else (), 0, plans[d].cost_us)
    native = getattr(store, "native_model", None)
    if native is not None and _native_cheaper(native, plans, shape, dims, sizes):
        meter.note_plans({d: (sizes[d], planning.AxisPlan(planning.NATIVE)) for d in dims})
        return _native(x, kind, dims, sizes, inverse, onesided, norm, keep)
    meter.note_plans({d: (sizes[d], plans[d]) for d in dims})
    if all(p.form == planning.DENSE for p in plans.values()):
        return _dense(x, kind, dims, sizes, inverse, onesided, norm, store, keep)
    if isinstance(x, LazyPair) and x.dim is not None and x.dim not in dims:
        parts = [(start, stop, LazyPair([(0, stop - start, grid)], None, x.names, x.axes))
                 for start, stop, grid in x.parts]
        return _combine(x.dim, [(start, stop, _networks(part, kind, dims, sizes, inverse, onesided, norm, store,
                                                         plans, keep)) for start, stop, part in parts])
    if isinstance(x, LazyPair) and x.dim is not None:
        x = x.done()
    pieces = None if isinstance(x, LazyPair) else _chunks(x, dims, sizes, plans)
    if pieces is None:
        return _networks(x, kind, dims, sizes, inverse, onesided, norm, store, plans, keep)
    dim, bounds = pieces
    outs = []
    for start, stop in bounds:
        part = x.map(torch.narrow, dim, start, stop - start) if isinstance(x, Pair) else \
            torch.narrow(x, dim, start, stop - start)
        outs.append((start, stop, _networks(part, kind, dims, sizes, inverse, onesided, norm, store, plans, keep)))
    return _combine(dim, outs)


def _combine(dim: int, outs: list[tuple[int, int, Value]]) -> Value:
    """The chunks' results as one value: a chunked LazyPair when each stayed in its digit layout."""
    if all(isinstance(o, LazyPair) and o.dim is None for _, _, o in outs):
        chunks = cast(list[tuple[int, int, LazyPair]], outs)  # as just checked
        first = chunks[0][2]
        return LazyPair([(start, stop, o.parts[0][2]) for start, stop, o in chunks], dim, first.names, first.axes)
    done = [o.done() if isinstance(o, LazyPair) else o for _, _, o in outs]
    if isinstance(done[0], Pair):  # the chunks are all complex or all real
        pairs = cast(list[Pair], done)
        return Pair(torch.cat([o.re for o in pairs], dim), torch.cat([o.im for o in pairs], dim))
    return torch.cat(cast(list[torch.Tensor], done), dim)


CHUNK_BYTES = 1 << 20
"""Transforms whose data exceed this run in chunks along an untouched dim, each chunk's levels and transposes
within the CPU's L2 cache (measured: 2-D 256x256 x 64 channels runs 2x faster in chunks of 4 channels)."""
MAX_CHUNKS = 32


def _chunks(x: Value, dims: list[int], sizes: dict[int, int],
            plans: dict[int, planning.AxisPlan]) -> tuple[int, list[tuple[int, int]]] | None:
    """(dim, [start, stop) pieces) to split ``x`` into so that each piece's data stays under CHUNK_BYTES.

    Only when the transform's constants are small next to its data: every chunk reads them again.
    """
    shape = list(x.shape)
    width = 8  # bytes per complex value
    total = math.prod(_hint(s) for i, s in enumerate(shape) if i not in dims) * \
        math.prod(max(sizes[d], _hint(shape[d])) for d in dims) * width
    if total <= CHUNK_BYTES:
        return None
    constants = 0
    for d in dims:
        plan = plans[d]
        digits = plan.digits if plan.form == planning.FACTORED else (sizes[d],)
        constants += 4 * sum(b * o * i for b, o, i, _ in planning.level_shapes(digits, False, sizes[d]))
    for dim in range(len(shape)):
        if dim in dims or not isinstance(shape[dim], int) or shape[dim] < 2:
            continue
        count = min(MAX_CHUNKS, shape[dim], -(-total // CHUNK_BYTES))
        if constants * count > total // 4:
            return None
        step = -(-shape[dim] // count)
        bounds = [(start, min(shape[dim], start + step)) for start in range(0, shape[dim], step)]
        return (dim, bounds) if len(bounds) > 1 else None
    return None


def _native_cheaper(native: planning.NativeModel, plans: dict[int, planning.AxisPlan], shape: Sequence[Any],
                    dims: list[int], sizes: dict[int, int]) -> bool:
    """Whether the runtime's own FFT op beats the planned forms (never for axes that are always dense)."""
    if all(sizes[d] <= planning.ALWAYS_DENSE for d in dims):
        return False
    numel = math.prod(_hint(s) for s in shape)
    axes = [(sizes[d], max(1, numel // max(1, _hint(shape[d])))) for d in dims]
    return native.time(axes) < sum(p.cost_us for p in plans.values())


def _native(x: Value, kind: str, dims: list[int], sizes: dict[int, int], inverse: bool, onesided: bool, norm: str,
            keep: Keep) -> Value:
    """The transform as the runtime's own FFT op (kept in the graph: ONNX exports it as DFT)."""
    z = torch.complex(x.re, x.im) if isinstance(x, Pair) else x
    s = [sizes[d] for d in dims]
    if kind == "c2r":
        out = torch.fft.irfftn(z, s=s, dim=dims, norm=norm)
    elif kind == "r2c" and onesided:
        out = torch.fft.rfftn(z, s=s, dim=dims, norm=norm)
    else:
        out = (torch.fft.ifftn if inverse else torch.fft.fftn)(z, s=s, dim=dims, norm=norm)
    if not out.is_complex():
        return out
    for d, ranges in keep.items():
        pieces = [torch.narrow(out, d, start, stop - start) for start, stop in ranges]
        out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, d)
    parts = torch.view_as_real(out)
    return Pair(parts[..., 0], parts[..., 1])


def _kout(kind: str, d: int, last: int, n: int, onesided: bool, keep: Keep) -> int:
    """How many leading bins a forward step along d must produce."""
    if d in keep:
        return max(stop for _, stop in keep[d])
    return n // 2 + 1 if (kind in ("r2c", "c2r") and d == last and (onesided or kind == "c2r")) else n


def _plans(shape: Sequence[Any], kind: str, dims: list[int], sizes: dict[int, int], onesided: bool, complex_in: bool,
           keep: Keep, forms: frozenset[str] | None, model: planning.CostModel) -> dict[int, planning.AxisPlan]:
    numel = math.prod(_hint(s) for s in shape)
    plans = {}
    need = 0
    last = dims[-1]
    for d in dims:
        n = sizes[d]
        size = int(shape[d])
        kout = _kout(kind, d, last, n, onesided, keep)
        kept = sum(stop - start for start, stop in keep[d]) if d in keep else kout
        real_in = not complex_in and d == last and kind == "r2c"
        n_in = size
        if kind == "c2r" and d == last:
            real_in, n_in = True, n  # the c2r network is the transposed real-input network: costed as the r2c
        plans[d] = planning.choose(n, n_in, kout, real_in, max(1, numel // max(1, size)), forms, model, dense_kout=kept)
        need += planning.constant_bytes(plans[d], n_in, kout, real_in)
    available = available_memory_bytes()
    if need > available:  # refused before any is built: the pass would run the machine out of memory
        lengths = ", ".join(f"{sizes[d]} along dim {d}" for d in dims)
        raise UsageError(f"an FFT of {lengths} needs about {need / 1e9:,.1f} GB of DFT constants; this machine has "
                         f"{available / 1e9:.1f} GB available", hint="transform shorter signals, e.g. in frames")
    return plans


def _hint(size: Any) -> int:
    """A dim's size for costing: its example value when symbolic (read without guarding on it)."""
    if isinstance(size, int):
        return size
    hint = getattr(getattr(size, "node", None), "hint", None)
    return int(hint) if hint is not None else 1


def _dense(x: Value, kind: str, dims: list[int], sizes: dict[int, int], inverse: bool, onesided: bool, norm: str,
           store: MatrixStore, keep: Keep) -> Value:
    """Every axis a dense matrix: one Kronecker stage for small transforms, else one stage per axis."""
    shape = (x.re if isinstance(x, Pair) else x).shape
    if keep:
        return _networks(x, kind, dims, sizes, inverse, onesided, norm, store,
                         {d: planning.AxisPlan(planning.DENSE) for d in dims}, keep)
    if len(dims) == 1 or math.prod(shape[d] for d in dims) <= KRON_LIMIT:
        return _stage(x, dims, sizes, kind, inverse, onesided, norm, store)
    # Separable: numpy's order (r2c: last axis first; c2r: last axis last), one axis a stage.
    if kind == "c2r":
        for d in dims[:-1]:
            x = _stage(x, [d], sizes, "c2c", True, False, norm, store)
        return _stage(x, [dims[-1]], sizes, "c2r", True, False, norm, store)
    if kind == "r2c":
        x = _stage(x, [dims[-1]], sizes, "r2c", inverse, onesided, norm, store)
        dims = dims[:-1]
    for d in reversed(dims):
        x = _stage(x, [d], sizes, "c2c", inverse, False, norm, store)
    return x


def _scale(norm: str, n: int, inverse: bool) -> float:
    """numpy's normalisation of a transform of length n (``inverse``: the 1/n of backward sits here)."""
    if norm == "ortho":
        return 1.0 / math.sqrt(n)
    if norm == "forward":
        return 1.0 if inverse else 1.0 / n
    return 1.0 / n if inverse else 1.0


class AxisState:
    """Where a transformed axis stands: its digit labels (most significant first) and valid bins.

    ``net`` is the forward network whose output digits the labels are (None once the axis is back in
    natural order); an inverse transform reads that layout directly with the transposed network.
    """

    __slots__ = ("labels", "valid", "exact", "net")

    def __init__(self, labels: list[str], valid: int, exact: bool = False, net: Network | None = None) -> None:
        self.labels, self.valid, self.exact, self.net = labels, valid, exact, net


class LazyPair(Pair):
    """A transform's complex result still in the digit layout of its networks, put in natural order
    (one transposing copy) only when something reads it that cannot work on that layout.

    An inverse transform of it reads the layout as it is (``_networks``), and multiplying it by
    constants or by a spectrum of the same layout, or conjugating it, stays in the layout
    (``lazy_mul``, ``lazy_conj``): an FFT convolution then runs forward network, product, transposed
    network, with no transpose in between. A large transform runs in chunks along an untouched dim
    (``dim``): ``parts`` holds each chunk's grid with its [start, stop) on that dim.
    """

    __slots__ = ("parts", "dim", "names", "axes", "_done", "_shape")

    def __init__(self, parts: list[tuple[int, int, Grid]], dim: int | None, names: list[str],
                 axes: dict[str, AxisState]) -> None:
        self.parts, self.dim, self.names, self.axes = parts, dim, names, axes
        self._done: Pair | None = None
        self._packed = None
        self._stacked = None
        self.constant = None
        grid = parts[0][2]
        shape = [axes[n].valid if n in axes else grid.size(n) for n in names]
        if dim is not None:
            shape[dim] = parts[-1][1]
        self._shape = torch.Size(shape)

    @property
    def grid(self) -> Grid:
        return self.parts[0][2]

    def done(self) -> Pair:
        if self._done is None:
            pieces = [cast(Pair, finish(grid, self.names, self.axes, {})) for _, _, grid in self.parts]  # complex
            if len(pieces) == 1:
                self._done = pieces[0]
            else:  # chunks along dim
                dim = cast(int, self.dim)
                self._done = Pair(torch.cat([p.re for p in pieces], dim), torch.cat([p.im for p in pieces], dim))
        return self._done

    @property
    def re(self) -> torch.Tensor:  # type: ignore[override]
        return self.done().re

    @property
    def im(self) -> torch.Tensor:  # type: ignore[override]
        return self.done().im

    @property
    def shape(self) -> torch.Size:
        return self._shape

    def stacked(self) -> torch.Tensor:
        return self.done().stacked()

    def pack(self, k: int) -> torch.Tensor:
        return self.done().pack(k)

    def map_parts(self, fn: Callable[[int, int, Grid], Grid | None]) -> LazyPair | None:
        """The same layout with each chunk's grid replaced by ``fn(start, stop, grid)`` (None: give up)."""
        parts = []
        for start, stop, grid in self.parts:
            new = fn(start, stop, grid)
            if new is None:
                return None
            parts.append((start, stop, new))
        return LazyPair(parts, self.dim, self.names, self.axes)


def _stacked_grid(x: Pair, names: list[str], transformed: list[str]) -> Grid:
    """``[re, im]`` stacked under ``c``; for a 5-D value the untouched dims first merged, so that the stack
    stays within MAX_RANK dims (Core ML takes rank 5 at most)."""
    if x.re.dim() < MAX_RANK:
        return Grid(x.stacked(), [C, *names])
    groups = compact_groups(names, transformed)
    sizes = dict(zip(names, x.re.shape, strict=True))
    shape = [math.prod(sizes[n] for n in group) for group in groups]
    return Grid(x.map(torch.reshape, shape).stacked(), groups=[[C], *groups], sizes={C: 2, **sizes})


def _networks(x: Value, kind: str, dims: list[int], sizes: dict[int, int], inverse: bool, onesided: bool, norm: str,
              store: MatrixStore, plans: dict[int, planning.AxisPlan], keep: Keep) -> Value:
    """The transform on the digit layout of ``affdeploy.fft.factored`` (any mix of forms per axis)."""
    last = dims[-1]
    steps = _steps(kind, dims)
    axes: dict[str, AxisState] = {}
    if isinstance(x, LazyPair) and x.dim is None and _reads_layout(x, steps, sizes, inverse, plans):
        g, names, axes = x.grid, x.names, dict(x.axes)
    else:
        if isinstance(x, LazyPair):
            x = x.done()
        first = x.re if isinstance(x, Pair) else x
        names = [f"a{i}" for i in range(first.dim())]
        g = _stacked_grid(x, names, [names[d] for d in dims]) if isinstance(x, Pair) else Grid(x, names)
    for d, step in steps:
        axis, n, plan = names[d], sizes[d], plans[d]
        scale = _scale(norm, n, inverse)
        state = axes.get(axis)
        if state is not None and state.net is not None:  # the digits of a forward network: its transpose
            g, axes[axis] = _transposed_step(g, axis, n, state.net, step, scale, store)
            continue
        if step == "c2r":
            g, axes[axis] = c2r_step(g, axis, n, plan, scale, store)
            continue
        sign = 1 if inverse else -1
        kout = _kout(kind, d, last, n, onesided, keep)
        g = g.pad_axis(axis, 0, n - g.size(axis))
        g, axes[axis] = forward_step(g, axis, n, plan, sign, scale, kout, keep.get(d), store)
    named_keep = {names[d]: r for d, r in keep.items()}
    if C in g.names and not named_keep:
        size = axes[names[0]].valid if names[0] in axes else g.size(names[0])
        return LazyPair([(0, size, g)], None, names, axes)
    return finish(g, names, axes, named_keep)


def _steps(kind: str, dims: list[int]) -> list[tuple[int, str]]:
    """The one-axis steps of a transform in numpy's order (r2c: last axis first; c2r: last axis last)."""
    last = dims[-1]
    if kind == "c2r":
        return [(d, "c2c") for d in dims[:-1]] + [(last, "c2r")]
    if kind == "r2c":
        return [(last, "r2c")] + [(d, "c2c") for d in reversed(dims[:-1])]
    return [(d, "c2c") for d in reversed(dims)]


def _reads_layout(x: LazyPair, steps: list[tuple[int, str]], sizes: dict[int, int], inverse: bool,
                  plans: dict[int, planning.AxisPlan]) -> bool:
    """Whether every step along an axis in digit layout can read it with the transposed network."""
    for d, step in steps:
        state = x.axes.get(x.names[d])
        if state is None:
            continue
        net = state.net
        if net is None or step == "r2c" or (step == "c2c" and not inverse) or net.n != sizes[d]:
            return False
        if step == "c2r" and not (net.real_in and net.sign == -1 and net.kout == sizes[d] // 2 + 1):
            return False
        if step == "c2c" and (net.real_in or net.sign != -1 or net.kout != sizes[d]):
            return False
        if plans[d].form == planning.BLUESTEIN:
            return False
    return True


def _transposed_step(g: Grid, axis: str, n: int, net: Network, step: str, scale: float,
                     store: MatrixStore) -> tuple[Grid, AxisState]:
    """The inverse of ``net``'s transform (c2c: the opposite sign; c2r: Hermitian weights) on its own digits."""
    weights = ("hermitian", n, repr(scale)) if step == "c2r" else ("scale", n, repr(scale))
    base = Network(net.digits, net.sign, net.real_in, net.kout)
    g = run_transposed(g, axis, base, store, in_weights=weights)
    return g, AxisState([f"{axis}.n{j}" for j in range(len(net.digits))], n)


def forward_step(g: Grid, axis: str, n: int, plan: planning.AxisPlan, sign: int, scale: float, kout: int,
                 ranges: list[tuple[int, int]] | None, store: MatrixStore) -> tuple[Grid, AxisState]:
    """An r2c or c2c transform of ``axis`` (natural order, length n) by ``plan``."""
    real_in = C not in g.names
    if plan.form == planning.BLUESTEIN:
        g = _bluestein(g, axis, n, plan, sign, kout, store, scale=scale)
        return g, AxisState([axis], kout)
    if plan.form == planning.DENSE:
        bins = tuple(k for start, stop in ranges for k in range(start, stop)) if ranges else None
        net = Network((n,), sign, real_in, kout, scale, bins=bins)
        state = AxisState([f"{axis}.k0"], kout, exact=bins is not None, net=None if bins else net)
        return run_forward(g, axis, net, store), state
    net = Network(plan.digits, sign, real_in, kout, scale)
    g = run_forward(g, axis, net, store)
    return g, AxisState([f"{axis}.k{j}" for j in reversed(range(len(plan.digits)))], kout, net=net)


def c2r_step(g: Grid, axis: str, n: int, plan: planning.AxisPlan, scale: float,
             store: MatrixStore) -> tuple[Grid, AxisState]:
    """A c2r transform of ``axis`` (natural order, its Hermitian half) to n real values."""
    bins = n // 2 + 1
    g = g.pad_axis(axis, 0, bins - g.size(axis))
    if plan.form == planning.BLUESTEIN:
        weights = fetch(store, constant_name("herm", n, bins, repr(scale)),
                        lambda: np.stack(input_weights(("hermitian", n, repr(scale)), bins)), g.t.dtype)
        g = g.scale_axis(axis, weights)
        g = g.pad_axis(axis, 0, n - bins)
        g = _bluestein(g, axis, n, plan, 1, n, store, scale=1.0, real_out=True)
        return g, AxisState([axis], n)
    digits = plan.digits if plan.form == planning.FACTORED else (n,)
    net = Network(digits, -1, True, bins)
    g = split_for_transposed(g, axis, net)
    g = run_transposed(g, axis, net, store, in_weights=("hermitian", n, repr(scale)))
    return g, AxisState([f"{axis}.n{j}" for j in range(len(digits))], n)


def _complex_scale(g: Grid, axis: str, values: torch.Tensor, real_out: bool = False) -> Grid:
    """Multiply a complex grid by complex ``values`` (rows re, im) along ``axis``; real part only if ``real_out``."""
    g = g.separate([axis, C])
    ci = g.dim_of(C)
    re, im = torch.narrow(g.t, ci, 0, 1), torch.narrow(g.t, ci, 1, 1)
    shape = [1] * g.t.dim()
    shape[g.dim_of(axis)] = values.shape[-1]
    w_re, w_im = torch.narrow(values, 0, 0, 1).reshape(shape), torch.narrow(values, 0, 1, 1).reshape(shape)
    out_re = re * w_re - im * w_im
    if real_out:
        sizes = {k: v for k, v in g.sizes.items() if k != C}
        out_shape = [s for i, s in enumerate(out_re.shape) if i != ci]
        return Grid(out_re.reshape(out_shape), groups=[grp for grp in g.groups if grp != [C]], sizes=sizes)
    return Grid(torch.cat([out_re, re * w_im + im * w_re], ci), groups=g.groups, sizes=g.sizes)


def _bluestein(g: Grid, axis: str, n: int, plan: planning.AxisPlan, sign: int, kout: int, store: MatrixStore,
               scale: float, real_out: bool = False) -> Grid:
    """Chirp-z: DFT_n = chirp * (IDFT_L(DFT_L(chirp * x) * DFT_L(filter))) on the first kout bins."""
    length, digits = plan.length, plan.digits
    dtype = g.t.dtype

    def pre() -> np.ndarray:
        w = chirp(n, sign) * scale
        return np.stack([w.real, w.imag])

    pre_chirp = fetch(store, constant_name("chirp", n, sign, repr(scale)), pre, dtype)
    if g.t.dim() + (C not in g.names) > MAX_RANK:  # a 5-D input: c and the axis on dims of their own make rank 6
        g = g.compacted([axis, C])
    if C not in g.names:
        g = g.with_complex_axis().scale_axis(axis, pre_chirp)
    else:
        g = _complex_scale(g, axis, pre_chirp)
    g = g.pad_axis(axis, 0, length - n)
    forward = Network(digits, sign, False, length, out_weights=("bluestein", n, length, sign))
    g = run_forward(g, axis, forward, store)
    first = length // digits[0]
    nout = -(-kout // first)
    g = run_transposed(g, axis, Network(digits, sign, False, length), store, nout=nout)
    groups = [(name, [name]) for name in g.names if not name.startswith(f"{axis}.")]
    at = g.names.index(f"{axis}.n0")
    groups.insert(at, (axis, [f"{axis}.n{j}" for j in range(len(digits))]))
    g = g.merged(groups, alone=[axis, C])
    g = g.pad_axis(axis, 0, kout - g.size(axis))

    def post() -> np.ndarray:
        w = chirp(n, sign)[:kout]
        return np.stack([w.real, w.imag])

    post_chirp = fetch(store, constant_name("chirp", n, sign, kout), post, dtype)
    return _complex_scale(g, axis, post_chirp, real_out=real_out)


def finish(g: Grid, names: list[str], axes: dict[str, AxisState], keep: dict[str, list[tuple[int, int]]]) -> Value:
    """Bins back in natural order (one transposing copy), trimmed to what is kept; a Pair if complex.

    ``names`` gives the output's dims in order (a permutation of the input's dims is allowed).
    """
    groups = [(C, [C])] if C in g.names else []
    labels = {name: axes[name].labels if name in axes else [name] for name in names}
    sizes = {name: g.size(name) for name in names if name not in axes}
    compact = len(groups) + len(names) > MAX_RANK  # a 5-D value and c: untouched dims share one until c is split off
    runs = compact_groups(names, list(axes)) if compact else [[name] for name in names]
    groups += [("+".join(run), [label for name in run for label in labels[name]]) for run in runs]
    g = g.merged(groups)
    t = g.t
    for name, state in axes.items():
        dim = g.dim_of(name)
        ranges = keep.get(name) or [(0, state.valid)]
        if state.exact:
            continue
        if ranges == [(0, t.shape[dim])]:
            continue
        pieces = [torch.narrow(t, dim, start, stop - start) for start, stop in ranges]
        t = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim)
    shape = [t.shape[g.dim_of(name)] if name in axes else sizes[name] for name in names]
    if C not in g.names:
        return t.reshape(shape) if compact else t
    return Pair(torch.narrow(t, 0, 0, 1).reshape(shape), torch.narrow(t, 0, 1, 1).reshape(shape),
                stacked=None if compact else t)


# ---------------------------------------------------------------- products in the digit layout


def _uniform_groups(g: Grid, broadcast: dict[str, bool]) -> list[list[str]] | None:
    """The grid's labels grouped so that ``c`` stands alone and each group is broadcast or not as a whole."""
    groups: list[list[str]] = []
    for name in g.names:
        if groups and name != C and groups[-1][0] != C and broadcast[name] == broadcast[groups[-1][0]]:
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups if len(groups) <= MAX_RANK else None


def _complex_product(t: torch.Tensor, ci: int, w: torch.Tensor) -> torch.Tensor:
    """t * w for complex t and w with real/imaginary parts along dim ``ci`` (w broadcastable)."""
    re, im = torch.narrow(t, ci, 0, 1), torch.narrow(t, ci, 1, 1)
    w_re, w_im = torch.narrow(w, ci, 0, 1), torch.narrow(w, ci, 1, 1)
    return torch.cat([re * w_re - im * w_im, re * w_im + im * w_re], ci)


def _constant_layout(value: Pair, lazy: LazyPair, grid: Grid, chunk: tuple[int, int] | None
                     ) -> tuple[Callable[[], np.ndarray], dict[str, bool]] | None:
    """How a constant complex tensor (broadcastable to ``lazy``'s shape) goes into ``grid``'s label order:
    a builder of its values there (c first, digit axes zero-padded to their computed length, the chunk
    ``[start, stop)`` of ``lazy.dim`` only) and which labels it broadcasts along; None when it does not
    broadcast. Shapes only until the builder runs."""
    shape = list(lazy.shape)
    ndim = value.re.dim()
    if ndim > len(shape):
        return None
    natural = (1,) * (len(shape) - ndim) + tuple(int(s) for s in value.re.shape)
    sizes: list[int] = [2]
    labels: list[str] = [C]
    pads: list[tuple[int, int]] = [(0, 0)]
    for i, name in enumerate(lazy.names):
        state = lazy.axes.get(name)
        here = natural[i]
        if here not in (1, shape[i]):
            return None
        if state is None:
            size = here if (chunk is None or i != lazy.dim or here == 1) else chunk[1] - chunk[0]
            labels.append(name)
            sizes.append(size)
            pads.append((0, 0))
            continue
        digits = [grid.size(label) for label in state.labels]
        pads.append((0, 0) if here == 1 else (0, math.prod(digits) - here))
        sizes += [1] * len(digits) if here == 1 else digits
        labels += state.labels
    order = [labels.index(name) for name in grid.names]
    broadcast = {name: sizes[labels.index(name)] == 1 and grid.size(name) != 1 for name in grid.names}

    def build() -> np.ndarray:
        re = value.re.detach().double().numpy().reshape(natural)
        im = value.im.detach().double().numpy().reshape(natural)
        w = np.stack([re, im])
        if chunk is not None and lazy.dim is not None and natural[lazy.dim] != 1:
            w = np.take(w, range(chunk[0], chunk[1]), axis=lazy.dim + 1)
        w = np.pad(w, pads)
        return np.transpose(w.reshape(sizes), order)

    return build, broadcast


def lazy_mul(a: Any, b: Any, store: MatrixStore | None) -> LazyPair | None:
    """``a * b`` kept in the digit layout, or None (the caller multiplies in natural order)."""
    if not isinstance(a, LazyPair):
        a, b = b, a
    if not isinstance(a, LazyPair) or C not in a.grid.names:
        return None
    chunked = a.dim is not None
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return a.map_parts(lambda start, stop, g: Grid(g.t * b, groups=g.groups, sizes=g.sizes))
    if isinstance(b, LazyPair):
        if b.names != a.names or [(s, e) for s, e, _ in b.parts] != [(s, e) for s, e, _ in a.parts] or b.dim != a.dim:
            return None
        others = {start: grid for start, _, grid in b.parts}

        def product(start: int, stop: int, g: Grid) -> Grid | None:
            h = others[start]
            if h.names != g.names or any(h.size(n) != g.size(n) for n in g.names):
                return None
            groups = _uniform_groups(g, {n: False for n in g.names})
            if groups is None:
                return None
            x, y = g._regroup(groups), h._regroup(groups)
            return Grid(_complex_product(x.t, x.dim_of(C), y.t), groups=x.groups, sizes=x.sizes)

        return a.map_parts(product)
    if not isinstance(b, Pair) or b.constant is None or store is None or isinstance(b, LazyPair):
        return None

    def scaled(start: int, stop: int, g: Grid) -> Grid | None:
        laid = _constant_layout(b, a, g, (start, stop) if chunked else None)
        if laid is None:
            return None
        build, broadcast = laid
        groups = _uniform_groups(g, broadcast)
        if groups is None:
            return None
        x = g._regroup(groups)
        wshape = [1 if broadcast[group[0]] else math.prod(g.size(n) for n in group) for group in groups]
        name = constant_name("layout", b.constant, tuple(g.names), tuple(wshape), (start, stop) if chunked else None)
        weight = fetch(store, name, lambda: build().reshape(wshape), x.t.dtype)
        return Grid(_complex_product(x.t, x.dim_of(C), weight), groups=x.groups, sizes=x.sizes)

    return a.map_parts(scaled)


def lazy_conj(a: Any, store: MatrixStore | None) -> LazyPair | None:
    """conj(a) kept in the digit layout: the imaginary part negated along ``c``."""
    if not isinstance(a, LazyPair) or store is None:
        return None

    def negated(start: int, stop: int, grid: Grid) -> Grid:
        g = grid.separate([C])
        shape = [1] * g.t.dim()
        shape[g.dim_of(C)] = 2
        sign = fetch(store, constant_name("conj", g.t.dim(), g.dim_of(C)),
                     lambda: np.array([1.0, -1.0]).reshape(shape), g.t.dtype)
        return Grid(g.t * sign, groups=g.groups, sizes=g.sizes)

    return a.map_parts(negated)
