"""Complex ops that plain ``torch.export.export`` keeps as composites, written in real arithmetic.

``run_decompositions({})`` leaves ``x.to(torch.cfloat)``, ``.mH``/``.mT``/``.adjoint()``, ``sgn``,
``log``, ``pow`` and vector norms of complex values in the graph; the core ATen table removes some
of them but not norms of complex values (docs/fft.md). Each handler here gets ``Pair``s for complex
operands, like the ones in ``affdeploy.fft.ops``, and registers itself into the same table. The
forms are chosen for delegates: ``sgn`` uses clamp + rsqrt (no where/sign, which XNNPACK lacks).
"""

from __future__ import annotations

from typing import Any

import torch

from affdeploy.fft.ops import REAL_DTYPE, _h_abs, _h_angle, _h_conj, _h_to_copy, as_pair, complex_mul, handles
from affdeploy.fft.values import Pair

aten = torch.ops.aten


@handles("to", "type_as")
def _h_to(a: Any, *args: Any, **kwargs: Any) -> Any:
    """``Tensor.to`` in any of its overloads (dtype, device, other tensor): only the dtype matters."""
    dtype = kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, torch.dtype):
            dtype = arg
        elif isinstance(arg, Pair):
            dtype = torch.complex64 if arg.re.dtype == torch.float32 else torch.complex128
        elif isinstance(arg, torch.Tensor):
            dtype = arg.dtype
    return _h_to_copy(a, dtype=dtype) if dtype is not None else a


@handles("_assert_tensor_metadata")
def _h_assert_metadata(*args: Any, **kwargs: Any) -> None:
    """Export's dtype assertion of a complex value: the pair carries real dtypes, nothing to check."""
    return None


@handles("mT")
def _h_mt(a: Pair) -> Pair:
    return a.map(torch.transpose, -2, -1)


@handles("mH", "adjoint")
def _h_mh(a: Pair) -> Pair:
    return _h_conj(_h_mt(a))


@handles("numpy_T")
def _h_numpy_t(a: Pair) -> Pair:
    return a.map(torch.permute, list(reversed(range(a.re.dim()))))


@handles("matrix_H")
def _h_matrix_h(a: Pair) -> Pair:
    return _h_conj(a.map(torch.transpose, 0, 1))


@handles("sgn")
def _h_sgn(a: Pair) -> Pair:
    """z / |z|, and 0 at 0: the zero vector times a large finite scale stays zero."""
    power = a.re * a.re + a.im * a.im
    scale = torch.rsqrt(torch.clamp(power, min=torch.finfo(a.re.dtype).tiny))
    return Pair(a.re * scale, a.im * scale)


@handles("log")
def _h_log(a: Pair) -> Pair:
    return Pair(0.5 * torch.log(a.re * a.re + a.im * a.im), _h_angle(a))


@handles("sqrt")
def _h_sqrt(a: Pair) -> Pair:
    """Principal root: sqrt((|z|+re)/2) + i sign(im) sqrt((|z|-re)/2), with sign(+-0) = +1."""
    mag = _h_abs(a)
    re = torch.sqrt(torch.clamp((mag + a.re) * 0.5, min=0.0))
    im = torch.sqrt(torch.clamp((mag - a.re) * 0.5, min=0.0))
    return Pair(re, torch.where(a.im < 0, -im, im))


@handles("square")
def _h_square(a: Pair) -> Pair:
    return complex_mul(a, a)


@handles("pow")
def _h_pow(a: Any, exponent: Any) -> Any:
    """Small integer powers by products (exact, delegate-friendly); others in polar form."""
    if isinstance(exponent, (Pair, torch.Tensor, complex)):
        raise ValueError("only real scalar exponents of complex values are supported")
    if float(exponent).is_integer() and 1 <= exponent <= 8:
        result = a
        for _ in range(int(exponent) - 1):
            result = complex_mul(result, a)
        return result
    mag = torch.pow(_h_abs(a), exponent)
    phase = _h_angle(a) * exponent
    return Pair(mag * torch.cos(phase), mag * torch.sin(phase))


def _norm_of_magnitude(name: str) -> Any:
    """Vector norms of a complex tensor are the same norms of its elementwise magnitude."""
    op = getattr(aten, name)

    def handler(a: Pair, *args: Any, **kwargs: Any) -> torch.Tensor:
        if kwargs.get("dtype") in REAL_DTYPE:
            kwargs = {**kwargs, "dtype": REAL_DTYPE[kwargs["dtype"]]}
        if name == "linalg_vector_norm" and (args[0] if args else kwargs.get("ord", 2)) == 2:
            power = a.re * a.re + a.im * a.im  # no sqrt-then-square of the magnitude
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
            return torch.sqrt(torch.sum(power, dim=dim, keepdim=keepdim))
        return op(_h_abs(a), *args, **kwargs)

    return handler


for _name in ("linalg_vector_norm", "norm", "frobenius_norm"):
    handles(_name)(_norm_of_magnitude(_name))


@handles("linalg_norm")
def _h_linalg_norm(a: Pair, ord: Any = None, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> torch.Tensor:
    """Vector norms and the Frobenius norm only (matrix norms need a decomposition)."""
    matrix = dim is not None and not isinstance(dim, int) and len(dim) == 2 or dim is None and a.re.dim() == 2
    if matrix and ord not in (None, "fro"):
        raise ValueError(f"matrix norm ord={ord!r} of a complex value needs an SVD")
    return aten.linalg_vector_norm(_h_abs(a), 2 if ord in (None, "fro") else ord, dim, keepdim)


@handles("copy_")
def _h_copy_(dest: Any, src: Any, non_blocking: bool = False) -> Pair:
    """In-place copy into a complex view (``out[..., :m] = ...`` in a non-functional graph)."""
    dest, src = as_pair(dest), as_pair(src)
    dest.re.copy_(src.re)
    dest.im.copy_(src.im)
    return dest
