"""Real-arithmetic replacements for the ATen ops that touch complex values.

Each handler receives the op's arguments with complex tensors already turned into ``Pair``s
and returns a ``Pair`` (complex result) or a real tensor. ``HANDLERS`` maps the ATen op name
(the overload packet, e.g. ``add`` for ``aten.add.Tensor``) to its handler; an op missing
from it cannot be lowered and the pass reports it with its source line.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, cast

import torch

from affdeploy.fft.partial import Partial
from affdeploy.fft.transform import MatrixStore, dft
from affdeploy.fft.values import LazyStack, Pair

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {}
KEEPS_PARTIAL = frozenset(
    f"fft_{base}{suffix}" for base in ("fft", "ifft", "rfft") for suffix in ("", "2", "n")
) | {"_fft_r2c", "_fft_c2c"}
"""FFT ops whose output may be computed only where slices read it (affdeploy.fft.partial)."""

_FORWARD_NORM = {0: "backward", 1: "ortho", 2: "forward"}  # aten fft_norm_mode for a forward transform
_INVERSE_NORM = {0: "forward", 1: "ortho", 2: "backward"}  # ... and for an inverse one


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------- complex numbers as (re, im|None)

Part = torch.Tensor | float | None


def _parts(v: Any) -> tuple[torch.Tensor | float, Part]:
    """(re, im) of an operand; ``None`` stands for an exact zero imaginary part."""
    if isinstance(v, Pair):
        return v.re, v.im
    if isinstance(v, complex):
        return v.real, (v.imag or None)
    return v, None


def _add(a: Part, b: Part) -> Part:
    if a is None:
        return b
    return a if b is None else a + b


def _neg(a: Part) -> Part:
    return None if a is None else -a


def _sub(a: Part, b: Part) -> Part:
    if b is None:
        return a
    return -b if a is None else a - b


def _mul(a: Part, b: Part) -> Part:
    return None if a is None or b is None else a * b


def _make(re: Part, im: Part) -> Pair:
    if not isinstance(re, torch.Tensor):
        re = torch.zeros_like(cast(torch.Tensor, im)) + (re or 0.0)  # one of the parts is a tensor
    if im is None or not isinstance(im, torch.Tensor):
        im = torch.zeros_like(re) + (im or 0.0)
    return Pair(re, im)


def as_pair(v: Any) -> Pair:
    return v if isinstance(v, Pair) else _make(*_parts(v))


def _scaled(v: Any, alpha: Any) -> Any:
    return v if alpha == 1 else complex_mul(v, alpha)


def complex_add(a: Any, b: Any, sign: int = 1) -> Pair:
    (ar, ai), (br, bi) = _parts(a), _parts(b)
    combine = _add if sign > 0 else _sub
    return _make(combine(ar, br), combine(ai, bi))


def complex_mul(a: Any, b: Any) -> Pair:
    (ar, ai), (br, bi) = _parts(a), _parts(b)
    return _make(_sub(_mul(ar, br), _mul(ai, bi)), _add(_mul(ar, bi), _mul(ai, br)))


def complex_div(a: Any, b: Any) -> Pair:
    br, bi = _parts(b)
    if bi is None:
        ar, ai = _parts(a)
        return _make(ar / br, None if ai is None else ai / br)
    den = br * br + bi * bi
    num = complex_mul(a, Pair(b.re, -b.im) if isinstance(b, Pair) else b.conjugate())
    return Pair(num.re / den, num.im / den)


@handles("add")
def _h_add(a: Any, b: Any, alpha: Any = 1) -> Pair:
    return complex_add(a, _scaled(b, alpha))


@handles("sub")
def _h_sub(a: Any, b: Any, alpha: Any = 1) -> Pair:
    return complex_add(a, _scaled(b, alpha), sign=-1)


@handles("rsub")
def _h_rsub(a: Any, b: Any, alpha: Any = 1) -> Pair:
    return complex_add(b, _scaled(a, alpha), sign=-1)


LAYOUT_STORE: list[Any] = []
"""The lowered program being built (its constant store), for products kept in a transform's digit layout."""


@handles("mul")
def _h_mul(a: Any, b: Any) -> Pair:
    from affdeploy.fft.transform import lazy_mul

    kept = lazy_mul(a, b, LAYOUT_STORE[-1] if LAYOUT_STORE else None)
    return kept if kept is not None else complex_mul(a, b)


@handles("div")
def _h_div(a: Any, b: Any, rounding_mode: str | None = None) -> Pair:
    return complex_div(a, b)


@handles("reciprocal")
def _h_reciprocal(a: Pair) -> Pair:
    return complex_div(1.0, a)


@handles("neg")
def _h_neg(a: Pair) -> Pair:
    return Pair(-a.re, -a.im)


@handles("exp")
def _h_exp(a: Pair) -> Pair:
    mag = torch.exp(a.re)
    return Pair(mag * torch.cos(a.im), mag * torch.sin(a.im))


@handles("abs")
def _h_abs(a: Pair) -> torch.Tensor:
    return torch.sqrt(a.re * a.re + a.im * a.im)


@handles("angle")
def _h_angle(a: Pair) -> torch.Tensor:
    return torch.atan2(a.im, a.re)


@handles("real")
def _h_real(a: Pair) -> torch.Tensor:
    return a.re


@handles("imag")
def _h_imag(a: Pair) -> torch.Tensor:
    return a.im


@handles("conj", "_conj", "conj_physical")
def _h_conj(a: Pair) -> Pair:
    from affdeploy.fft.transform import lazy_conj

    kept = lazy_conj(a, LAYOUT_STORE[-1] if LAYOUT_STORE else None)
    return kept if kept is not None else Pair(a.re, -a.im)


@handles("clone", "alias", "detach", "resolve_conj", "resolve_neg", "lift_fresh_copy", "contiguous")
def _h_identity(a: Pair, *args: Any, **kwargs: Any) -> Pair:
    return a


@handles("complex")
def _h_complex(re: torch.Tensor, im: torch.Tensor) -> Pair:
    return Pair(re, im)


@handles("polar")
def _h_polar(mag: torch.Tensor, angle: torch.Tensor) -> Pair:
    return Pair(mag * torch.cos(angle), mag * torch.sin(angle))


@handles("view_as_real")
def _h_view_as_real(a: Pair) -> LazyStack:
    return LazyStack([a.re, a.im], -1)


@handles("view_as_complex")
def _h_view_as_complex(t: torch.Tensor | LazyStack) -> Pair:
    if isinstance(t, LazyStack) and t.dim == t.ndim - 1 and len(t.parts) == 2:
        return Pair(t.parts[0], t.parts[1])
    if isinstance(t, LazyStack):
        t = t.materialize()
    return Pair(t[..., 0], t[..., 1])


REAL_DTYPE = {torch.complex64: torch.float32, torch.complex128: torch.float64, torch.complex32: torch.float16}


def _real_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    dtype = kwargs.get("dtype")
    return {**kwargs, "dtype": REAL_DTYPE.get(dtype, dtype)} if dtype is not None else kwargs


@handles("_to_copy")
def _h_to_copy(a: Any, **kwargs: Any) -> Any:
    dtype = kwargs.get("dtype")
    rest = {k: v for k, v in kwargs.items() if k != "dtype"}
    if dtype is None:
        return a
    if dtype in REAL_DTYPE:  # to a complex dtype
        p = as_pair(a)
        return p.map(torch.ops.aten._to_copy.default, dtype=REAL_DTYPE[dtype], **rest)
    return torch.ops.aten._to_copy.default(a.re if isinstance(a, Pair) else a, dtype=dtype, **rest)


# ---------------------------------------------------------------- creation of complex tensors


def _fill_parts(value: Any) -> tuple[float, float]:
    c = complex(value)
    return c.real, c.imag


def _create(op: Callable[..., torch.Tensor], fill_arg: int | None) -> Handler:
    """Handler for a factory op (zeros, ones, full_like...): both parts with a real dtype.

    Without a fill value the op makes the real part and the imaginary part is zero.
    """

    def handler(*args: Any, **kwargs: Any) -> Pair:
        real_args = [a.re if isinstance(a, Pair) else a for a in args]
        kwargs = _real_kwargs(kwargs)
        if fill_arg is None:
            re = op(*real_args, **kwargs)
            return Pair(re, torch.zeros_like(re))
        fr, fi = _fill_parts(real_args[fill_arg])
        before, after = real_args[:fill_arg], real_args[fill_arg + 1:]
        return Pair(op(*before, fr, *after, **kwargs), op(*before, fi, *after, **kwargs))

    return handler


for _name, _fill in {
    "zeros": None, "zeros_like": None, "new_zeros": None, "empty": None, "empty_like": None,
    "ones": None, "ones_like": None, "new_ones": None,
    "full": 1, "full_like": 1, "new_full": 2, "scalar_tensor": 0,
}.items():
    HANDLERS[_name] = _create(getattr(torch.ops.aten, _name), _fill)


# ---------------------------------------------------------------- ops acting on both parts alike


# Pair parts are laid out differently from the original complex tensor: views become reshapes.
RESHAPES = ("view", "_unsafe_view", "view_copy")


def _same_op(name: str) -> Handler:
    op = getattr(torch.ops.aten, "reshape" if name in RESHAPES else name)

    def handler(a: Pair, *args: Any, **kwargs: Any) -> Any:
        out_re = op(a.re, *args, **kwargs)
        out_im = op(a.im, *args, **kwargs)
        if isinstance(out_re, (list, tuple)):
            return [Pair(r, i) for r, i in zip(out_re, out_im, strict=True)]
        return Pair(out_re, out_im)

    return handler


for _name in (
    "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "slice", "select", "unsqueeze", "squeeze",
    "expand", "flatten", "unflatten", "narrow", "index_select", "index", "flip", "roll", "repeat", "movedim",
    "split", "split_with_sizes", "chunk", "unbind", "sum", "mean", "diagonal", "tril", "triu", "unfold",
    "squeeze_copy", "view_copy", "permute_copy", "slice_copy", "select_copy", "unsqueeze_copy", "expand_copy",
    "alias_copy", "pixel_shuffle", "pixel_unshuffle", "repeat_interleave",
):
    HANDLERS[_name] = _same_op(_name)


def _scatter_op(name: str, src_index: int) -> Handler:
    """Ops writing a (possibly complex) source into a tensor: each part into its part."""
    op = getattr(torch.ops.aten, name)

    def handler(*args: Any, **kwargs: Any) -> Pair:
        dest, src = as_pair(args[0]), as_pair(args[src_index])

        def part(dest_part: torch.Tensor, src_part: torch.Tensor) -> torch.Tensor:
            rest = list(args[1:])
            rest[src_index - 1] = src_part
            return op(dest_part, *rest, **kwargs)

        return Pair(part(dest.re, src.re), part(dest.im, src.im))

    return handler


for _name, _src in {"select_scatter": 1, "index_put": 2, "masked_scatter": 2}.items():
    HANDLERS[_name] = _scatter_op(_name, _src)


_STRIDED_SLICE_SCATTER = _scatter_op("slice_scatter", 1)


@handles("slice_scatter")
def _h_slice_scatter(dest: Any, src: Any, dim: int = 0, start: int | None = None, end: int | None = None,
                     step: int = 1) -> Pair:
    """Written as slices and a cat, which delegates take (slice_scatter is not delegated)."""
    if step != 1:
        return _STRIDED_SLICE_SCATTER(dest, src, dim, start, end, step)
    dest, src = as_pair(dest), as_pair(src)
    size = dest.shape[dim]
    start, end = slice(start, end).indices(size)[:2]
    pieces = [dest.map(torch.narrow, dim, 0, start)] if start > 0 else []
    pieces.append(src)
    if end < size:
        pieces.append(dest.map(torch.narrow, dim, end, size - end))
    return _h_cat(pieces, dim) if len(pieces) > 1 else src


@handles("copy")
def _h_copy(dest: Any, src: Any, non_blocking: bool = False) -> Pair:
    """Functional copy: the source, broadcast to the destination's shape."""
    dest, src = as_pair(dest), as_pair(src)
    return src if src.shape == dest.shape else src.map(torch.Tensor.expand, dest.shape)


@handles("constant_pad_nd")
def _h_pad(a: Pair, pad: list[int], value: Any = 0) -> Pair:
    fr, fi = _fill_parts(value)
    return Pair(torch.constant_pad_nd(a.re, pad, fr), torch.constant_pad_nd(a.im, pad, fi))


@handles("pad")
def _h_pad_mode(a: Pair, pad: list[int], mode: str = "constant", value: Any = None) -> Pair:
    """``F.pad``, which export keeps whole: a fill splits into its parts; reflect/replicate/circular
    only move values, so both parts move alike (the delegate-friendly rewrites then take those pads)."""
    if mode == "constant":
        return _h_pad(a, pad, 0 if value is None else value)
    return a.map(torch.ops.aten.pad, pad, mode, value)


@handles("cat", "concat")
def _h_cat(tensors: list[Any], dim: int = 0) -> Pair:
    pairs = [as_pair(t) for t in tensors]
    return Pair(torch.cat([p.re for p in pairs], dim), torch.cat([p.im for p in pairs], dim))


@handles("stack")
def _h_stack(tensors: list[Any], dim: int = 0) -> Pair:
    pairs = [as_pair(t) for t in tensors]
    return Pair(torch.stack([p.re for p in pairs], dim), torch.stack([p.im for p in pairs], dim))


@handles("where")
def _h_where(cond: torch.Tensor, a: Any, b: Any) -> Pair:
    pa, pb = as_pair(a), as_pair(b)
    return Pair(torch.where(cond, pa.re, pb.re), torch.where(cond, pa.im, pb.im))


# ---------------------------------------------------------------- products


def _multilinear(fn: Callable[..., torch.Tensor], operands: list[Any]) -> Pair:
    """A product linear in each operand, expanded over real and imaginary parts (i^k signs)."""
    choices = [[(p, 0)] if im is None else [(p, 0), (im, 1)] for p, im in (_parts(o) for o in operands)]
    re: Part = None
    im: Part = None
    for combo in itertools.product(*choices):
        term = fn(*[t for t, _ in combo])
        power = sum(k for _, k in combo) % 4
        combine = _sub if power in (2, 3) else _add
        if power % 2:
            im = combine(im, term)
        else:
            re = combine(re, term)
    return _make(re, im)


for _name in ("mm", "bmm", "matmul", "mv", "dot", "outer", "linear"):
    HANDLERS[_name] = (lambda op: lambda *ops: _multilinear(op, list(ops)))(getattr(torch.ops.aten, _name).default)


@handles("einsum")
def _h_einsum(equation: str, operands: list[Any], path: Any = None) -> Pair:
    return _multilinear(lambda *ts: torch.einsum(equation, *ts), list(operands))


# ---------------------------------------------------------------- FFTs


class FFTOps:
    """Handlers of every ATen FFT op, sharing the lowered program's matrix store."""

    def __init__(self, store: MatrixStore) -> None:
        self.store = store

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {
            "_fft_r2c": self._r2c,
            "_fft_c2r": self._c2r,
            "_fft_c2c": self._c2c,
        }
        for base, kind, inverse in (("fft", "c2c", False), ("ifft", "c2c", True), ("rfft", "r2c", False),
                                    ("irfft", "c2r", True)):
            for suffix, ndims in (("", 1), ("2", 2), ("n", None)):
                out[f"fft_{base}{suffix}"] = self._composite(kind, inverse, ndims)
        return out

    def _run(self, x: Any, kind: str, dims: list[int], n: list[int], inverse: bool, onesided: bool, norm: str) -> Any:
        if kind == "c2c" and not isinstance(x, Pair):  # a complex transform of real data
            kind, onesided = "r2c", False
        elif kind == "c2r":
            x = as_pair(x)
        ndim = len(x.shape)
        dims = [d % ndim for d in dims]
        hint = getattr(self.store, "keep_hint", None) or {}
        keep = {d: r for d, r in hint.items() if d in dims} if kind != "c2r" else {}
        if hint:
            hint.clear()  # the store's own hint, for this call only (a composite handler calls _run once)
        forms = getattr(self.store, "forms", None)
        out = dft(x, kind, dims, n, inverse=inverse, onesided=onesided, norm=norm, store=self.store, keep=keep,
                  forms=forms)
        if not keep:
            return out
        shape = list(out.shape)
        for d in dims:
            shape[d] = n[dims.index(d)]
        if kind == "r2c" and onesided:
            shape[dims[-1]] = n[-1] // 2 + 1
        return Partial(cast(Pair, out), keep, tuple(shape))  # a kept spectrum is complex

    def _r2c(self, x: torch.Tensor, dim: list[int], normalization: int, onesided: bool) -> Pair:
        n = [x.shape[d] for d in dim]
        return self._run(x, "r2c", list(dim), n, False, onesided, _FORWARD_NORM[normalization])

    def _c2c(self, x: Pair, dim: list[int], normalization: int, forward: bool) -> Pair:
        norm = (_FORWARD_NORM if forward else _INVERSE_NORM)[normalization]
        n = [as_pair(x).shape[d] for d in dim]
        return self._run(x, "c2c", list(dim), n, not forward, False, norm)

    def _c2r(self, x: Pair, dim: list[int], normalization: int, last_dim_size: int) -> torch.Tensor:
        n = [x.shape[d] for d in dim[:-1]] + [last_dim_size]
        return self._run(x, "c2r", list(dim), n, True, False, _INVERSE_NORM[normalization])

    def _composite(self, kind: str, inverse: bool, ndims: int | None) -> Handler:
        """torch.fft.{fft,ifft,rfft,irfft}{,2,n}: resolve n/s/dim/norm the way torch does."""

        def handler(x: Any, s: Any = None, dim: Any = None, norm: str | None = None) -> Any:
            shape = x.shape
            if ndims == 1:
                dims = [-1 if dim is None else dim]
                s = None if s is None else [s]
            elif dim is None and ndims == 2:
                dims = [-2, -1]
            elif dim is None:
                dims = list(range(-len(s), 0)) if s is not None else list(range(len(shape)))
            else:
                dims = list(dim)
            dims = [d % len(shape) for d in dims]
            n = [shape[d] for d in dims]
            if kind == "c2r":
                n[-1] = 2 * (shape[dims[-1]] - 1)
            if s is not None:
                n = [d if size == -1 else size for d, size in zip(n, s, strict=False)]
            return self._run(x, kind, dims, n, inverse, kind == "r2c", norm or "backward")

        return handler
