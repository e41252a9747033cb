"""ExecuTorch: per-op rows from an ETDump, mapped to PyTorch modules through the ETRecord.

The same parser reads the host's ETDump (pybindings with ``enable_etdump``) and the one
``executor_runner --etdump_path`` writes on a phone. How exact the module mapping is:

- ops on ExecuTorch's CPU kernels carry debug handles: exact, through the ETRecord's edge graph and
  each node's ``nn_module_stack``;
- ops inside an XNNPACK delegate carry none (XNNPACK's profiler names its operators, ``Convolution
  (NHWC, F32) IGEMM #3``): they are lined up with the delegated graph's nodes (:mod:`.align`);
- the runtime's own time (method overhead, the delegate call around its operators) is its own row.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affdeploy.bench.profile.align import GraphNode, align
from affdeploy.bench.profile.model import RUNTIME, OpTime, common_path
from affdeploy.errors import AffdeployError

CPU_KERNEL = "CPU kernel"
_SKIPPED_NODES = frozenset({"getitem", "_native_batch_norm_legit_no_training"})  # folded by XNNPACK into convs


def edge_op(target: Any) -> str:
    """Short name of an edge-dialect call target: ``aten.mul.Tensor`` -> ``mul``."""
    parts = getattr(target, "__name__", str(target)).split(".")
    return parts[1] if len(parts) > 1 and parts[0] in ("aten", "dim_order_ops", "quantized_decomposed") else parts[0]


def node_module(node: Any) -> str:
    """The innermost module path of an FX node ('' at the model's top level)."""
    stack = node.meta.get("nn_module_stack") or {}
    return str(next(reversed(stack.values()))[0]) if stack else ""


class EdgeGraph:
    """The ETRecord's edge program, indexed by debug handle (None: no ETRecord, nothing maps)."""

    def __init__(self, etrecord: Path | None) -> None:
        self.by_handle: dict[int, list[GraphNode]] = {}
        self.order: list[tuple[int, GraphNode]] = []
        self.record: Any = None
        if etrecord is None:
            return
        from executorch.devtools.etrecord import parse_etrecord

        from affdeploy.models.executed import node_macs

        try:
            self.record = parse_etrecord(str(etrecord))
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file: say which and why
            raise AffdeployError(f"{etrecord} is not a readable ETRecord ({type(exc).__name__}: {exc})",
                                 hint="export the model again to rewrite it") from None
        program = self.record.edge_dialect_program
        for node in program.graph.nodes:
            handle = node.meta.get("debug_handle")
            if node.op != "call_function" or not isinstance(handle, int):
                continue
            entry = GraphNode(edge_op(node.target), node_module(node), _macs(node, node_macs))
            self.by_handle.setdefault(handle, []).append(entry)
            self.order.append((handle, entry))

    def nodes(self, handles: Iterable[int]) -> list[GraphNode]:
        return [n for h in handles for n in self.by_handle.get(h, [])]

    def delegated(self, handles: Iterable[int]) -> list[GraphNode]:
        """The nodes a delegate call covers, in graph order, without those XNNPACK folds away."""
        wanted = set(handles)
        return [n for h, n in self.order if h in wanted and n.op not in _SKIPPED_NODES]


def _macs(node: Any, count: Any) -> int:
    try:
        return int(count(node))
    except (KeyError, AttributeError, TypeError, IndexError):  # a node without shape metadata
        return 0


def _handles(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(h) for h in (value if isinstance(value, Sequence) else [value])]


def _median(raw: Sequence[float], skip: int) -> float:
    kept = list(raw)[skip:] or list(raw)
    return float(statistics.median(kept))


def _delegated_rows(events: list[Any], nodes: list[GraphNode], skip: int, delegate: str) -> list[OpTime]:
    """Delegate operators with the modules of the graph nodes they line up with (:mod:`.align`)."""
    matched = align([e.name for e in events], nodes)
    rows = []
    for i, event in enumerate(events):
        node = matched.get(i)
        rows.append(OpTime(event.name, event.name.split(" #")[0], f"{delegate} delegate",
                           _median(event.perf_data.raw, skip), node.module if node else None,
                           node.macs or None if node else None))
    return rows


@dataclass
class ETDumpProfile:
    """The rows of one ETDump and the totals the runtime itself measured."""

    ops: list[OpTime]
    execute_ms: float | None  # Method::execute, median
    mapped: bool  # an ETRecord gave module paths


def _backend_label(name: str | None) -> str:
    """``XnnpackBackend`` -> ``XNNPACK``."""
    return name.removesuffix("Backend").upper() if name else "unnamed"


def parse_etdump(etdump: Path, etrecord: Path | None, skip: int = 0) -> ETDumpProfile:
    """Per-op rows of an ETDump (first ``skip`` executions dropped: the first inference and warm-up)."""
    from executorch.devtools import Inspector

    from affdeploy.runtime_guard import native_stderr_captured

    graph = EdgeGraph(etrecord)
    try:
        with native_stderr_captured():
            inspector = Inspector(etdump_path=str(etdump), etrecord=graph.record)
    except Exception as exc:  # noqa: BLE001 - flatbuffer parsers raise assorted types on a damaged file
        raise AffdeployError(f"{etdump} is not a readable ETDump ({type(exc).__name__}: {exc})") from None
    block = next((b for b in inspector.event_blocks if b.name == "Execute"), None)
    if block is None:
        raise AffdeployError(f"{etdump} holds no execution events: the runtime ran no inference with its event tracer on")
    ops: list[OpTime] = []
    pending: list[Any] = []  # delegate operators seen since the last delegate call
    delegate_ms = 0.0
    execute_ms = None
    for event in block.events:
        if event.perf_data is None:
            continue
        ms = _median(event.perf_data.raw, skip)
        if event.is_delegated_op:
            pending.append(event)
        elif event.name == "DELEGATE_CALL":
            label = _backend_label(event.delegate_backend_name)
            rows = _delegated_rows(pending, graph.delegated(_handles(event.debug_handles)), skip, label)
            ops += rows
            inner = sum(r.ms for r in rows)
            module = None if pending else common_path(n.module for n in graph.nodes(_handles(event.debug_handles)))
            ops.append(OpTime(f"{label} delegate call, outside its operators", "delegate call", RUNTIME,
                              max(ms - inner, 0.0), module))
            delegate_ms += ms
            pending = []
        elif event.name == "Method::execute":
            execute_ms = ms
        elif event.name.startswith("native_call_"):
            nodes = graph.nodes(_handles(event.debug_handles))
            kind = event.name.removeprefix("native_call_").split(".")[0]
            ops.append(OpTime(event.name.removeprefix("native_call_"), kind, CPU_KERNEL, ms,
                              common_path(n.module for n in nodes), sum(n.macs for n in nodes) or None))
    if execute_ms is not None:
        cpu_ops = sum(op.ms for op in ops if op.where == CPU_KERNEL)
        ops.append(OpTime("ExecuTorch method, outside its kernels and delegate calls", "overhead", RUNTIME,
                          max(execute_ms - delegate_ms - cpu_ops, 0.0)))
    return ETDumpProfile(ops, execute_ms, bool(graph.by_handle))
