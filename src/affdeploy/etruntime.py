"""Running a .pte's ``forward`` with the ExecuTorch Python runtime.

``executorch.runtime.Method`` holds only the native method, not its ``Program``: once the
Program is garbage-collected the method runs on freed memory and fails at random (status 0x10).
Every caller therefore loads through :func:`load_forward`, whose result keeps both alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from affdeploy.errors import AffdeployError


@dataclass(frozen=True)
class ForwardMethod:
    """A loaded ``forward`` together with the program that owns it."""

    program: Any
    method: Any

    def __call__(self, inputs: Sequence[torch.Tensor]) -> Sequence[Any]:
        return self.method.execute(list(inputs))


def load_forward(path: str | Path) -> ForwardMethod:
    """Load ``path`` and its ``forward`` method; the runtime's own errors propagate to the caller."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(Path(path))
    method = program.load_method("forward")
    if method is None:
        raise AffdeployError(f"{path} has no 'forward' method")
    return ForwardMethod(program, method)
