"""`affdeploy info` and the CLI's error contract, run in-process."""

from __future__ import annotations

import json
import logging
import runpy
import sys
from typing import NamedTuple

import pytest
from cli_helpers import run_cli

from affdeploy.models import MODELS
from affdeploy.models.profile import model_macs


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run(*args: str) -> Run:
    return Run(*run_cli(*args))


def test_info_prints_the_parameter_count(affnet_et_1aff: str) -> None:
    # every AFFNet's table is made alike: the cheapest one (one AFF block, 64 px, no FFT pass) shows it
    proc = run("info", "--model", affnet_et_1aff, "--image-size", "64", "--no-fft-pass")
    assert proc.returncode == 0, proc.stderr
    assert f"{MODELS[affnet_et_1aff].params:,}" in proc.stdout


def test_info_json_reports_macs_input_and_fft_ops(affnet_et_1block: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="affdeploy")
    proc = run("--verbose", "info", "--model", affnet_et_1block, "--image-size", "64", "--json")  # the debug log too
    assert proc.returncode == 0, proc.stderr
    lowered = [r.getMessage() for r in caplog.records if r.name == "affdeploy.fft.lower"]
    assert len(lowered) == 6 and all(" MACs, " in m and "affnet.py" in m for m in lowered)
    data = json.loads(proc.stdout)
    assert data["params"] == MODELS[affnet_et_1block].params
    assert data["input"]["shape"] == [1, 3, 64, 64]
    assert data["input"]["mean"] == [0.0, 0.0, 0.0] and data["input"]["color_order"] == "RGB"
    assert data["macs"] == model_macs(affnet_et_1block, 64)  # the count bench records use (paper scale: below)
    assert 0 < data["fft_macs"] < data["macs"]
    # one AFF block in each of the 3 stages, each one rfft2 and one irfft2
    assert data["graph"]["fft_ops"] == 6 and data["graph"]["complex_values"] > 0
    after = data["graph_after_fft_pass"]
    assert after["fft_ops"] == 0 and after["complex_values"] == 0
    assert after["dft_matmuls"] == 6  # one matmul per 2-D transform (8x8, 4x4, 2x2 are Kronecker stages)
    assert after["dft_matrices"] == 6  # one r2c and one c2r per image size
    # AFFNet's maps are short: every transform stays the dense (Kronecker) form it was tuned with
    assert {axis["form"] for t in data["fft_transforms"] for axis in t["axes"]} == {"dense"}
    assert after["constant_bytes"] == sum(t["constant_bytes"] for t in data["fft_transforms"]) > 0


def test_macs_at_256_match_the_paper_scale() -> None:
    """The MAC count `info` reports (asserted above) for AFFNet-T at 256."""
    assert 0.7e9 < model_macs("affnet-t", 256) < 0.9e9  # ~0.79 G MACs (REFERENCE §1)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["info", "--model", "affnet-xl"], 2, "unknown model 'affnet-xl'"),
        (["info", "--model", "affnet", "--image-size", "100"], 2, "multiple of 32"),
        (["info", "--bogus"], 2, "No such option"),
        (["info"], 2, "Missing option"),
        (["no-such-command"], 2, "No such command"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args: list[str], code: int, needle: str) -> None:
    proc = run(*args)
    assert proc.returncode == code
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_version_through_the_module_entry_point(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m affdeploy --version` (the module's __main__, run in this process)."""
    monkeypatch.setattr(sys, "argv", ["affdeploy", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("affdeploy", run_name="__main__", alter_sys=True)
    assert exit_info.value.code in (0, None)
    assert capsys.readouterr().out.startswith("affdeploy ")
