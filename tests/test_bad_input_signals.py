"""Bad-input suite, part 2: signals at several stages of a real export, a SIGKILLed run, two writers at once.

Real `affdeploy export` subprocesses at 64 px; each is signalled when its plain progress line (printed
outside a terminal) announces the stage, so the timing does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bad_input_helpers import assert_one_clear_line, error_lines, snapshot

STEP_TIMEOUT_S = 240.0


def start_export(out: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "affdeploy", "export", "--model", "affnet-et", "--image-size", "64",
               "--out", str(out), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_step(proc: subprocess.Popen[str], step: str) -> list[str]:
    """Read stderr until the progress line of ``step`` appears; return the lines read."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            pytest.fail(f"export ended before '{step}': {''.join(lines)}")
        lines.append(line)
        if step in line:
            return lines
    proc.kill()
    pytest.fail(f"no '{step}' within {STEP_TIMEOUT_S} s: {''.join(lines)}")


def seeded(tmp_path: Path) -> Path:
    out = tmp_path / "models"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"schema": "affdeploy.manifest/v1", "artifacts": []}) + "\n")
    (out / "notes.txt").write_text("mine\n")
    return out


def temporaries(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(".affdeploy-tmp-")]


@pytest.mark.parametrize(
    ("signum", "step", "args", "writes_first"),
    [
        (signal.SIGTERM, "building affnet-et", ("--target", "onnx"), False),
        (signal.SIGINT, "torch.export", ("--target", "onnx"), False),
        (signal.SIGTERM, "onnx: lowering", ("--target", "onnx", "--fft", "native"), True),
        (signal.SIGTERM, "coreml: lowering", ("--target", "coreml"), True),
    ],
    ids=["sigterm-building", "sigint-torch-export", "sigterm-onnx-lowering", "sigterm-coreml-lowering"],
)
def test_signal_mid_export_removes_what_the_run_created(tmp_path: Path, signum: signal.Signals, step: str,
                                                        args: tuple[str, ...], writes_first: bool) -> None:
    out = seeded(tmp_path)
    before = snapshot(out)
    proc = start_export(out, *args)
    seen = wait_for_step(proc, step)
    if writes_first:  # the artifact's temporary exists: the signal must remove it
        assert temporaries(out), seen
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    assert_one_clear_line("".join(seen) + stderr, f"interrupted by {signum.name}")
    assert snapshot(out) == before


def test_a_killed_runs_leftovers_are_swept_by_the_next_run(tmp_path: Path) -> None:
    out = seeded(tmp_path)
    before = snapshot(out)
    proc = start_export(out, "--target", "onnx", "--fft", "native")
    wait_for_step(proc, "onnx: lowering")
    proc.kill()  # SIGKILL: no handler runs, the temporary stays
    proc.wait(timeout=60)
    assert temporaries(out)
    # The next run (here one that fails fast on its checkpoint) sweeps the dead run's temporary on start.
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    retry = start_export(out, "--target", "onnx", "--weights", str(bad))
    _, stderr = retry.communicate(timeout=240)
    assert retry.returncode == 1
    assert_one_clear_line(stderr, "bad.pt is not a readable torch checkpoint")
    assert snapshot(out) == before


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
