"""Idle OpenMP threads sleep in every process that times runtimes side by side: the one setting.

torch's OpenMP pool spin-waits after each parallel region by default (libgomp: 300000 spins); in
interleaved rounds those spinning threads take the cores from whatever is timed next, so eager
PyTorch at 2 threads steals from the ExecuTorch or ONNX Runtime call after it (ONNX Runtime's own
pool is told the same in ``export.onnx.session_options``). OpenMP reads ``OMP_WAIT_POLICY`` once,
when torch loads it, so this runs before torch is imported: first thing in the ``affdeploy``
console entry point and in benchmarks/bench_runtimes.py. This module must not import torch.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"


def sleep_idle_openmp_threads() -> bool:
    """Ask OpenMP for sleeping idle threads unless the user chose a policy; True when it was set here.

    Once torch is loaded the variable is read already: setting it then would only make the
    environment lie about the running pool, so it is left alone.
    """
    if "torch" in sys.modules or WAIT_POLICY_ENV in os.environ:
        return False
    os.environ[WAIT_POLICY_ENV] = PASSIVE
    return True


def openmp_wait_policy() -> str:
    """The policy this process's OpenMP pool was asked for ("default": libgomp spins, then sleeps)."""
    return os.environ.get(WAIT_POLICY_ENV, "default")
