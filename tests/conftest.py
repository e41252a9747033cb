"""Shared pytest fixtures. Each helper area keeps its fixtures in its own clearly marked section."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# ======================================================================================
# loopback adb device (owner: tests/loopback_adb; API documented in loopback_adb/__init__.py)
# ======================================================================================
from loopback_adb.device import LoopbackDevice, kill_adb_server, make_adb_env, start_adb_server


@pytest.fixture
def adb_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for a private adb server (own port), started now and killed after the test."""
    if shutil.which("adb") is None:
        pytest.fail("the adb client is required (Debian/Ubuntu: apt-get install adb)")
    env = make_adb_env(tmp_path_factory.mktemp("adb-home"))
    start_adb_server(env)
    try:
        yield env
    finally:
        kill_adb_server(env)


@pytest.fixture
def loopback_device(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, adb_env: dict[str, str]
) -> Iterator[LoopbackDevice]:
    """A loopback phone, `adb connect`-ed through adb_env; indirect parametrization takes a DeviceConfig."""
    device = LoopbackDevice(tmp_path_factory.mktemp("phone"), getattr(request, "param", None))
    device.start()
    try:
        device.attach(adb_env)
        yield device
    finally:
        try:
            device.detach()
        finally:
            device.kill()


# ---------------------------------------------------------------- end of loopback adb device


# ======================================================================================
# exported AFFNet-ET artifacts (owner: Android device flow, tests/test_android.py)
# ======================================================================================
@pytest.fixture(scope="session")
def affnet_et_64_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir whose export cache holds affnet-et at 64x64 for onnx and executorch (fft auto, fp32).

    The cache keys are those `affdeploy bench --model affnet-et --image-size 64 --models-dir <this>`
    computes, so every test passing this folder as --models-dir reuses one export per session.
    """
    from affdeploy.bench.artifacts import ensure_artifact

    folder = tmp_path_factory.mktemp("affnet-et-64-models")
    for target in ("executorch", "onnx"):
        ensure_artifact("affnet-et", target, fft="auto", image_size=64, precision="fp32", models_dir=folder)
    return folder


# ---------------------------------------------------------------- end of exported AFFNet-ET artifacts
