"""Shared pytest fixtures. Each helper area keeps its fixtures in its own clearly marked section."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

# ======================================================================================
# system tools the tests need (owner: export/bench; used by the adb, JDK and usbmuxd tests)
# ======================================================================================
APT_HINT = "CI installs it in .ci/run; Debian/Ubuntu: sudo apt-get install adb default-jdk-headless junit4 libhamcrest-java usbmuxd"


def missing(what: str, hint: str = APT_HINT) -> NoReturn:
    """A test's system prerequisite is absent: a skip with the reason here, a failure when CI=true."""
    reason = f"{what} ({hint})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_tool(name: str, hint: str = APT_HINT) -> str:
    """Path of the program ``name`` on PATH, or :func:`missing`."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed", hint)
    return path


# ---------------------------------------------------------------- end of system tools


# ======================================================================================
# loopback adb device (owner: tests/loopback_adb; API documented in loopback_adb/__init__.py)
# ======================================================================================
from loopback_adb.device import LoopbackDevice, kill_adb_server, make_adb_env, start_adb_server


@pytest.fixture
def adb_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for a private adb server (own port), started now and killed after the test."""
    require_tool("adb", "Debian/Ubuntu: apt-get install adb")
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
# exported AFFNet-ET artifacts (owner: export/bench; shared by export, bench, Android and iOS tests)
# ======================================================================================
SHARED_TARGETS = "onnx,coreml,executorch"  # the core targets (tflite is an optional extra)


@pytest.fixture(scope="session")
def affnet_et_64_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """ONE `affdeploy export --model affnet-et --target onnx,coreml,executorch --image-size 64 --ort` per session.

    Returns the models folder (artifacts + manifest.json) and the entries the CLI printed with --json.
    Tests that only need an artifact use this instead of exporting their own; keep 256 px exports for
    tests that are about 256 px.
    """
    import json

    from cli_helpers import run_cli

    folder = tmp_path_factory.mktemp("affnet-et-64-models")
    code, out, err = run_cli("export", "--model", "affnet-et", "--target", SHARED_TARGETS, "--image-size", "64", "--ort",
                             "--out", str(folder), "--json")
    assert code == 0, err
    return folder, json.loads(out)


@pytest.fixture(scope="session")
def affnet_et_64_models(affnet_et_64_export: tuple[Path, list[dict[str, Any]]]) -> Path:
    """A models dir holding affnet-et at 64x64 for every target (fft auto), as `affdeploy export` wrote it.

    `affdeploy bench --model affnet-et --image-size 64 --models-dir <this>` finds these artifacts in
    its manifest.json and exports nothing.
    """
    return affnet_et_64_export[0]


# ---------------------------------------------------------------- end of exported AFFNet-ET artifacts


# ======================================================================================
# LiteRT (TFLite) artifacts (owner: export/tflite; used by tests/test_tflite*.py)
# ======================================================================================
@pytest.fixture(scope="session")
def tflite_ready() -> None:
    """The LiteRT packages (requirements-tflite.txt) are installed, else :func:`missing`."""
    from affdeploy.export.registry import all_targets

    (target,) = [t for t in all_targets() if t.name == "tflite"]
    reason = target.unavailable()
    if reason:
        missing(f"the LiteRT target is {reason}", hint="pip install -r requirements-tflite.txt")


@pytest.fixture(scope="session")
def affnet_et_64_tflite(tflite_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONE `affdeploy export --model affnet-et --target tflite --image-size 64` per session (its own folder)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from affdeploy.cli import main

    folder = tmp_path_factory.mktemp("affnet-et-64-tflite")
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", "affnet-et", "--target", "tflite", "--image-size", "64", "--out", str(folder)])
    assert exit_info.value.code in (0, None), err.getvalue()
    (path,) = folder.glob("*.tflite")
    return path


@pytest.fixture(scope="session")
def affnet_et_64_every_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                              affnet_et_64_models: Path) -> Path:
    """A copy of ``affnet_et_64_models`` plus the .tflite and its manifest entry when the LiteRT packages are
    installed: what `bench --target all` covers, found exported (the shared folder itself stays as it is)."""
    from affdeploy.export.manifest import read_manifest, upsert_entries
    from affdeploy.export.registry import target_names

    folder = tmp_path_factory.mktemp("affnet-et-64-every-target") / "models"
    shutil.copytree(affnet_et_64_models, folder)
    if "tflite" in target_names():
        tflite = request.getfixturevalue("affnet_et_64_tflite")
        shutil.copy2(tflite, folder / tflite.name)
        upsert_entries(folder, read_manifest(tflite.parent))
    return folder


# ---------------------------------------------------------------- end of LiteRT (TFLite) artifacts
