"""Running the real CLI in the test process (imports are paid once per session)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from affdeploy.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``affdeploy ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def run_cli(*args: str) -> tuple[int, str, str]:
    """The same without capsys, for session- and module-scoped fixtures: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0), out.getvalue(), err.getvalue()
