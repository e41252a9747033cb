"""Small graph-surgery helpers shared by the delegate-friendly rewrites.

Every rewrite builds new ATen nodes with :func:`emit`, which also computes the node's fake
``meta["val"]`` so that later passes and the backends' partitioners (which read shapes from
the metadata) see a consistent graph without re-tracing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram
from torch.fx import Graph, Node
from torch.fx.node import Argument
from torch.utils import _pytree as pytree

aten = torch.ops.aten

_COPIED_META = ("stack_trace", "nn_module_stack", "source_fn_stack", "from_node", "torch_fn")


def fake_value(node: Any) -> Any:
    """The fake tensor (or python value) a graph argument stands for."""
    return node.meta["val"] if isinstance(node, Node) else node


def shape(node: Argument) -> list[int]:
    """Static shape of a node's tensor value (typed as fx types ``node.args``: callers pass a tensor's node)."""
    return [int(d) for d in cast(Node, node).meta["val"].shape]


def has_static_shape(node: Any) -> bool:
    """True for a tensor node whose every dim is a plain int (the rewrites need that)."""
    val = node.meta.get("val") if isinstance(node, Node) else None
    return isinstance(val, torch.Tensor) and all(isinstance(d, int) for d in val.shape)


def emit(graph: Graph, target: Any, args: tuple[Any, ...], like: Node, **kwargs: Any) -> Node:
    """Insert ``target(*args, **kwargs)`` before the graph's current insert point, with meta.

    ``like`` is the node being replaced: its source location is kept so that errors and
    delegation reports still point at the model code.
    """
    node = graph.call_function(target, args, kwargs)
    fake_args, fake_kwargs = pytree.tree_map(fake_value, (args, kwargs))
    mode = detect_fake_mode(pytree.tree_leaves((fake_args, fake_kwargs)))
    if mode is None:
        node.meta["val"] = target(*fake_args, **fake_kwargs)
    else:
        with mode:
            node.meta["val"] = target(*fake_args, **fake_kwargs)
    for key in _COPIED_META:
        if key in like.meta:
            node.meta[key] = like.meta[key]
    return node


def reshape(graph: Graph, x: Node, new_shape: Sequence[int], like: Node) -> Node:
    """A view, skipped when the shape already matches (views are free inside every delegate)."""
    if shape(x) == list(new_shape):
        return x
    # Eager ATen views need compatible strides; reshape copies when they are not (the edge
    # dialect turns both into view_copy, which delegates take).
    target = aten.view.default if x.meta["val"].is_contiguous() else aten.reshape.default
    return emit(graph, target, (x, list(new_shape)), like)


def permute(graph: Graph, x: Node, order: Sequence[int], like: Node) -> Node:
    """A permute, skipped when it is the identity."""
    if list(order) == list(range(len(order))):
        return x
    return emit(graph, aten.permute.default, (x, list(order)), like)


def numel(dims: Sequence[int]) -> int:
    return math.prod(dims)


def weight_targets(ep: ExportedProgram) -> dict[str, str]:
    """Placeholder name -> key in ``ep.state_dict`` or ``ep.constants``, for parameters, buffers and lifted constants."""
    sig = ep.graph_signature
    return {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}


def constant_placeholders(ep: ExportedProgram) -> set[str]:
    """Names of the placeholders that hold parameters, buffers or lifted constants."""
    mutated = set(ep.graph_signature.buffers_to_mutate.values())  # a buffer the program writes is no constant
    return {name for name, fqn in weight_targets(ep).items() if fqn not in mutated}


def constant_nodes(ep: ExportedProgram) -> set[Node]:
    """Nodes whose value is known when the program is built: weights and pure functions of them.

    Those fold into new constants (see :class:`~affdeploy.passes.folding.FoldConstants`), which is
    what lets a weight feed a convolution or a linear layer that a delegate takes.
    """
    const_names = constant_placeholders(ep)
    known: set[Node] = set()
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node.name in const_names:
                known.add(node)
        elif node.op == "call_function" and not node.is_impure():
            # Factories (arange, full) have no inputs and are constants too.
            if all(n in known for n in node.all_input_nodes):
                known.add(node)
    return known


def replace(old: Node, new: Node) -> None:
    """Point every user of ``old`` at ``new`` and drop ``old``."""
    old.replace_all_uses_with(new)
    old.graph.erase_node(old)


def constant_value(ep: ExportedProgram, node: Node, cache: dict[Node, Any]) -> Any:
    """Evaluate a constant node (a weight, or a pure function of weights) eagerly; ``cache`` memoises."""
    if node in cache:
        return cache[node]
    if node.op == "placeholder":
        fqn = weight_targets(ep)[node.name]
        value = ep.state_dict[fqn] if fqn in ep.state_dict else ep.constants[fqn]
    else:
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: constant_value(ep, n, cache))
        assert callable(node.target)  # a call_function: constants are weights or pure functions of them
        value = node.target(*args, **kwargs)
    cache[node] = value
    return value
