"""ONNX Runtime: per-node rows from its profiler's JSON trace, mapped through the ONNX file's node metadata.

The trace is what ``SessionOptions.enable_profiling`` writes on the host and what
``onnxruntime_perf_test -p <file>`` writes on a phone: a Chrome-trace list of events, one ``"cat":
"Node"`` event named ``<node name>_kernel_time`` per node and run, with ``dur`` in microseconds and
``args.op_name`` / ``args.provider``, and one ``"cat": "Session"`` event ``model_run`` per run
(onnxruntime/core/common/profiler.cc, sequential_executor.cc, inference_session.cc).

The dynamo exporter records each node's PyTorch scopes in ``pkg.torch.onnx.name_scopes`` (module
paths, then the FX node's name). How exact the mapping is: a node ONNX Runtime kept under its own
name maps exactly; a node its optimizer rewrote is named after a node or output it replaced in most
rewrites (``FusedConv`` takes the Conv's name, the NCHWc layout pass ``<output>_nchwc``) and maps to
that node's module; a name found nowhere in the file (the layout reorders it inserts) stays unmapped.
"""

from __future__ import annotations

import ast
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affdeploy.bench.profile.model import RUNTIME, OpTime
from affdeploy.errors import AffdeployError

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class OnnxNode:
    module: str | None
    macs: int | None


def _shape(value: Any) -> list[int] | None:
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in value.type.tensor_type.shape.dim]
    return dims if dims and all(dims) else None


def onnx_nodes(path: Path) -> dict[str, OnnxNode]:
    """Module path and MACs (Conv, MatMul, Gemm; from inferred shapes) of every node of an .onnx file,
    keyed by its name and by each of its output names."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: s for v in (*model.graph.value_info, *model.graph.input, *model.graph.output)
              if (s := _shape(v)) is not None}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    nodes: dict[str, OnnxNode] = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        entry = OnnxNode(_scope_module(meta.get(SCOPES_KEY)), _node_macs(node, shapes))
        for name in (*node.output, node.name):  # ORT's layout passes name new nodes after an output (x_nchwc)
            nodes[name] = entry
    return nodes


def _scope_module(text: str | None) -> str | None:
    """``['', 'layer_1', 'layer_1.0', 'silu_3']`` -> ``layer_1.0`` (the last entry is the FX node's name)."""
    if not text:
        return None
    try:
        scopes = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    modules = [s for s in scopes[:-1] if s]
    return modules[-1] if modules else ""


def _node_macs(node: Any, shapes: dict[str, list[int]]) -> int | None:
    out = shapes.get(node.output[0]) if node.output else None
    if out is None or len(node.input) < 2:
        return None
    other = shapes.get(node.input[1])
    first = shapes.get(node.input[0])
    if node.op_type == "Conv" and other:
        return math.prod(out) * math.prod(other[1:])
    if node.op_type == "MatMul" and first:
        return math.prod(out) * first[-1]
    if node.op_type == "Gemm" and first:
        trans_a = any(a.name == "transA" and a.i for a in node.attribute)
        return math.prod(out) * first[0 if trans_a else -1]
    return None


def _lookup(name: str, nodes: dict[str, OnnxNode]) -> OnnxNode | None:
    """The file's node an event names: itself, else the longest node or output name its name contains."""
    if name in nodes:
        return nodes[name]
    candidates = [n for n in nodes if n and n in name]
    return nodes[max(candidates, key=len)] if candidates else None


def parse_ort_trace(trace: Path, onnx_path: Path | None, skip: int = 0, run_ms: float | None = None) -> list[OpTime]:
    """Per-node rows (median over runs after the first ``skip``) of an ONNX Runtime profile.

    The last row is the run's time outside the node kernels: ``run_ms`` (an unprofiled median, when the caller
    has one) or the trace's own ``model_run`` median less the kernels. The trace's runs are slower than
    unprofiled ones by what recording ~800 events per run costs (about a fifth for AFFNet-T), which the row
    then holds.
    """
    try:
        events = json.loads(trace.read_text())
    except (OSError, ValueError) as exc:
        raise AffdeployError(f"{trace} is not an ONNX Runtime profile ({exc})") from None
    if isinstance(events, dict):  # some builds wrap the list: {"traceEvents": [...]}
        events = events.get("traceEvents", [])
    runs: dict[tuple[str, str], list[float]] = {}  # by (name, node index): inserted nodes may share a name
    info: dict[tuple[str, str], dict[str, Any]] = {}
    model_runs: list[float] = []
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") == "Session" and name == "model_run":
            model_runs.append(float(event.get("dur", 0)) / 1e3)
        if event.get("cat") != "Node" or not name.endswith(_KERNEL_SUFFIX):
            continue
        args = event.get("args") or {}
        key = (name.removesuffix(_KERNEL_SUFFIX), str(args.get("node_index", "")))
        runs.setdefault(key, []).append(float(event.get("dur", 0)) / 1e3)
        info[key] = args
    if not runs:
        raise AffdeployError(f"{trace} holds no per-node events (was the session profiled while it ran?)")
    nodes = onnx_nodes(onnx_path) if onnx_path is not None else {}
    rows = []
    for (node, _index), durations in runs.items():
        kept = durations[skip:] or durations
        found = _lookup(node, nodes)
        args = info[node, _index]
        rows.append(OpTime(node, str(args.get("op_name", "?")), str(args.get("provider", "?")),
                           float(statistics.median(kept)), found.module if found else None,
                           found.macs if found else None))
    whole = run_ms if run_ms is not None else statistics.median(model_runs[skip:] or model_runs) if model_runs else None
    if whole is not None:
        source = "unprofiled median" if run_ms is not None else "profiled model_run median"
        rows.append(OpTime(f"ONNX Runtime run outside its node kernels ({source} less the kernels)", "overhead",
                           RUNTIME, max(float(whole) - sum(r.ms for r in rows), 0.0)))
    return rows
