"""Running a .pte's ``forward`` with ExecuTorch's native runtime.

A loaded method does not keep its program alive: once the program is garbage-collected the method
runs on freed memory and fails at random (status 0x10). Every caller therefore loads through
:func:`load_forward`, whose result keeps both alive.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from affdeploy.errors import AffdeployError
from affdeploy.runtime_guard import executorch_failure, native_stderr_captured


@dataclass(frozen=True)
class ForwardMethod:
    """A loaded ``forward`` together with the program that owns it."""

    program: Any
    method: Any

    def __call__(self, inputs: Sequence[torch.Tensor]) -> Sequence[Any]:
        return self.method(list(inputs))


def native() -> ModuleType:
    """ExecuTorch's native runtime (the pybindings' C extension), loaded without ``executorch.exir``.

    ``executorch.runtime`` and ``portable_lib`` import ``executorch.exir`` (and with it torchao) only for
    a warning class: about 5 s before a command that merely runs a .pte can start. The extension itself
    needs nothing but libtorch, which importing torch loads.
    """
    with native_stderr_captured(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from executorch.extension.pybindings import _C

    return _C


def load_program(path: str | Path) -> Any:
    """The program at ``path``, checked for internal consistency (as ``executorch.runtime`` checks it)."""
    runtime = native()
    return runtime._load_program(str(path), program_verification=runtime.Verification.InternalConsistency)


def method_names(program: Any) -> list[str]:
    return [program.get_method_name(i) for i in range(program.num_methods())]


def input_sizes(path: str | Path) -> list[tuple[int, ...]]:
    """Sizes of the inputs of a .pte's ``forward`` (else its first method) as the program declares them."""
    check_pte_header(path)
    with native_stderr_captured():
        program = load_program(path)
        names = method_names(program)
        meta = program.method_meta("forward" if "forward" in names else sorted(names)[0])
        return [tuple(int(d) for d in meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]


def load_forward(path: str | Path) -> ForwardMethod:
    """Load ``path`` and its ``forward`` method; the runtime's own errors propagate to the caller."""
    program = load_program(path)
    if "forward" not in method_names(program):
        raise AffdeployError(f"{path} has no 'forward' method")
    return ForwardMethod(program, program.load_method("forward"))


def set_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide threadpool (XNNPACK picks it up at method load).

    ExecuTorch 1.5.1's XNNCompiler passes ``get_pthreadpool()`` to ``xnn_create_runtime`` when a
    method loads; ``_unsafe_reset_threadpool(n)`` replaces that pool, so methods loaded earlier keep a
    pointer to the destroyed one: size the pool before loading, and keep one count per process phase.
    """
    runtime = native()
    with native_stderr_captured():
        runtime._unsafe_reset_threadpool(threads)


def check_pte_header(path: str | Path) -> None:
    """Refuse a file without ExecuTorch's ``ET..`` identifier at byte 4 before the runtime sees it.

    ExecuTorch 1.5.1 reports a damaged program as InvalidProgram, but on some garbage headers it calls
    abort() instead, which would end the process without a word.
    """
    with open(path, "rb") as fh:
        head = fh.read(8)
    if len(head) < 8 or head[4:6] != b"ET" or not head[6:8].isdigit():
        raise AffdeployError(f"{path} is not an ExecuTorch program (no 'ET' identifier at byte 4)",
                             hint="export it again with 'affdeploy export --target executorch'")


def open_forward(path: str | Path, threads: int | None = None) -> ForwardMethod:
    """:func:`load_forward` with an optional pool size, the runtime's log kept off the terminal.

    A load failure becomes one AffdeployError quoting the runtime's own reason (its last error line).
    """
    check_pte_header(path)
    if threads is not None:
        set_threads(threads)
    try:
        with native_stderr_captured() as log:
            return load_forward(path)
    except AffdeployError:
        raise
    except Exception as exc:  # the pybindings raise RuntimeError/ValueError with a status code
        raise AffdeployError(f"ExecuTorch cannot load {path}: {executorch_failure(exc, log)}") from None
