"""The op registry: one small NumPy function per MIL op type (timm-style ``register``).

An op function takes the op's inputs as keyword arguments, named as in the MIL op definitions
(optional inputs are keyword defaults, so an input the function does not know is an error), and
returns one value or a tuple for multi-output ops. ``variadic`` names inputs that are always a list
(``concat``'s ``values``), even when the program passes one value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OpFn = Callable[..., Any]


@dataclass(frozen=True)
class OpDef:
    """A registered op: its function and which inputs are lists of values."""

    fn: OpFn
    variadic: frozenset[str]


_OPS: dict[str, OpDef] = {}


def register(*names: str, variadic: tuple[str, ...] = ()) -> Callable[[OpFn], OpFn]:
    """Register ``fn`` under each MIL op type in ``names``."""

    def wrap(fn: OpFn) -> OpFn:
        for name in names:
            if name in _OPS:
                raise ValueError(f"MIL op {name!r} registered twice")
            _OPS[name] = OpDef(fn, frozenset(variadic))
        return fn

    return wrap


def lookup(name: str) -> OpDef | None:
    """The op's definition, or None if the interpreter does not implement it."""
    _load_ops()
    return _OPS.get(name)


def supported_ops() -> list[str]:
    """Every MIL op type the interpreter runs (``const`` included), sorted."""
    _load_ops()
    return sorted({*_OPS, "const"})


def _load_ops() -> None:
    """Import the op modules once; each registers its ops on import."""
    from affdeploy.coreml_reference import ops  # noqa: F401
