"""Softshrink as a clamp.

``softshrink`` decomposes to ``where(abs(x) > l, x - sign(x) * l, x * 0)``: ``sign``, ``gt`` and
``where`` have no XNNPACK operator, so every AFF filter mask left the delegate. The same function
is ``x - clamp(x, -l, l)`` (equal at the boundary too: both give 0 at ``|x| == l``).
"""

from __future__ import annotations

from typing import Any, cast

from torch.fx import Node

from affdeploy.passes._graph import aten, emit
from affdeploy.passes.base import NodeRewrite


def _call(value: Any, target: Any) -> Node | None:
    return value if isinstance(value, Node) and value.target == target else None


def match_softshrink(node: Node) -> tuple[Node, float] | None:
    """``(x, lambda)`` when ``node`` is softshrink, either whole or in its ATen decomposition."""
    if node.target == aten.softshrink.default:
        lambd = cast(float, node.args[1]) if len(node.args) > 1 else 0.5
        return cast(Node, node.args[0]), float(lambd)
    if node.target != aten.where.self:
        return None
    cond, shrunk, zero = node.args
    gt = _call(cond, aten.gt.Scalar)
    magnitude = _call(gt.args[0], aten.abs.default) if gt else None
    if gt is None or magnitude is None:
        return None
    x, lambd = cast(Node, magnitude.args[0]), cast(float, gt.args[1])
    sub = _call(shrunk, aten.sub.Tensor)
    scaled = _call(sub.args[1], aten.mul.Tensor) if sub else None
    sign = _call(scaled.args[0], aten.sign.default) if scaled else None
    if sub is None or sub.args[0] is not x or scaled is None or sign is None or sign.args[0] is not x \
            or scaled.args[1] != lambd:
        return None
    times_zero = _call(zero, aten.mul.Tensor)
    if times_zero is None or times_zero.args[0] is not x or times_zero.args[1] != 0:
        return None
    return x, float(lambd)


class SoftshrinkToClamp(NodeRewrite):
    """``softshrink(x, l)`` -> ``x - clamp(x, -l, l)`` (sub and clamp are XNNPACK operators)."""

    targets = frozenset({aten.softshrink.default, aten.where.self})

    def rewrite(self, node: Node) -> Node | None:
        match = match_softshrink(node)
        if match is None:
            return None
        x, lambd = match
        clamped = emit(node.graph, aten.clamp.default, (x, -lambd, lambd), node)
        return emit(node.graph, aten.sub.Tensor, (x, clamped), node)
