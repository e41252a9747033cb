"""The shape every delegate-friendly rewrite has: one job, applied to an ExportedProgram in place."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from torch.export import ExportedProgram
from torch.export.graph_signature import TensorArgument
from torch.fx import Node

from affdeploy.passes._graph import constant_nodes, has_static_shape, replace

log = logging.getLogger(__name__)


class Rewrite(ABC):
    """A graph rewrite that only touches nodes matching its pattern and leaves the rest alone.

    ``apply`` edits ``ep.graph`` in place and returns how many matches it rewrote, so that
    callers (and tests) can tell a rewrite that fired from one that had nothing to do.
    """

    @abstractmethod
    def apply(self, ep: ExportedProgram) -> int:
        """Rewrite every match in ``ep``; return the number of matches."""

    def __call__(self, ep: ExportedProgram) -> int:
        count = self.apply(ep)
        if count:
            log.debug("%s rewrote %d match(es)", type(self).__name__, count)
            ep.graph.eliminate_dead_code()
            sync_output_names(ep)
            ep.graph_module.recompile()
        return count


class NodeRewrite(Rewrite):
    """A rewrite that replaces one node at a time: the graph walk is here, each subclass says which ops and how.

    ``targets`` are the ops it looks at; ``activations_only`` skips nodes computed from weights alone
    (constant folding takes those, whatever op made them) and ``static_only`` nodes whose shape is
    symbolic. While ``apply`` runs, ``constants`` holds the program's constant nodes.
    """

    targets: frozenset[object] = frozenset()
    activations_only = False
    static_only = False
    constants: set[Node] = set()

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        self.constants = constant_nodes(ep)
        count = 0
        for node in list(graph.nodes):
            if node.target not in self.targets or (self.activations_only and node in self.constants):
                continue
            if self.static_only and not has_static_shape(node):
                continue
            with graph.inserting_before(node):
                new = self.rewrite(node)
            if new is not None:
                replace(node, new)
                count += 1
        self.constants = set()
        return count

    @abstractmethod
    def rewrite(self, node: Node) -> Node | None:
        """The replacement for ``node`` (new nodes go before it), or None to keep it."""


def sync_output_names(ep: ExportedProgram) -> None:
    """Point the signature's outputs at the nodes that now produce them (a rewrite may replace them)."""
    returned = ep.graph.output_node().args[0]
    for spec, node in zip(ep.graph_signature.output_specs, returned, strict=True):
        if isinstance(spec.arg, TensorArgument) and isinstance(node, Node):
            spec.arg.name = node.name
