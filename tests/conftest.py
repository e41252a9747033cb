"""Shared pytest fixtures. Each helper area keeps its fixtures in its own clearly marked section."""

from __future__ import annotations

import os
import random
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from affdeploy.bench.openmp import sleep_idle_openmp_threads

# ======================================================================================
# thread pools (owner: coordinator). Read by torch's OpenMP when it loads, so set before any test module
# imports torch; xdist workers and the processes tests start inherit them.
# ======================================================================================
# Two xdist workers (and the background export) share two cores: a second intra-op thread per process
# only contends with the other worker. Tests that are about threads set them explicitly.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sleep_idle_openmp_threads()  # a spinning pool takes the core the other worker is waiting for


# ======================================================================================
# random numbers (owner: coordinator)
# ======================================================================================
def _seed(name: str) -> None:
    import numpy as np  # here, not at the top: OMP_NUM_THREADS above must be set before OpenBLAS and torch load
    import torch

    seed = zlib.crc32(name.encode())
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)


@pytest.fixture(scope="module", autouse=True)
def _seeded_module(request: pytest.FixtureRequest) -> None:
    """Module fixtures draw the same numbers whichever file ran before on their worker."""
    _seed(request.module.__name__)


@pytest.fixture(autouse=True)
def _seeded(request: pytest.FixtureRequest) -> None:
    """Every test draws the same random numbers on every run, whatever ran before it on its worker:
    a tolerance that a rare draw exceeds fails here every time, not once in a while in CI."""
    _seed(request.node.nodeid)


# ======================================================================================
# system tools the tests need (owner: export/bench; used by the adb, JDK and usbmuxd tests)
# ======================================================================================
APT_HINT = ("CI installs it in .ci/run; Debian/Ubuntu: "
            "sudo apt-get install adb default-jdk-headless junit4 libhamcrest-java usbmuxd")


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
# exported reduced AFFNet-ET artifacts (owner: export/bench; shared by export, bench, Android and iOS tests)
# made once per run in the background: tests/background_exports.py
# ======================================================================================
import background_exports
import reduced_affnet
from background_exports import SharedExport

# AFFNet-ET with one AFF block per stage: every op, convolution kind and stage shape of AFFNet-ET in half
# its graph nodes (ExecuTorch's lowering time grows with them). The shared exports' subprocesses run
# reduced_affnet's CLI, which knows it; the modules that read them have it registered while they run.
SHARED_MODEL = reduced_affnet.SHARED_MODEL
SHARED_TARGETS = "onnx,coreml,executorch"  # the core targets (tflite is an optional extra)
SHARED_EXPORTS = (
    SharedExport("affnet_et_64_export",
                 ("--model", SHARED_MODEL, "--target", SHARED_TARGETS, "--image-size", "64", "--ort")),
    SharedExport("affnet_et_64_tflite", ("--model", SHARED_MODEL, "--target", "tflite", "--image-size", "64")),
    # the long-sequence zoo models (tests/fft_zoo.py LONG) side by side, to ONNX and ExecuTorch (every target:
    # benchmarks/bench_fft_long.py, whose committed result the staleness test keeps current)
    SharedExport("fft_long_export", ("--model", "fft_zoo:long_models", "--target", "onnx,executorch")),
)
_SHARED_ROOT = pytest.StashKey[Path]()
_READERS = pytest.StashKey[set[str]]()  # the modules that read a shared export
# pytest's fixture closure already holds the fixtures a test needs through others, except those taken with
# request.getfixturevalue: the LiteRT export, which affnet_et_64_every_target takes only when LiteRT is installed
_TAKEN_AT_RUN_TIME = {"affnet_et_64_every_target": "affnet_et_64_tflite"}


def _exports_needed(item: pytest.Item) -> set[str]:
    closure = set(getattr(item, "fixturenames", ()))
    closure |= {_TAKEN_AT_RUN_TIME[f] for f in closure & _TAKEN_AT_RUN_TIME.keys()}
    return {export.fixture for export in SHARED_EXPORTS if export.fixture in closure}


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or the only process): xdist workers inherit the path
        config.stash[_SHARED_ROOT] = background_exports.create_root()


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_SHARED_ROOT, None)
    if root is not None:
        background_exports.stop_and_remove(root)


# The test modules with the most CPU time, heaviest first (measured with the README's test command on an
# idle 2-core machine). xdist (--no-loadscope-reorder, pyproject.toml) hands the next module to the first
# free worker in this order, so the long ones start early and the two workers finish together.
HEAVIEST_FIRST = ("test_precision", "test_fft_zoo", "test_passes", "test_bad_input_signals", "test_bench",
                  "test_fft_models", "test_fft_pass", "test_tflite_zoo", "test_user_models_android", "test_quantize",
                  "test_user_models", "test_coreml_reference_models", "test_export", "test_android",
                  "test_app_user_models", "test_cli_info")


def _module_order(module: str, readers: set[str]) -> tuple[bool, int]:
    rank = HEAVIEST_FIRST.index(module) if module in HEAVIEST_FIRST else len(HEAVIEST_FIRST)
    return module in readers, rank


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the shared exports the selected tests need; run the modules that need none first, heaviest first.

    Modules stay whole (their module-scoped fixtures are built once); the sort is stable and the
    same in every xdist worker.
    """
    needs = {item: _exports_needed(item) for item in items}
    needed = set().union(*needs.values())
    if needed:
        background_exports.start([export for export in SHARED_EXPORTS if export.fixture in needed])
    waits = {item.module.__name__ for item, names in needs.items() if names and getattr(item, "module", None)}
    config.stash[_READERS] = waits
    items.sort(key=lambda item: _module_order(getattr(getattr(item, "module", None), "__name__", ""), waits))


@pytest.fixture(scope="module", autouse=True)
def _shared_model_registered(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module that reads the shared exports passes SHARED_MODEL by name: registered while it runs."""
    if request.module.__name__ not in request.config.stash.get(_READERS, set()):
        yield
        return
    with reduced_affnet.registered(reduced_affnet.SHARED_CONFIG):
        yield


def _shared(fixture: str) -> tuple[Path, list[dict[str, Any]]]:
    (export,) = [e for e in SHARED_EXPORTS if e.fixture == fixture]
    return background_exports.wait(export)


@pytest.fixture(scope="session")
def affnet_et_64_export() -> tuple[Path, list[dict[str, Any]]]:
    """ONE `affdeploy export --model affnet-et-1block --target onnx,coreml,executorch --image-size 64 --ort` per run.

    Returns the models folder (artifacts + manifest.json) and the entries the CLI printed with --json.
    Tests that only need an artifact use this instead of exporting their own; keep 256 px exports for
    tests that are about 256 px. Do not write into the folder: copy it (other workers read it too).
    """
    return _shared("affnet_et_64_export")


@pytest.fixture(scope="session")
def affnet_et_64_models(affnet_et_64_export: tuple[Path, list[dict[str, Any]]]) -> Path:
    """A models dir holding SHARED_MODEL at 64x64 for every target (fft auto), as `affdeploy export` wrote it.

    `affdeploy bench --model affnet-et-1block --image-size 64 --models-dir <this>` finds these artifacts in
    its manifest.json and exports nothing.
    """
    return affnet_et_64_export[0]


@pytest.fixture(scope="module")
def affnet_et_1block() -> Iterator[str]:
    """The shared exports' model (AFFNet-ET with one AFF block per stage), registered for the requesting module.

    For CLI tests that need every AFF stage (info's FFT counts per stage size): the model registry maps
    the name to the reduced config as it does for the paper's variants.
    """
    from reduced_affnet import SHARED_CONFIG, registered

    with registered(SHARED_CONFIG) as name:
        yield name


@pytest.fixture(scope="module")
def affnet_et_1aff() -> Iterator[str]:
    """AFFNet-ET with one AFF block in all (reduced_affnet's one_aff_block), registered as affnet_et_1block is.

    For CLI tests of a path every AFFNet takes alike (int8, fp16, --weights, info's table): every op
    kind, and the fewest nodes to lower.
    """
    from reduced_affnet import one_aff_block, registered

    with registered(one_aff_block("affnet-et")) as name:
        yield name


def trained_like_checkpoint(folder: Path, model: str, image_size: int) -> Path:
    """A checkpoint of ``model`` with trained-like weights (benchmarks/trained_like.py: normalised activations,
    smooth kernels, confident logits on photographs), saved as an official file is: a ``state_dict`` with
    ``module.`` prefixes. The seeded init's flat logits never put a reduced-precision gate to the test."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from trained_like import save_checkpoint, trained_like

    return save_checkpoint(trained_like(model, image_size), folder / f"{model}-trained-like.pt", wrapped=True)


@pytest.fixture(scope="session")
def fft_long_export() -> tuple[Path, list[dict[str, Any]]]:
    """ONE `affdeploy export --model fft_zoo:long_models --target all` per run (tests/test_fft_long.py)."""
    return _shared("fft_long_export")


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
def affnet_et_64_tflite(tflite_ready: None) -> Path:
    """ONE `affdeploy export --model affnet-et-1block --target tflite --image-size 64` per run (its own folder)."""
    folder, _ = _shared("affnet_et_64_tflite")
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
