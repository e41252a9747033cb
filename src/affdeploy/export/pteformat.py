"""What a .pte will execute, read straight from its flatbuffer.

ExecuTorch's own reader (``executorch.exir._serialize``) sits under ``executorch.exir``, whose import
pulls in the exporter and torchao: seconds of start-up for ``inspect``. The fields needed here are
few, so they are read with the ``flatbuffers`` runtime and the slot numbers of ExecuTorch 1.5.1's
``schema/program.fbs`` (a field's slot is its position in its table; a union takes two, type then value).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flatbuffers import encode
from flatbuffers import number_types as n
from flatbuffers.table import Table

# program.fbs slots
_PROGRAM_EXECUTION_PLAN = 1
_PLAN_VALUES, _PLAN_CHAINS, _PLAN_OPERATORS, _PLAN_DELEGATES = 2, 5, 6, 7
_CHAIN_INSTRUCTIONS = 2
_INSTRUCTION_ARGS_TYPE, _INSTRUCTION_ARGS = 0, 1
_CALL_INDEX = 0  # KernelCall.op_index, DelegateCall.delegate_index
_OPERATOR_NAME = 0
_DELEGATE_ID = 0
_EVALUE_TYPE, _EVALUE_VAL = 0, 1
_TENSOR_SCALAR_TYPE = 0
# union members, numbered from 1 in declaration order
_KERNEL_CALL, _DELEGATE_CALL = 1, 2
_EVALUE_TENSOR = 5
_COMPLEX_SCALAR_TYPES = frozenset({8, 9, 10})  # COMPLEXHALF, COMPLEXFLOAT, COMPLEXDOUBLE in scalar_type.fbs


class PteFormatError(ValueError):
    """The bytes are not a program this reader understands."""


@dataclass(frozen=True)
class PlanSummary:
    """The first execution plan: CPU kernel calls by operator name, delegate calls by backend id."""

    kernels: Counter[str]
    delegate_calls: Counter[str]
    complex_values: int


def _offset(table: Table, slot: int) -> int:
    return int(table.Offset(4 + 2 * slot))


def _tables(table: Table, slot: int) -> list[Table]:
    at = _offset(table, slot)
    if not at:
        return []
    start = table.Vector(at)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(at))]


def _table(table: Table, slot: int) -> Table | None:
    at = _offset(table, slot)
    return Table(table.Bytes, table.Indirect(table.Pos + at)) if at else None


def _int(table: Table, slot: int, flags: type) -> int:
    at = _offset(table, slot)
    return int(table.Get(flags, table.Pos + at)) if at else 0


def _string(table: Table, slot: int) -> str:
    at = _offset(table, slot)
    return bytes(table.String(table.Pos + at)).decode() if at else ""


def read_plan(path: Path) -> PlanSummary:
    """Summarise the first execution plan of the .pte at ``path`` (raises PteFormatError on garbage)."""
    data = bytearray(path.read_bytes())
    try:
        root = Table(data, encode.Get(n.UOffsetTFlags.packer_type, data, 0))
        plans = _tables(root, _PROGRAM_EXECUTION_PLAN)
        if not plans:
            raise PteFormatError("the program has no execution plan")
        plan = plans[0]
        operators = [_string(op, _OPERATOR_NAME) for op in _tables(plan, _PLAN_OPERATORS)]
        delegates = [_string(d, _DELEGATE_ID) for d in _tables(plan, _PLAN_DELEGATES)]
        kernels: Counter[str] = Counter()
        delegate_calls: Counter[str] = Counter()
        for chain in _tables(plan, _PLAN_CHAINS):
            for instruction in _tables(chain, _CHAIN_INSTRUCTIONS):
                kind = _int(instruction, _INSTRUCTION_ARGS_TYPE, n.Uint8Flags)
                call = _table(instruction, _INSTRUCTION_ARGS)
                if call is None or kind not in (_KERNEL_CALL, _DELEGATE_CALL):
                    continue
                index = _int(call, _CALL_INDEX, n.Int32Flags)
                if kind == _KERNEL_CALL:
                    kernels[operators[index].split("::")[-1]] += 1
                else:
                    delegate_calls[delegates[index]] += 1
        complex_values = 0
        for value in _tables(plan, _PLAN_VALUES):
            tensor = _table(value, _EVALUE_VAL) if _int(value, _EVALUE_TYPE, n.Uint8Flags) == _EVALUE_TENSOR else None
            if tensor is not None and _int(tensor, _TENSOR_SCALAR_TYPE, n.Int8Flags) in _COMPLEX_SCALAR_TYPES:
                complex_values += 1
    except (IndexError, ValueError, struct.error) as exc:  # offsets that point outside the file or at garbage
        raise PteFormatError(f"its flatbuffer is damaged or truncated ({exc})") from None
    return PlanSummary(kernels, delegate_calls, complex_values)
