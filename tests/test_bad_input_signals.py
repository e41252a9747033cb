"""Bad-input suite, part 2: signals at several stages of a real export, a SIGKILLed run, two writers at once.

Real `affdeploy export` subprocesses, all started at once: the reduced AFFNet-ET at 64 px for the stages up
to torch.export, a small FFT model saved as .pt2 (which reaches the lowering stages in a fraction of the
time) for the lowering stages. Each is signalled when its plain progress line (printed outside a terminal)
announces the stage, so the timing does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from bad_input_helpers import assert_one_clear_line, error_lines, snapshot
from reduced_affnet import CLI, SHARED_MODEL
from torch import nn

STEP_TIMEOUT_S = 600.0

PT2 = "{pt2}"  # stands for the small FFT model's .pt2 file in export arguments
# (id, signal, the progress line that triggers it, export arguments, whether a temporary exists by then)
STAGES = [
    ("sigterm-building", signal.SIGTERM, f"building {SHARED_MODEL}", ("--model", SHARED_MODEL, "--target", "onnx"), False),
    ("sigint-torch-export", signal.SIGINT, "torch.export", ("--model", SHARED_MODEL, "--target", "onnx"), False),
    ("sigterm-onnx-lowering", signal.SIGTERM, "onnx: lowering",
     ("--model", PT2, "--target", "onnx", "--fft", "native"), True),
    ("sigterm-coreml-lowering", signal.SIGTERM, "coreml: lowering", ("--model", PT2, "--target", "coreml"), True),
    ("sigkill-onnx-lowering", signal.SIGKILL, "onnx: lowering",
     ("--model", PT2, "--target", "onnx", "--fft", "native"), True),
]


class SpectralGain(nn.Module):
    """A learnt gain on rfft2: the FFT pass's whole path (FFT, complex product, inverse) in a few graph nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.randn(4, 16, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft2(torch.fft.rfft2(x) * self.gain, s=(16, 16))


def small_fft_pt2(folder: Path) -> Path:
    path = folder / "spectral_gain.pt2"
    torch.manual_seed(0)
    torch.export.save(torch.export.export(SpectralGain().eval(), (torch.randn(1, 4, 16, 16),)), str(path))
    return path


def seeded(folder: Path) -> Path:
    out = folder / "models"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"schema": "affdeploy.manifest/v1", "artifacts": []}) + "\n")
    (out / "notes.txt").write_text("mine\n")
    return out


def temporaries(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(".affdeploy-tmp-")]


def start_export(out: Path, *args: str) -> subprocess.Popen[str]:
    size = ("--image-size", "64") if SHARED_MODEL in args else ()  # a user model (.pt2) takes no image size
    command = [*CLI, "export", *size, "--out", str(out), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


@dataclass
class Run:
    """One export subprocess that gets ``signum`` as soon as its progress line announces ``step``."""

    out: Path
    signum: signal.Signals
    step: str
    proc: subprocess.Popen[str]
    before: dict[str, str]
    stderr: list[str] = field(default_factory=list)
    temporaries_at_signal: list[str] = field(default_factory=list)
    signalled: bool = False

    def watch(self) -> None:
        """Reader thread: signal at the step, then keep reading until the process closes stderr."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if not self.signalled and self.step in line:
                self.temporaries_at_signal = temporaries(self.out)
                self.proc.send_signal(self.signum)
                self.signalled = True

    def finish(self) -> str:
        self.proc.wait(timeout=STEP_TIMEOUT_S)
        return "".join(self.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every stage's export started at once (they overlap on the cores instead of queueing)."""
    started: dict[str, Run] = {}
    threads = []
    pt2 = str(small_fft_pt2(tmp_path_factory.mktemp("pt2")))
    for name, signum, step, args, _writes in STAGES:
        out = seeded(tmp_path_factory.mktemp(name))
        before = snapshot(out)
        started[name] = Run(out, signum, step, start_export(out, *(pt2 if a == PT2 else a for a in args)), before)
        threads.append(threading.Thread(target=started[name].watch, daemon=True))
        threads[-1].start()
    yield started
    for run in started.values():
        if run.proc.poll() is None:
            run.proc.kill()


@pytest.mark.parametrize(("name", "signum", "writes_first"), [(s[0], s[1], s[4]) for s in STAGES[:-1]],
                         ids=[s[0] for s in STAGES[:-1]])
def test_signal_mid_export_removes_what_the_run_created(runs: dict[str, Run], name: str, signum: signal.Signals,
                                                        writes_first: bool) -> None:
    run = runs[name]
    stderr = run.finish()
    assert run.signalled, stderr
    if writes_first:  # the artifact's temporary existed when the signal came: it must be gone
        assert run.temporaries_at_signal, stderr
    assert run.proc.returncode == 128 + signum, stderr
    assert_one_clear_line(stderr, f"interrupted by {signum.name}")
    assert snapshot(run.out) == run.before


def test_a_killed_runs_leftovers_are_swept_by_the_next_run(runs: dict[str, Run], tmp_path: Path) -> None:
    run = runs["sigkill-onnx-lowering"]
    run.finish()
    assert run.signalled and temporaries(run.out)  # SIGKILL: no handler ran, the temporary stayed
    # The next run (here one that fails fast on its checkpoint) sweeps the dead run's temporary on start.
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    retry = start_export(run.out, "--model", SHARED_MODEL, "--target", "onnx", "--weights", str(bad))
    _, stderr = retry.communicate(timeout=STEP_TIMEOUT_S)
    assert retry.returncode == 1
    assert_one_clear_line(stderr, "bad.pt is not a readable torch checkpoint")
    assert snapshot(run.out) == run.before


def test_a_live_runs_temporary_is_not_swept(tmp_path: Path) -> None:
    from affdeploy.fsutil import TMP_MARKER, ensure_writable_dir

    live = tmp_path / f"{TMP_MARKER}{os.getppid()}-model.onnx.abc123"
    dead = tmp_path / f"{TMP_MARKER}999999999-model.onnx.def456"
    for folder in (live, dead):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    ensure_writable_dir(tmp_path)
    assert live.exists() and not dead.exists()


WRITER = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from pathlib import Path
    from affdeploy.export.manifest import read_manifest, upsert_entries
    folder, template, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    (entry,) = [e for e in read_manifest(template) if e.path.endswith(".pte")]
    for i in range(25):
        upsert_entries(folder, [replace(entry, path=f"{tag}-{i}.pte")])
""")


def test_two_runs_writing_one_manifest_keep_every_entry(affnet_et_64_models: Path, tmp_path: Path) -> None:
    """Two exports into one folder: each manifest update holds the folder's lock, so none is lost."""
    out = tmp_path / "shared"
    out.mkdir()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(affnet_et_64_models), tag],
                                stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for writer in writers:
        _, stderr = writer.communicate(timeout=180)
        assert writer.returncode == 0, stderr
        assert not error_lines(stderr), stderr
    paths = sorted(e["path"] for e in json.loads((out / "manifest.json").read_text())["artifacts"])
    assert paths == sorted(f"{tag}-{i}.pte" for tag in ("a", "b") for i in range(25))
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


# --- closed or broken standard streams, a Ctrl-C while modules load ---------------------------------------

AFFDEPLOY = (sys.executable, "-m", "affdeploy")


def _shell(command: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """``affdeploy`` under sh, so that the redirections close descriptors for real (DEVNULL is an open file)."""
    line = " ".join(AFFDEPLOY) + " " + command
    return subprocess.Popen(["sh", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def test_output_that_cannot_be_written_fails() -> None:
    """Closed stdout or a reader gone: exit 1 and one line, never a silent 0 (nor Python's exit 120 at flush)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    gone = subprocess.Popen([*AFFDEPLOY, "info", "--help"], stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    closed_stdout = _shell("info --help >&-")
    closed_stderr = _shell("info -m resnet50 2>&-")
    _, err = gone.communicate(timeout=60)
    assert gone.returncode == 1, err
    assert_one_clear_line(err, "cannot write the output to stdout: Broken pipe")
    _, err = closed_stdout.communicate(timeout=60)
    assert closed_stdout.returncode == 1, err
    assert_one_clear_line(err, "cannot write the output to stdout: it is closed")
    out, err = closed_stderr.communicate(timeout=60)
    assert (closed_stderr.returncode, out, err) == (2, "", "")  # a usage error keeps its code with nowhere to say it


SLOW_IMPORT = "import pathlib\npathlib.Path('importing').touch()\nimport time\ntime.sleep(30)\n\ndef make():\n    pass\n"


def _torch_loading(pid: int, folder: Path) -> bool:
    """torch's shared libraries are mapped: the CLI is importing its modules."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def _user_module_importing(pid: int, folder: Path) -> bool:
    """The user's module has started its slow import (it says so with a file)."""
    return (folder / "importing").exists()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads which libraries a process has loaded in /proc")
def test_ctrl_c_while_modules_load_is_an_interrupted_run(tmp_path: Path) -> None:
    """SIGINT while torch loads at start-up or the user's module is imported: exit 130, one line.

    Each run is signalled when it is seen to reach its moment, not after a fixed delay, which a loaded machine
    stretched past the moment (or, at start-up, short of the point where Python can catch a signal at all).
    """
    runs = {}
    for moment in (_torch_loading, _user_module_importing):
        folder = tmp_path / moment.__name__
        folder.mkdir()
        (folder / "slow_import.py").write_text(SLOW_IMPORT)
        run = subprocess.Popen([*AFFDEPLOY, "info", "-m", "slow_import:make"], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        runs[moment] = (run, folder)
    waiting = dict(runs)
    deadline = time.monotonic() + 120
    while waiting:
        for moment, (run, folder) in list(waiting.items()):
            assert run.poll() is None, (moment.__name__, run.communicate())
            if moment(run.pid, folder):
                run.send_signal(signal.SIGINT)
                del waiting[moment]
        assert time.monotonic() < deadline, [moment.__name__ for moment in waiting]
        time.sleep(0.005)
    for moment, (run, _) in runs.items():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 130, (moment.__name__, err)
        assert out == ""
        assert_one_clear_line(err, "interrupted")
