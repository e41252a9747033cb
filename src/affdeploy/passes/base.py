"""The shape every delegate-friendly rewrite has: one job, applied to an ExportedProgram in place."""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch.export import ExportedProgram
from torch.export.graph_signature import TensorArgument
from torch.fx import Node


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
            ep.graph.eliminate_dead_code()
            sync_output_names(ep)
            ep.graph_module.recompile()
        return count


def sync_output_names(ep: ExportedProgram) -> None:
    """Point the signature's outputs at the nodes that now produce them (a rewrite may replace them)."""
    returned = ep.graph.output_node().args[0]
    for spec, node in zip(ep.graph_signature.output_specs, returned, strict=True):
        if isinstance(spec.arg, TensorArgument) and isinstance(node, Node):
            spec.arg.name = node.name
