"""Exports that many tests share, made once per test run by `affdeploy export` in a background process.

The first test process to finish collecting starts, for each shared export a collected test needs,
one real `affdeploy export` (reduced_affnet's CLI, which also knows the reduced model) in its own
process group; tests that do not need it run meanwhile, and a fixture that needs it waits for its exit
code. Under pytest-xdist every worker sees one folder (the controller creates it and passes its path in
the environment), so each export runs once per test run, not once per worker. The controller kills
what is still running and removes the folder at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock
from reduced_affnet import CLI

ROOT_ENV = "AFFDEPLOY_TEST_SHARED_EXPORTS"
TIMEOUT_S = 1800.0
# sh runs the export, then publishes its exit code with an atomic rename (a waiter never reads half a code)
_WRAPPER = '"$@" > "$OUT/stdout" 2> "$OUT/stderr"; echo $? > "$OUT/rc.tmp"; mv "$OUT/rc.tmp" "$OUT/rc"'


@dataclass(frozen=True)
class SharedExport:
    """One `affdeploy export` run, named after the fixture that hands it to tests."""

    fixture: str
    args: tuple[str, ...]  # export arguments without --out/--json

    def run_dir(self, root: Path) -> Path:
        return root / self.fixture

    def models_dir(self, root: Path) -> Path:
        return self.run_dir(root) / "models"


def create_root() -> Path:
    """The run's shared folder (controller or single process), published to xdist workers via the environment."""
    root = Path(tempfile.mkdtemp(prefix="affdeploy-shared-exports-"))
    os.environ[ROOT_ENV] = str(root)
    return root


def shared_root() -> Path:
    return Path(os.environ[ROOT_ENV])


def start(exports: list[SharedExport]) -> None:
    """Start each export that no other process has started yet in this run."""
    root = shared_root()
    with FileLock(str(root / "start.lock")):
        for export in exports:
            run_dir = export.run_dir(root)
            if run_dir.exists():
                continue
            run_dir.mkdir()
            command = [*CLI, "export", *export.args,
                       "--out", str(export.models_dir(root)), "--json"]
            proc = subprocess.Popen(["sh", "-c", _WRAPPER, "sh", *command], env={**os.environ, "OUT": str(run_dir)},
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            (run_dir / "pid").write_text(str(proc.pid))


def wait(export: SharedExport) -> tuple[Path, list[dict[str, Any]]]:
    """The models folder and the entries `export --json` printed; raises with the export's stderr if it failed."""
    start([export])  # a test selected on its own (no collection hook saw it) still gets its export
    run_dir = export.run_dir(shared_root())
    deadline = time.monotonic() + TIMEOUT_S
    while not (run_dir / "rc").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"shared export {export.fixture} did not finish in {TIMEOUT_S:.0f} s")
        time.sleep(0.2)
    code = int((run_dir / "rc").read_text())
    if code != 0:
        raise RuntimeError(f"affdeploy export {' '.join(export.args)} exited {code}:\n"
                           + (run_dir / "stderr").read_text()[-4000:])
    return export.models_dir(shared_root()), json.loads((run_dir / "stdout").read_text())


def stop_and_remove(root: Path) -> None:
    """Kill exports still running (an interrupted run) and delete the shared folder."""
    for pid_file in root.glob("*/pid"):
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(root, ignore_errors=True)
