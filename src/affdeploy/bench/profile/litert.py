"""LiteRT: per-op rows from ``benchmark_model --enable_op_profiling=true --op_profiling_output_mode=csv``.

The file is what tflite/profiling/profile_summarizer.cc hands to tensorflow/core/util/stats_calculator.cc
with ``format_as_csv``: for the graph, then (after a ``Delegate internal:`` line) for the delegate's own
operators, tables titled ``============================== Run Order ==============================``
with the header ``node type, start, first, avg_ms, %, cdf%, mem KB, times called, name`` (builds before
2023 have no ``start`` column) and rows of unquoted, ``, ``-separated values. A graph node's name is
``[<its output tensor names>]:<node index>``; a delegate operator's ``Delegate/<operator>:<index>``.
Times are averages over the measured runs (the tool keeps no medians).

How exact the module mapping is: litert-torch names each op's output tensor after the PyTorch module
stack it came from (``pkg.Model/pkg.Block_blocks/...Conv2d_conv;2``), so a node LiteRT runs on its own
CPU kernels maps exactly; the XNNPACK delegate's operators carry no tensor names and are lined up with
the delegated graph ops (:mod:`.align`), the rest unmapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from affdeploy.bench.profile.align import GraphNode, align
from affdeploy.bench.profile.model import RUNTIME, OpTime, common_path
from affdeploy.errors import AffdeployError

RUN_ORDER = "============================== Run Order =============================="
DELEGATE_INTERNAL = "Delegate internal:"
_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf"
_ROW = re.compile(rf"^(?P<type>.+?), (?:(?P<start>{_NUM}), )?(?P<first>{_NUM}), (?P<avg>{_NUM}), (?P<pct>{_NUM})%, "
                  rf"(?P<cdf>{_NUM})%, (?P<mem>{_NUM}), (?P<times>\d+), (?P<name>.*)$")
_NODE = re.compile(r"^\[(?P<tensors>.*)\]:(?P<index>\d+)$")


@dataclass(frozen=True)
class CsvRow:
    kind: str
    avg_ms: float
    name: str


def _run_order(text: str) -> list[CsvRow]:
    """The rows of the first Run Order table in ``text``."""
    if RUN_ORDER not in text:
        return []
    rows = []
    for line in text.split(RUN_ORDER, 1)[1].splitlines()[2:]:  # the rest of the title line, then the header
        match = _ROW.match(line.strip())
        if match is None:
            break
        rows.append(CsvRow(match["type"], float(match["avg"]), match["name"]))
    return rows


def tensor_module(name: str) -> str | None:
    """litert-torch's tensor name -> module path: ``a.Model/torch...Sequential_layer_4/x.Block_1;3`` -> ``layer_4.1``.

    A fused op's name lists each source location (``;``-separated): the module they all lie in.
    """
    modules = [_location_module(loc) for loc in name.split(";") if "/" in loc or loc.count(".") > 1]
    return common_path(m for m in modules if m is not None) if modules and None not in modules else None


def _location_module(location: str) -> str | None:
    attrs = []
    for part in location.split("/")[1:]:  # the first component is the model itself
        tail = part.rsplit(".", 1)[-1]
        if "_" not in tail:
            return None
        attrs.append(tail.split("_", 1)[1])
    return ".".join(attrs)


def tflite_graph(path: Path) -> list[GraphNode]:
    """The ops of the .tflite's main subgraph in order, with the module their first output tensor names."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    nodes = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        tensor = graph.Tensors(op.Outputs(0)).Name().decode() if op.OutputsLength() else ""
        nodes.append(GraphNode(names.get(builtin, str(builtin)), tensor_module(tensor) or ""))
    return nodes


def parse_op_profile(csv: Path, tflite: Path | None) -> list[OpTime]:
    """Per-op rows of a benchmark_model op-profiling CSV, mapped through the .tflite's tensor names when given."""
    try:
        text = csv.read_text("utf-8", "replace")
    except OSError as exc:
        raise AffdeployError(f"cannot read the op profile {csv}: {exc.strerror}") from None
    graph_text, _, delegate_text = text.partition(DELEGATE_INTERNAL)
    graph_rows, internal = _run_order(graph_text), _run_order(delegate_text)
    if not graph_rows:
        raise AffdeployError(f"{csv} has no '{RUN_ORDER.strip('= ')}' table: not benchmark_model's op profiling CSV")
    nodes = tflite_graph(tflite) if tflite is not None else []
    rows: list[OpTime] = []
    outside: set[int] = set()
    delegate_ms = 0.0
    for row in graph_rows:
        node = _NODE.match(row.name)
        if "Delegate" in row.kind:
            delegate_ms += row.avg_ms
            continue
        index = int(node["index"]) if node else -1
        outside.add(index)
        module = nodes[index].module if 0 <= index < len(nodes) else None
        rows.append(OpTime(row.name, row.kind.split("/")[0], "CPU kernel", row.avg_ms, module))
    delegated = [n for i, n in enumerate(nodes) if i not in outside]
    matched = align([r.kind for r in internal], delegated) if nodes else {}
    for i, row in enumerate(internal):
        node_found = matched.get(i)
        rows.append(OpTime(row.name.removeprefix("Delegate/"), row.kind, "XNNPACK delegate", row.avg_ms,
                           node_found.module if node_found else None))
    if delegate_ms:
        inner = sum(r.avg_ms for r in internal)
        rows.append(OpTime("XNNPACK delegate call, outside its operators", "delegate call", RUNTIME,
                           max(delegate_ms - inner, 0.0)))
    return rows
