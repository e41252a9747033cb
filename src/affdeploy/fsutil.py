"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Everything is first written to a hidden temporary sibling (same filesystem, so the final
``os.replace`` is atomic) and removed again on any exception, including KeyboardInterrupt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from affdeploy.errors import AffdeployError

TMP_MARKER = ".affdeploy-tmp-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def ensure_writable_dir(folder: Path) -> Path:
    """Create ``folder`` if needed and fail with one clear line if we cannot write there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AffdeployError(
            f"cannot create output folder {folder}: {exc.strerror}", hint="choose another --out"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AffdeployError(f"output folder {folder} is not writable", hint="choose another --out")
    return folder


@contextmanager
def atomic_path(final: str | os.PathLike[str], *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to fill; on success it replaces ``final`` in one rename.

    For folders (``.mlpackage``) the old folder is moved aside first and deleted after the
    swap, so a reader sees either the old or the new complete folder.
    """
    final = Path(final)
    parent = ensure_writable_dir(final.parent)
    # a folder keeps its suffix: tools such as coremltools insist on writing to "*.mlpackage"
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_MARKER}{final.name}.", suffix=final.suffix if is_dir else "", dir=parent))
    target = tmp if is_dir else tmp / final.name
    try:
        yield target
        if is_dir:
            old = None
            if final.exists():
                old = parent / f"{TMP_MARKER}{final.name}.old-{os.getpid()}"
                _remove(old)
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                _remove(old)
        else:
            os.replace(target, final)
            _remove(tmp)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_path(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, or of a folder (sorted relative paths and contents), as hex."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def path_size(path: str | os.PathLike[str]) -> int:
    """Size in bytes of a file, or the sum over a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
