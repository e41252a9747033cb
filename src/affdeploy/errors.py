"""Errors that the CLI turns into one clear line and an exit code (never a traceback)."""

from __future__ import annotations

import signal


class AffdeployError(Exception):
    """A failure the user can act on. ``hint`` says what to do about it."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(AffdeployError):
    """Bad arguments: unknown model, target, device, bad number. Exit code 2, like click's."""

    exit_code = 2


class CheckpointError(AffdeployError):
    """A weights file that is not a checkpoint, or does not match the model."""


class ExportError(AffdeployError):
    """A lowering or conversion step failed."""


class ParityError(ExportError):
    """An artifact's outputs differ from PyTorch's beyond tolerance."""


class DeviceError(AffdeployError):
    """A device is missing, ambiguous, or went away mid-run."""


class ToolMissingError(AffdeployError):
    """An external program (adb, xcrun, a runner binary) is not installed."""


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived. Exit code 128 + the signal number (130, 143, 129).

    A BaseException like KeyboardInterrupt, so no library's ``except Exception`` swallows it and
    every atomic write on the way out removes its temporary.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
        self.signal_name = signal.Signals(signum).name
