"""The sweep of a dead run's temporaries spares a live writer's, even one whose PID looks dead here.

Two runs in different PID namespaces (containers sharing a folder) see each other's PIDs as dead: the
writer below reports a PID that is dead in this namespace, so only its lock can keep its temporary alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from affdeploy.fsutil import TMP_MARKER, ensure_writable_dir, sweep_stale_temporaries

WRITER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    os.getpid = lambda: 999999999  # what a writer in another PID namespace looks like from here
    from affdeploy.fsutil import atomic_path
    with atomic_path(Path(sys.argv[1]) / "model.onnx") as tmp:
        tmp.write_bytes(b"half")
        print(tmp, flush=True)
        sys.stdin.readline()  # hold the temporary until the test says so
""")


def test_a_live_writers_temporary_survives_the_sweep_until_the_writer_dies(tmp_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        temporary = Path(writer.stdout.readline().strip()).parent
        assert temporary.name.startswith(f"{TMP_MARKER}999999999-")
        sweeper = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from affdeploy.fsutil "
                                  "import sweep_stale_temporaries as s; print(len(s(Path(sys.argv[1]))))",
                                  str(tmp_path)], capture_output=True, text=True, timeout=30)
        assert sweeper.stdout.strip() == "0", sweeper.stderr
        assert ensure_writable_dir(tmp_path) and (temporary / "model.onnx").read_bytes() == b"half"
    finally:
        writer.send_signal(signal.SIGKILL)  # like a killed run: no cleanup, the temporary stays
        writer.wait(timeout=30)
    assert temporary.exists()
    assert sweep_stale_temporaries(tmp_path) == [temporary]
    assert not temporary.exists() and not (tmp_path / "model.onnx").exists()


def test_an_unlocked_temporary_of_a_live_pid_is_kept(tmp_path: Path) -> None:
    """An older affdeploy held no lock: its PID, alive here, still protects it."""
    legacy = tmp_path / f"{TMP_MARKER}{os.getppid()}-model.onnx.abc123"
    legacy.mkdir()
    assert sweep_stale_temporaries(tmp_path) == [] and legacy.exists()


def test_a_runs_own_temporary_folder_can_be_locked_for_its_manifest(tmp_path: Path) -> None:
    """A cache folder being filled (atomic_path, is_dir) gets its manifest written under locked_dir: the run already
    holds the folder's flock, and a second flock from another descriptor would wait for itself forever (it hung
    `affdeploy bench` on a fresh checkout, exporting into models/cache)."""
    import threading

    from affdeploy.fsutil import atomic_path, locked_dir

    with atomic_path(tmp_path / "cache", is_dir=True) as folder:
        locked = threading.Event()

        def write_manifest() -> None:
            with locked_dir(folder):
                (folder / "manifest.json").write_text("{}")
                locked.set()

        writer = threading.Thread(target=write_manifest, daemon=True)
        writer.start()
        writer.join(10)
        assert locked.is_set(), "locked_dir waited for the run's own temporary"
    assert (tmp_path / "cache" / "manifest.json").read_text() == "{}"
