"""What every bad-input case asserts: the exit code, one clear line, no native log, --out untouched."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROGRESS_LINE = re.compile(r"^\[\s*\d+\.\d s\] ")  # the plain step lines printed outside a terminal
NATIVE_LOG = re.compile(r"\[[\w./-]+\.(?:cpp|cc|c|h|mm):\d+\]|^[IWEF]\d{4} \d\d:\d\d:\d\d|Traceback|tqdm|it/s\]")


def error_lines(stderr: str) -> list[str]:
    """stderr without blank lines and without the plain progress lines of steps that ran."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]


def assert_one_clear_line(stderr: str, needle: str) -> str:
    """Exactly one line, starting 'error:', naming ``needle``; no traceback or native log line anywhere.

    Give it stderr read with ``capfd`` (file descriptor 2): native libraries write there directly, and
    ``capsys`` (sys.stderr only) would never show their lines.
    """
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert needle in lines[0], stderr
    assert not any(NATIVE_LOG.search(line) for line in stderr.splitlines()), stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (hidden ones too) with a digest of its bytes ('dir' for folders)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a small real filesystem with the given tmpfs options (a full disk, a read-only one); root only, else
    the test is skipped. Unmounted after the test."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)
