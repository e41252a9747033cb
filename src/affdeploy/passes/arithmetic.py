"""Python int scalars in float arithmetic as floats.

``x * 2`` keeps an int64 scalar; lowering lifts it to an int64 tensor constant and adds a
``_to_dim_order_copy`` dtype cast outside the delegate. A float scalar gives the same result.
"""

from __future__ import annotations

from torch.export import ExportedProgram

from affdeploy.passes._graph import aten
from affdeploy.passes.base import Rewrite

_BINARY = frozenset({aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.rsub.Scalar})


class IntScalarToFloat(Rewrite):
    """Int scalar operands of floating-point add/sub/mul/div -> float scalars."""

    def apply(self, ep: ExportedProgram) -> int:
        count = 0
        for node in ep.graph.nodes:
            val = node.meta.get("val")
            if node.target not in _BINARY or not getattr(val, "is_floating_point", lambda: False)():
                continue
            if any(type(a) is int for a in node.args):
                node.args = tuple(float(a) if type(a) is int else a for a in node.args)
                count += 1
        return count
