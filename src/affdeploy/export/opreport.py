"""The op-coverage report of an artifact: what ``inspect`` prints and the manifest's ``op_counts`` field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Delegation:
    """How many nodes of one op type run inside a delegate and how many stay outside."""

    delegated: int = 0
    non_delegated: int = 0


@dataclass(frozen=True)
class OpReport:
    """Op counts, FFT/complex leftovers, and (for partitioned formats) the delegation split.

    ``delegated_ops``/``non_delegated_ops``/``delegated_share`` are None for formats without
    partitioning (ONNX).
    """

    total: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    fft_ops_left: int = 0
    complex_values: int = 0
    delegated_ops: int | None = None
    non_delegated_ops: int | None = None
    delegated_share: float | None = None
    delegate_calls: int | None = None
    delegation: dict[str, Delegation] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the lowering changed that the user must know

    @classmethod
    def build(cls, ops: Mapping[str, int], *, fft_ops: int, complex_values: int, backends: Mapping[str, str],
              delegated: int | None = None, non_delegated: int | None = None, delegate_calls: int | None = None,
              per_op: Mapping[str, Delegation] | None = None) -> OpReport:
        """Totals and the delegated share computed from the counts, ops sorted by frequency."""
        share = None
        if delegated is not None and non_delegated is not None:
            share = round(delegated / (delegated + non_delegated), 4) if delegated + non_delegated else 0.0
        return cls(total=int(sum(ops.values())), ops=dict(Counter(ops).most_common()), fft_ops_left=fft_ops,
                   complex_values=complex_values, delegated_ops=delegated, non_delegated_ops=non_delegated,
                   delegated_share=share, delegate_calls=delegate_calls, delegation=dict(per_op or {}),
                   backends=dict(backends))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["delegation"] = {k: Delegation(**v) for k, v in (data.get("delegation") or {}).items()}
        return cls(**known)
