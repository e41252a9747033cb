"""Factored DFT networks: every level one ``bmm`` against constant matrices, twiddles folded in.

Layout ("digits first, vectors last"). A transform of length N = N_0 * N_1 * ... * N_{d-1} views its
axis as digits, n = n_0 * (N_1...N_{d-1}) + ... + n_{d-1} (n_0 most significant). The tensor is kept
with the digits still to be contracted in front and the untouched dims (the vectors) last, so
each level is ``bmm(M, x.reshape(B, I, -1))`` with the constant on the left:

- level j contracts input digit n_j (and the real/imaginary axis ``c``) into output digit k_j,
  once for every value of the output digits already computed (k_0..k_{j-1}, the bmm batch). The
  Cooley-Tukey twiddle factors depend only on n_j and those digits, so they are folded into the
  batch's matrices: M[b][(k_j, c'), (c, n_j)] = exp(-+2 pi i n_j kappa / (N_0...N_j)) with
  kappa = k_0 + N_0 k_1 + ... + N_0...N_{j-1} k_j.
- the output of a level lands exactly where the next level reads it (batch digits first, then
  ``(c, n_{j+1})``), so no transpose runs between levels: one transposing copy brings the vectors
  last before the first level and one puts the bins back in natural order after the last.
- the output index is k = k_0 + N_0 k_1 + ...; the last level computes only the k_{d-1} that reach
  the bins read (r2c keeps n//2+1, FNO-style readers fewer).

The transposed network (each level's matrices transposed, levels in reverse order) computes the
adjoint map: the DFT of the opposite sign for complex data and, for a real-input network, the c2r
transform (Hermitian weights and the norm folded into its first level). It reads the digit layout
a forward network leaves, so forward -> pointwise -> transposed (Bluestein's convolution) needs no
transposes in between.

Every matrix is computed in float64 from exact integer phases ((n * kappa) mod P) and stored as a
float32 constant named after its parameters (deterministic, deduplicated).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from affdeploy.fft import meter

C = "c"  # the label of the real/imaginary axis


class ArrayStore(Protocol):
    """Where the constants of the networks live (the lowered program's buffers)."""

    def array(self, name: str, build: Callable[[], np.ndarray], dtype: torch.dtype) -> torch.Tensor: ...


def fetch(store: ArrayStore, name: str, build: Callable[[], np.ndarray], dtype: torch.dtype) -> torch.Tensor:
    """``store.array``, with the constant counted by the active meter."""
    tensor = store.array(name, build, dtype)
    meter.add_constant(name, tensor.numel() * tensor.element_size())
    return tensor


def constant_name(tag: str, *params: Any) -> str:
    """A buffer name for a constant built from ``params``: readable tag plus a digest of all of them."""
    digest = hashlib.sha1(repr(params).encode()).hexdigest()[:10]
    return f"_dft_{tag}_{digest}"


# ---------------------------------------------------------------- labelled tensors


MAX_RANK = 5
"""No emitted op sees a tensor of more dims (XNNPACK takes at most 6, Core ML's ops 5)."""


def _runs(source: Sequence[str], target: Sequence[str]) -> list[list[str]]:
    """``target`` cut into the longest pieces that are also consecutive, in order, in ``source``."""
    where = {name: i for i, name in enumerate(source)}
    runs: list[list[str]] = []
    for name in target:
        if runs and where[runs[-1][-1]] + 1 == where[name]:
            runs[-1].append(name)
        else:
            runs.append([name])
    return runs


def _blocks(source: Sequence[str], target: Sequence[str]) -> list[list[str]]:
    """``target`` cut into the longest pieces whose labels fill a contiguous stretch of ``source``."""
    where = {name: i for i, name in enumerate(source)}
    blocks: list[list[str]] = []
    for name in target:
        if blocks:
            positions = [where[n] for n in blocks[-1]] + [where[name]]
            if max(positions) - min(positions) + 1 == len(positions):
                blocks[-1].append(name)
                continue
        blocks.append([name])
    return blocks


def permute_stages(source: Sequence[str], target: Sequence[str], max_rank: int = MAX_RANK) -> list[list[str]]:
    """Intermediate orders leading from ``source`` to ``target``, each one permute of at most max_rank dims.

    First the blocks of ``target`` that sit together in ``source`` move as units, then each block is
    reordered inside (one block a stage if all at once would need too many dims; a block reversal of
    more than max_rank - 2 labels is split in halves).
    """
    source, target = list(source), list(target)
    if source == target or len(_runs(source, target)) <= max_rank:
        return [target] if source != target else []
    blocks = _blocks(source, target)
    where = {name: i for i, name in enumerate(source)}
    first = [n for block in blocks for n in sorted(block, key=where.__getitem__)]
    if len(_runs(source, first)) > max_rank:
        raise ValueError(f"cannot reorder {source} into {target} with permutes of at most {max_rank} dims")
    stages = [first] if first != source else []
    current = first
    for block in blocks:
        ordered = sorted(block, key=where.__getitem__)
        if ordered == block:
            continue
        start = current.index(ordered[0])
        wanted = current[:start] + block + current[start + len(block):]
        if len(_runs(current, wanted)) > max_rank:  # halves first, then each half
            half = len(block) // 2
            swapped = current[:start] + sorted(block[:half], key=where.__getitem__) + \
                sorted(block[half:], key=where.__getitem__) + current[start + len(block):]
            stages += permute_stages(current, swapped, max_rank) if swapped != current else []
            current = swapped
            stages += permute_stages(current, wanted, max_rank)
        else:
            stages.append(wanted)
        current = wanted
    return stages


def compact_groups(names: Sequence[str], alone: Sequence[str]) -> list[list[str]]:
    """``names`` grouped so that each run of consecutive names not in ``alone`` is one group."""
    groups: list[list[str]] = []
    for n in names:
        if n in alone or not groups or groups[-1][0] in alone:
            groups.append([n])
        else:
            groups[-1].append(n)
    return groups


class Grid:
    """A real tensor whose dims carry named labels: transform digits, ``c``, and the untouched dims.

    Consecutive labels may share one physical dim (``groups``), so that views and matmuls keep few
    dims; a label gets a dim of its own only when a permute, pad or broadcast needs it.
    """

    __slots__ = ("t", "groups", "sizes")

    def __init__(self, t: torch.Tensor, names: Sequence[str] | None = None, groups: Sequence[Sequence[str]] | None = None,
                 sizes: dict[str, Any] | None = None) -> None:
        self.groups = [list(g) for g in groups] if groups is not None else [[n] for n in names or ()]
        if t.dim() != len(self.groups):
            raise ValueError(f"{len(self.groups)} label groups for a {t.dim()}-d tensor")
        self.t = t
        self.sizes = dict(sizes) if sizes is not None else {g[0]: t.shape[i] for i, g in enumerate(self.groups)}

    @property
    def names(self) -> list[str]:
        return [n for g in self.groups for n in g]

    def size(self, name: str) -> Any:
        return self.sizes[name]

    def _regroup(self, groups: Sequence[Sequence[str]]) -> Grid:
        """The same values with another grouping of the same label order (a reshape)."""
        groups = [list(g) for g in groups]
        if groups == self.groups:
            return self
        shape = [math.prod(self.sizes[n] for n in g) for g in groups]
        return Grid(self.t.reshape(shape), groups=groups, sizes=self.sizes)

    def _permute(self, order: list[str]) -> Grid:
        runs = _runs(self.names, order)
        where = {name: i for i, name in enumerate(self.names)}
        by_source = sorted(runs, key=lambda run: where[run[0]])
        g = self._regroup(by_source)
        perm = [by_source.index(run) for run in runs]
        return Grid(g.t.permute(perm), groups=runs, sizes=self.sizes)

    def arrange(self, order: Sequence[str]) -> Grid:
        g = self
        for stage in permute_stages(self.names, order):
            g = g._permute(stage)
        return g

    def separate(self, names: Sequence[str]) -> Grid:
        """Each of ``names`` its own dim (for pads and broadcasts)."""
        groups: list[list[str]] = []
        for group in self.groups:
            piece: list[str] = []
            for n in group:
                if n in names:
                    if piece:
                        groups.append(piece)
                        piece = []
                    groups.append([n])
                else:
                    piece.append(n)
            if piece:
                groups.append(piece)
        return self._regroup(groups)

    def compacted(self, alone: Sequence[str]) -> Grid:
        """Runs of consecutive labels not in ``alone`` each share one dim (a view), ``alone`` keep theirs."""
        return self._regroup(compact_groups(self.names, alone))

    def dim_of(self, name: str) -> int:
        return next(i for i, g in enumerate(self.groups) if g == [name])

    def split(self, name: str, parts: Sequence[tuple[str, int]]) -> Grid:
        """Relabel ``name`` as consecutive labels (sizes multiply to its size); no op is emitted."""
        sizes = {k: v for k, v in self.sizes.items() if k != name}
        sizes.update(parts)
        groups = [[p for n in g for p in ([q for q, _ in parts] if n == name else [n])] for g in self.groups]
        return Grid(self.t, groups=groups, sizes=sizes)

    def merged(self, groups: Sequence[tuple[str, Sequence[str]]], alone: Sequence[str] | None = None) -> Grid:
        """The labels in ``groups`` order (each group's labels adjacent), each group merged into one label.

        Each new label gets a dim of its own, unless that makes more than MAX_RANK and ``alone`` is given:
        then only the labels in ``alone`` do, and runs of the others share one.
        """
        order = [n for _, names in groups for n in names]
        g = self.arrange(order)
        new = [name for name, _ in groups]
        physical = compact_groups(new, alone) if alone is not None and len(new) > MAX_RANK else [[n] for n in new]
        members = dict(groups)
        g = g._regroup([[label for name in group for label in members[name]] for group in physical])
        sizes = {name: math.prod(g.sizes[n] for n in names) for name, names in groups}
        return Grid(g.t, groups=physical, sizes=sizes)

    def contract(self, batch: Sequence[str], inputs: Sequence[str], outputs: Sequence[tuple[str, int]],
                 matrix: torch.Tensor, front: Sequence[str] = ()) -> Grid:
        """``bmm(matrix, x)`` over ``inputs`` for each value of ``batch``; the rest rides along as columns.

        ``front`` names labels to put first among the columns (a transform's later digits, so that
        the untouched dims stay last).
        """
        batch, inputs = list(batch), list(inputs)
        rest = [n for n in self.names if n not in batch and n not in inputs]
        rest = [n for n in front if n in rest] + [n for n in rest if n not in front]
        g = self.arrange(batch + inputs + rest)
        x = g.t.reshape(matrix.shape[0], matrix.shape[2], -1)
        y = torch.bmm(matrix, x)
        meter.add_macs(matrix.numel() * x.shape[-1])
        sizes = dict(g.sizes)
        for n in inputs:
            del sizes[n]
        sizes.update(outputs)
        groups = [batch, [n for n, _ in outputs], rest]
        if not batch:
            y, groups = y.reshape(y.shape[1], y.shape[2]), groups[1:]
        if not rest:
            y, groups = y.reshape(y.shape[:-1]), groups[:-1]
        return Grid(y, groups=groups, sizes=sizes)

    def pad_axis(self, name: str, before: int, after: int) -> Grid:
        """Zero padding (or, negative, trimming) of one label at its ends."""
        if before == 0 and after == 0:
            return self
        g = self.separate([name])
        i = g.dim_of(name)
        t = g.t
        size = t.shape[i]
        if before < 0 or after < 0:
            start, stop = max(0, -before), size - max(0, -after)
            t = torch.narrow(t, i, start, stop - start)
            size = stop - start
            before, after = max(0, before), max(0, after)
        if before or after:
            t = torch.nn.functional.pad(t, [0, 0] * (t.dim() - 1 - i) + [before, after])
        sizes = dict(g.sizes)
        sizes[name] = size + before + after
        return Grid(t, groups=g.groups, sizes=sizes)

    def scale_axis(self, name: str, values: torch.Tensor) -> Grid:
        """Multiply by ``values`` along ``name`` (and along ``c`` too when ``values`` has two rows)."""
        g = self.separate([name, C] if values.dim() == 2 else [name])
        shape = [1] * g.t.dim()
        shape[g.dim_of(name)] = values.shape[-1]
        sizes = dict(g.sizes)
        if values.dim() == 2:
            shape[g.dim_of(C)] = 2
            sizes[C] = 2
        return Grid(g.t * values.reshape(shape), groups=g.groups, sizes=sizes)

    def with_complex_axis(self) -> Grid:
        """A real grid with a leading ``c`` of size 1 (broadcast to 2 by a complex scale_axis)."""
        return Grid(self.t.unsqueeze(0), groups=[[C], *self.groups], sizes={**self.sizes, C: 1})


def nested_kappa(digits: Sequence[int]) -> np.ndarray:
    """kappa = k_0 + N_0 k_1 + ... for every (k_0, ..., k_{j-1}) in C order (k_0 outermost)."""
    kappa = np.zeros((), dtype=np.int64)
    stride = 1
    for size in digits:
        kappa = kappa[..., None] + stride * np.arange(size, dtype=np.int64)
        stride *= size
    return kappa.reshape(-1)


# ---------------------------------------------------------------- one network


@dataclass(frozen=True)
class Network:
    """A forward DIT network: what its levels compute, and everything its constants depend on.

    ``sign`` is the exponent's sign (-1: forward DFT); ``real_in`` makes level 0 take real values;
    ``kout`` output bins are needed (level d-1 computes only the digits reaching them) or, with
    ``bins``, exactly those bins (one level only); ``scale`` multiplies level 0; ``out_weights``
    names complex weights, one per output bin, that multiply the last level's outputs (only
    ``("bluestein", n, length, sign)``: Bluestein's filter spectrum, see ``bluestein_kernel``).
    """

    digits: tuple[int, ...]
    sign: int
    real_in: bool
    kout: int
    scale: float = 1.0
    out_weights: tuple[Any, ...] | None = None
    bins: tuple[int, ...] | None = None

    @property
    def n(self) -> int:
        return math.prod(self.digits)

    def k_last(self) -> int:
        if self.bins is not None:
            return len(self.bins)
        return -(-self.kout // math.prod(self.digits[:-1]))

    def out_sizes(self) -> list[int]:
        return list(self.digits[:-1]) + [self.k_last()]

    def complex_level(self, j: int) -> np.ndarray:
        """The complex matrices of level j, (batches, N_j in, K_j out): y[k] = sum_n M[n, k] x[n]."""
        digits = self.digits
        before = math.prod(digits[:j])
        size = digits[j]
        period = before * size
        last = j == len(digits) - 1
        if last and self.bins is not None:
            kappa = np.asarray(self.bins, dtype=np.int64)[None, :]
        else:
            count = self.k_last() if last else size
            kappa = nested_kappa(digits[:j])[:, None] + before * np.arange(count, dtype=np.int64)[None, :]
        phase = (np.arange(size, dtype=np.int64)[None, :, None] * kappa[:, None, :]) % period
        m = np.exp(self.sign * 2j * np.pi * phase / period)
        if j == 0:
            m = m * self.scale
        if last and self.out_weights is not None:
            _, n, length, sign = self.out_weights
            m = m * bluestein_kernel(n, length, sign)[kappa][:, None, :]
        return m

    def level(self, j: int) -> np.ndarray:
        """Level j as real (batches, rows out (k, c), rows in (c, n) or (n)) matrices."""
        m = np.swapaxes(self.complex_level(j), 1, 2)  # (B, K, N)
        batches, k, size = m.shape
        if j == 0 and self.real_in:
            out = np.stack([m.real, m.imag], axis=2)  # (B, K, 2, N)
            return out.reshape(batches, 2 * k, size)
        out = np.empty((batches, k, 2, 2, size))
        out[:, :, 0, 0], out[:, :, 0, 1] = m.real, -m.imag
        out[:, :, 1, 0], out[:, :, 1, 1] = m.imag, m.real
        return out.reshape(batches, 2 * k, 2 * size)

    def key(self) -> tuple[Any, ...]:
        return (self.digits, self.sign, self.real_in, self.kout, repr(self.scale), self.out_weights, self.bins)


def _level_constant(net: Network, j: int, transposed: bool, in_weights: tuple[Any, ...] | None, nout: int | None,
                    store: ArrayStore, dtype: torch.dtype) -> torch.Tensor:
    """Level j of ``net`` (or of its transpose, with input weights / output restriction) as a constant."""

    def build() -> np.ndarray:
        m = net.level(j)
        if not transposed:
            return m
        m = np.swapaxes(m, 1, 2)  # (B, rows in of the forward, rows out of the forward)
        if in_weights is not None:  # per (bin, c) weights on the transposed network's input
            kappa = _kappa_of_level(net, j)  # (B, K)
            w_re, w_im = input_weights(in_weights, int(kappa.max()) + 1)
            w = np.stack([w_re[kappa], w_im[kappa]], axis=-1).reshape(kappa.shape[0], 1, -1)  # (k, c) order
            m = m * w
        if nout is not None:  # keep the first output values of digit n_0 (rows (c, n_0) or (n_0))
            size = net.digits[0]
            rows = m.shape[1] // size
            m = m.reshape(m.shape[0], rows, size, m.shape[2])[:, :, :nout].reshape(m.shape[0], rows * nout, -1)
        return m

    tag = f"{'t' if transposed else 'f'}{net.n}l{j}"
    name = constant_name(tag, net.key(), j, transposed, in_weights, nout)
    return fetch(store, name, build, dtype)


def input_weights(spec: tuple[Any, ...], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the transposed network's input bins 0..count-1, for the real and imaginary parts.

    ``("scale", n, repr(scale))``: the norm of an inverse c2c. ``("hermitian", n, repr(scale))``: c2r of
    length n, i.e. 2 per bin (1 at DC and, for even n,
    Nyquist, whose imaginary parts are ignored as torch does), zero beyond n//2, times the norm.
    """
    kind, n, scale = spec
    scale = float(scale)
    if kind == "scale":  # an inverse c2c on the digits of a forward one: the norm only
        w = np.zeros(max(count, n))
        w[:n] = 1.0
        return w[:count] * scale, w[:count] * scale
    if kind != "hermitian":
        raise ValueError(f"unknown input weights {kind!r}")
    bins = n // 2 + 1
    w = np.zeros(max(count, bins))
    w[:bins] = 2.0
    w[0] = 1.0
    if n % 2 == 0:
        w[n // 2] = 1.0
    w_im = w.copy()
    w_im[0] = 0.0
    if n % 2 == 0:
        w_im[n // 2] = 0.0
    return w[:count] * scale, w_im[:count] * scale


def _kappa_of_level(net: Network, j: int) -> np.ndarray:
    before = math.prod(net.digits[:j])
    count = net.k_last() if j == len(net.digits) - 1 else net.digits[j]
    return nested_kappa(net.digits[:j])[:, None] + before * np.arange(count, dtype=np.int64)[None, :]


def run_forward(g: Grid, axis: str, net: Network, store: ArrayStore) -> Grid:
    """Apply ``net`` to dim ``axis`` (its size must be net.n); leaves digits ``axis.k0..`` and ``c``."""
    digits = net.digits
    g = g.split(axis, [(f"{axis}.n{j}", size) for j, size in enumerate(digits)])
    sizes = net.out_sizes()
    for j in range(len(digits)):
        batch = [f"{axis}.k{i}" for i in range(j)]
        inputs = [f"{axis}.n{j}"] if (j == 0 and net.real_in) else [C, f"{axis}.n{j}"]
        matrix = _level_constant(net, j, False, None, None, store, g.t.dtype)
        later = [f"{axis}.n{i}" for i in range(j + 1, len(digits))]
        g = g.contract(batch, inputs, [(f"{axis}.k{j}", sizes[j]), (C, 2)], matrix, front=later)
    return g


def run_transposed(g: Grid, axis: str, net: Network, store: ArrayStore,
                   in_weights: tuple[Any, ...] | None = None, nout: int | None = None) -> Grid:
    """The transpose of ``net`` on the digit layout ``run_forward`` leaves (``axis.k0..``, ``c``).

    Leaves ``axis.n0..`` (most significant first; n0 limited to ``nout`` values) and, unless
    ``net.real_in`` (then the output is real), ``c``.
    """
    digits = net.digits
    last = len(digits) - 1
    for j in range(last, -1, -1):
        batch = [f"{axis}.k{i}" for i in range(j)]
        real_out = j == 0 and net.real_in
        rows = nout if (j == 0 and nout is not None) else digits[j]
        outputs = [(f"{axis}.n{j}", rows)] if real_out else [(C, 2), (f"{axis}.n{j}", rows)]
        weights = in_weights if j == last else None
        matrix = _level_constant(net, j, True, weights, nout if j == 0 else None, store, g.t.dtype)
        g = g.contract(batch, [f"{axis}.k{j}", C], outputs, matrix)
    return g


def digit_names(axis: str, prefix: str, count: int, most_significant_first: bool) -> list[str]:
    names = [f"{axis}.{prefix}{j}" for j in range(count)]
    return names if most_significant_first else names[::-1]


def split_for_transposed(g: Grid, axis: str, net: Network) -> Grid:
    """A natural-order axis of net.kout-or-more bins, padded and split into the digits the transpose reads."""
    sizes = net.out_sizes()
    total = math.prod(sizes)
    have = g.size(axis)
    g = g.pad_axis(axis, 0, total - have)
    return g.split(axis, [(f"{axis}.k{j}", sizes[j]) for j in reversed(range(len(sizes)))])


# ---------------------------------------------------------------- Bluestein


def chirp(n: int, sign: int) -> np.ndarray:
    """exp(sign i pi m^2 / n) for m = 0..n-1, from exact integer phases."""
    m = np.arange(n, dtype=np.int64)
    return np.exp(sign * 1j * np.pi * ((m * m) % (2 * n)) / n)


def bluestein_kernel(n: int, length: int, sign: int) -> np.ndarray:
    """DFT_length (exponent sign ``sign``) of the circular chirp filter, divided by ``length``."""
    w = np.conj(chirp(n, sign))
    b = np.zeros(length, dtype=complex)
    b[:n] = w
    b[length - n + 1:] = w[1:][::-1]
    spectrum = np.fft.fft(b) if sign < 0 else np.fft.ifft(b) * length
    return spectrum / length
