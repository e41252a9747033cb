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
_PLAN_NAME, _PLAN_VALUES, _PLAN_INPUTS, _PLAN_OUTPUTS, _PLAN_CHAINS, _PLAN_OPERATORS, _PLAN_DELEGATES = 0, 2, 3, 4, 5, 6, 7
_CHAIN_INSTRUCTIONS = 2
_INSTRUCTION_ARGS_TYPE, _INSTRUCTION_ARGS = 0, 1
_CALL_INDEX = 0  # KernelCall.op_index, DelegateCall.delegate_index
_OPERATOR_NAME = 0
_DELEGATE_ID = 0
_EVALUE_TYPE, _EVALUE_VAL = 0, 1
_TENSOR_SCALAR_TYPE, _TENSOR_SIZES, _TENSOR_SHAPE_DYNAMISM = 0, 2, 8
# union members, numbered from 1 in declaration order
_KERNEL_CALL, _DELEGATE_CALL = 1, 2
_EVALUE_TENSOR = 5
_EVALUE_KINDS = ("none", "null", "int", "bool", "double", "tensor", "string", "intlist", "doublelist", "boollist",
                 "tensorlist", "optionaltensorlist")
_SCALAR_TYPE_NAMES = {0: "BYTE", 1: "CHAR", 2: "SHORT", 3: "INT", 4: "LONG", 5: "HALF", 6: "FLOAT", 7: "DOUBLE",
                      8: "COMPLEXHALF", 9: "COMPLEXFLOAT", 10: "COMPLEXDOUBLE", 11: "BOOL", 12: "QINT8", 13: "QUINT8",
                      14: "QINT32", 15: "BFLOAT16", 16: "QUINT4X2", 17: "QUINT2X4", 22: "BITS16", 23: "FLOAT8E5M2",
                      24: "FLOAT8E4M3FN", 25: "FLOAT8E5M2FNUZ", 26: "FLOAT8E4M3FNUZ", 27: "UINT16", 28: "UINT32",
                      29: "UINT64"}


class PteFormatError(ValueError):
    """The bytes are not a program this reader understands."""


@dataclass(frozen=True)
class PlanValue:
    """One input or output of a plan: a tensor (sizes, ExecuTorch scalar type name, dynamic or not) or a scalar."""

    kind: str  # tensor | int | bool | double | ... (the EValue union member, lower case)
    sizes: tuple[int, ...] = ()
    scalar_type: str = ""
    dynamic: bool = False


@dataclass(frozen=True)
class PlanSummary:
    """The first execution plan: its name, inputs and outputs, CPU kernel calls by operator, delegate calls by id."""

    name: str
    inputs: list[PlanValue]
    outputs: list[PlanValue]
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


def _ints(table: Table, slot: int) -> list[int]:
    at = _offset(table, slot)
    if not at:
        return []
    start = table.Vector(at)
    return [int(table.Get(n.Int32Flags, start + 4 * i)) for i in range(table.VectorLen(at))]


def _value(value: Table) -> PlanValue:
    kind = _int(value, _EVALUE_TYPE, n.Uint8Flags)
    tensor = _table(value, _EVALUE_VAL) if kind == _EVALUE_TENSOR else None
    if tensor is None:
        return PlanValue(_EVALUE_KINDS[kind] if kind < len(_EVALUE_KINDS) else f"kind {kind}")
    scalar = _int(tensor, _TENSOR_SCALAR_TYPE, n.Int8Flags)
    return PlanValue("tensor", tuple(_ints(tensor, _TENSOR_SIZES)), _SCALAR_TYPE_NAMES.get(scalar, f"type {scalar}"),
                     _int(tensor, _TENSOR_SHAPE_DYNAMISM, n.Int8Flags) != 0)


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
        values = [_value(value) for value in _tables(plan, _PLAN_VALUES)]
        complex_values = sum(v.scalar_type.startswith("COMPLEX") for v in values)
        inputs = [values[i] for i in _ints(plan, _PLAN_INPUTS)]
        outputs = [values[i] for i in _ints(plan, _PLAN_OUTPUTS)]
        name = _string(plan, _PLAN_NAME)
    except (IndexError, ValueError, struct.error) as exc:  # offsets that point outside the file or at garbage
        raise PteFormatError(f"its flatbuffer is damaged or truncated ({exc})") from None
    return PlanSummary(name, inputs, outputs, kernels, delegate_calls, complex_values)
