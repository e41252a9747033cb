"""Options every command shares are parsed one way: floats through ``finite``, target lists
through ``target_list``/``split_names``. Read from the real click commands typer builds."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from cli_helpers import cli

from affdeploy.cli import app
from affdeploy.cli._common import finite

COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _options(annotation: Any) -> list[tuple[str, Any]]:
    """(command, option) for every option of every command whose Python annotation is ``annotation``."""
    return [(name, param) for name, command in COMMANDS.items() for param in command.params
            if isinstance(param, typer.core.TyperOption)
            and param.type_descriptor.annotation in (annotation, annotation | None)]


def test_every_float_option_refuses_nan_and_inf() -> None:
    options = _options(float)
    assert {name for name, _ in options} >= {"bench", "compare"}
    for name, option in options:
        callback = getattr(option.callback, "__wrapped__", option.callback)  # typer wraps it
        assert callback is finite, f"{name} {option.opts[0]} takes floats without the finite callback"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_compare_threshold_is_finite(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "compare", "a.json", "b.json", "--threshold", value)
    assert code == 2 and "not a finite number" in err and err.count("\n") == 1, err


def test_target_options_are_repeatable_in_every_command_that_has_one() -> None:
    targets = [(name, param) for name, param in _options(list[str]) if "--target" in param.opts]
    assert {name for name, _ in targets} >= {"export", "bench", "eval"}
    for name, command in COMMANDS.items():
        for param in command.params:
            if "--target" in param.opts and name != "info":  # info costs forms for one runtime: one value
                assert param.multiple, f"{name} --target is not repeatable"
