"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Everything is first written to a hidden temporary sibling (same filesystem, so the final
``os.replace`` is atomic) and removed again on any exception, including KeyboardInterrupt and
the :class:`~affdeploy.errors.Interrupted` that SIGTERM raises. A writer holds a flock on its
temporary for as long as it exists, so a later run can tell the leftovers of a SIGKILLed run (no
lock) from those of a run still in progress, and sweep only the former. PIDs alone cannot tell: two
runs in different PID namespaces (containers) see each other's PIDs as dead or as someone else's.
:func:`run_scope` lets the CLI undo what a failed
run created (temporaries, output folders it made that stayed empty).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from affdeploy.errors import AffdeployError, Interrupted, UsageError

TMP_MARKER = ".affdeploy-tmp-"
_OWNER = re.compile(re.escape(TMP_MARKER) + r"(\d+)-")
LEGACY_STALE_S = 3600.0
"""An unlocked temporary whose owner PID looks alive (another namespace's, or a reused PID) or that has no PID
(an older affdeploy) counts as stale when untouched for an hour."""

_live: set[Path] = set()  # temporaries of this process not yet renamed or removed
_created: list[Path] = []  # folders this run created, outermost first
_interrupted: list[int] = []  # signals received during this run (see note_interrupt)


def note_interrupt(signum: int) -> None:
    """Record a signal, so no atomic write commits after it even if a library swallowed the exception.

    coremltools wraps parts of its conversion in bare ``except:`` clauses, which also catch the
    exception a signal handler raises; without this the run would finish and exit 0.
    """
    _interrupted.append(signum)


def _raise_if_interrupted() -> None:
    if _interrupted:
        raise Interrupted(_interrupted[0])


def remove_path(path: Path) -> None:
    """Delete a file or a whole folder (a symlink itself, never what it points to); gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _unowned(path: Path) -> bool:
    """Whether an unlocked temporary is a leftover: its owner PID is dead, or it has been untouched for an hour.

    The PID check keeps the temporaries of older affdeploy versions, which held no lock, while their run lives.
    """
    owner = _OWNER.match(path.name)
    if owner is not None and not _alive(int(owner.group(1))):
        return True
    try:
        return time.time() - path.lstat().st_mtime > LEGACY_STALE_S
    except OSError:
        return False


def _take_lock(path: Path) -> int | None:
    """A descriptor holding ``path``'s flock, or None while a writer holds it (or it cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO must not block
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep_stale_temporaries(folder: Path) -> list[Path]:
    """Remove what killed runs (SIGKILL, power loss) left in ``folder``; return what was removed.

    Each temporary is removed while its lock is held, so a writer that just created it (and waits
    for the lock) sees it gone and makes another.
    """
    try:
        children = [p for p in Path(folder).iterdir() if p.name.startswith(TMP_MARKER)]
    except OSError:
        return []
    removed = []
    for path in children:
        fd = _take_lock(path)
        if fd is None:
            continue
        try:
            if _unowned(path):
                remove_path(path)
                removed.append(path)
        finally:
            os.close(fd)
    return removed


def _locked_temporary(parent: Path, stem: str, suffix: str, final: Path) -> tuple[Path, int]:
    """A new temporary folder and a descriptor holding its flock, which marks it live until closed."""
    while True:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=stem, suffix=suffix, dir=parent))
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise _no_space(exc, final) or AffdeployError(f"cannot write {final}: {exc.strerror}") from None
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits only while a sweep that saw it unlocked removes it
        if tmp.is_dir():
            return tmp, fd
        os.close(fd)


def _in_the_way(folder: Path) -> str:
    """What stands where ``folder`` (or one of its parents) would be created: a broken symbolic link, or a file."""
    for path in (folder, *folder.parents):
        if path.is_symlink():
            try:
                os.stat(path)
            except OSError as exc:
                kind = "loops back on itself" if exc.errno == errno.ELOOP else "points nowhere"
                return f"{path} is a symbolic link that {kind} (to {os.readlink(path)}); remove or fix the link"
    return "a file is in the way"


def ensure_writable_dir(folder: Path) -> Path:
    """Create ``folder`` if needed, fail with one clear line if we cannot write there, sweep stale temporaries."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = _in_the_way(folder) if exc.errno in (errno.EEXIST, errno.ELOOP) else exc.strerror
        raise AffdeployError(f"cannot create output folder {folder}: {reason}", hint="choose another --out") from None
    _created.extend(p for p in reversed(missing) if p not in _created)
    if not folder.is_dir():
        raise AffdeployError(f"output folder {folder} is not a folder", hint="choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AffdeployError(f"output folder {folder} is not writable", hint="choose another --out")
    sweep_stale_temporaries(folder)
    return folder


def _kind(mode: int) -> str:
    """What a special file is, in words for an error line."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a file"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISFIFO, "a FIFO (named pipe)"))
    return next((name for test, name in kinds if test(mode)), "a special file")


def check_readable_file(path: Path, what: str, *, folder_ok: bool = False) -> None:
    """Refuse anything but a regular file (or a folder, ``folder_ok``) before it is opened.

    Opening a FIFO blocks until someone writes to it, and a device can stream forever: either would
    hang the command instead of saying what is wrong. A missing path is left to the reader's own message.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return
    raise AffdeployError(f"{what} {path} is {_kind(mode)}, not a {'file or folder' if folder_ok else 'regular file'}",
                         hint="give the path of a file written to disk")


def write_destination(final: Path, *, is_dir: bool = False) -> tuple[Path, bool]:
    """Where a write of ``final`` lands, and whether it streams straight through instead of temp + rename.

    Temp + rename is right for a regular file (or a folder, ``is_dir``) or nothing yet; it would
    replace a device node (``/dev/null``), a FIFO or a symlink with a regular file, which as root
    breaks the system. So a character device or FIFO is written straight through, a symlink to a
    regular file (or folder) in a writable folder has its target replaced (the link stays), and
    anything else is refused with one clear line.
    """
    final = Path(final)
    try:
        mode = os.lstat(final).st_mode
    except FileNotFoundError:
        return final, False
    except OSError as exc:  # a file where a folder should be: the writer's own check says so
        if exc.errno == errno.ENOTDIR:
            return final, False
        raise AffdeployError(f"cannot write {final}: {exc.strerror}", hint="choose another path") from None
    wanted = stat.S_ISDIR if is_dir else stat.S_ISREG
    if stat.S_ISLNK(mode):
        try:
            mode = os.stat(final).st_mode
        except OSError:
            raise AffdeployError(f"cannot write {final}: it is a symlink to {os.readlink(final)}, which is missing",
                                 hint="remove the link or choose another path") from None
        if wanted(mode):
            target = final.resolve()
            if not os.access(target.parent, os.W_OK | os.X_OK):
                raise AffdeployError(f"cannot write {final}: it links to {target}, in a folder that is not writable",
                                     hint="choose another path")
            return target, False
    elif wanted(mode):
        return final, False
    if not is_dir and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        return final, True
    raise AffdeployError(f"cannot write {final}: it is {_kind(mode)}, not {'a folder' if is_dir else 'a file'}",
                         hint="choose another path")


def check_writable_file(path: Path, option: str) -> None:
    """Fail now, not after a long run, when ``path`` cannot be written (creates nothing)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    path, stream = write_destination(path)
    if stream:
        if not os.access(path, os.W_OK):
            raise AffdeployError(f"{option} {path} is not writable", hint=f"choose another {option}")
        return
    existing = next(p for p in (path.parent.absolute(), *path.parent.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AffdeployError(f"{option} {path}: {existing} is not writable", hint=f"choose another {option}")


NOTHING_WRITTEN = "nothing was written"


def disk_refused(exc: BaseException) -> bool:
    """A full disk, a quota or file-size limit, or a read-only filesystem: no writer can go on, whatever it writes."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def out_of_space(folder: Path) -> bool:
    """Whether ``folder``'s filesystem has no block or no inode left: what a writer's failure there most likely was
    when a library reports it in its own words (coremltools: a shutil.Error listing the files it could not copy)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail == 0 or st.f_favail == 0


def full_disk_error(final: Path, code: int = errno.ENOSPC) -> AffdeployError:
    """The one line for a write of ``final`` that a full or read-only disk refused."""
    return AffdeployError(f"cannot write {final}: {os.strerror(code)}", hint=NOTHING_WRITTEN)


def _no_space(exc: OSError, final: Path) -> AffdeployError | None:
    """One clear line for a full or read-only disk, which every writer can hit."""
    return full_disk_error(final, exc.errno or errno.ENOSPC) if disk_refused(exc) else None


@contextmanager
def atomic_path(final: str | os.PathLike[str], *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to fill; on success it replaces ``final`` in one rename.

    For folders (``.mlpackage``) the old folder is moved aside first and deleted after the
    swap, so a reader sees either the old or the new complete folder. A character device or FIFO
    (``/dev/null``, a pipe) is yielded itself to be written straight through, and a symlink's
    target is replaced instead of the link (see :func:`write_destination`).
    """
    final, stream = write_destination(Path(final), is_dir=is_dir)
    if stream:
        yield final
        return
    parent = ensure_writable_dir(final.parent)
    stem = f"{TMP_MARKER}{os.getpid()}-{final.name}."
    # a folder keeps its suffix: tools such as coremltools insist on writing to "*.mlpackage"
    tmp, lock = _locked_temporary(parent, stem, final.suffix if is_dir else "", final)
    _live.add(tmp)
    target = tmp if is_dir else tmp / final.name
    try:
        yield target
        _raise_if_interrupted()
        if is_dir:
            old = None
            if final.exists():
                old = parent / f"{stem}old"
                _live.add(old)
                remove_path(old)
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                remove_path(old)
                _live.discard(old)
        else:
            os.replace(target, final)
            remove_path(tmp)
    except OSError as exc:
        remove_path(tmp)
        translated = _no_space(exc, final)
        if translated is None:
            raise
        raise translated from None
    except BaseException:
        remove_path(tmp)
        raise
    finally:
        _live.discard(tmp)
        os.close(lock)  # releases the flock


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # a pipe or device streamed through has nothing to sync
                os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def locked_dir(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` itself (flock on its descriptor, no lock file left behind).

    Two runs updating the same folder's manifest take turns, so neither loses the other's entry. A
    temporary folder of this run's own (:func:`atomic_path`, e.g. a cache folder being filled) is already
    held exclusively by this run: a second flock on it from another descriptor would wait for itself.
    """
    if Path(folder).resolve() in {live.resolve() for live in _live}:
        yield
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def run_scope() -> Iterator[None]:
    """One CLI run: on failure or interruption, remove its temporaries and the folders it created that stayed empty."""
    _live.clear()
    _created.clear()
    _interrupted.clear()
    try:
        yield
        _raise_if_interrupted()  # a signal whose exception a library swallowed still ends the run as interrupted
    except BaseException:
        for path in list(_live):
            remove_path(path)
        for folder in reversed(_created):
            try:
                folder.rmdir()  # only succeeds while empty
            except OSError:
                pass
        raise
    finally:
        _live.clear()
        _created.clear()
        _interrupted.clear()


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
