"""What can go wrong when interpreting an ML Program: one clear message naming the op or file."""

from __future__ import annotations

from affdeploy.errors import AffdeployError


class MilReferenceError(AffdeployError):
    """The model cannot be interpreted here (not an ML Program, unreadable package, bad input)."""


class ProgramError(MilReferenceError):
    """The program itself is malformed: a value whose computed type or shape contradicts its declaration."""


class UnsupportedOpError(MilReferenceError):
    """An op type the interpreter does not implement; never skipped silently."""

    def __init__(self, op_type: str, output: str) -> None:
        super().__init__(f"MIL op {op_type!r} (producing {output!r}) is not implemented by the reference interpreter",
                         hint="supported ops: affdeploy.coreml_reference.supported_ops()")
        self.op_type = op_type
