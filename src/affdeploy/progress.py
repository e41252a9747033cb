"""The one progress callback type every slow step reports through (export, cache, bench, devices)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """``message``: what is happening now; ``fraction``: overall share done (None when unknown)."""

    def __call__(self, message: str, fraction: float | None = None) -> None: ...


def silent(message: str, fraction: float | None = None) -> None:
    """The default: report nothing."""
