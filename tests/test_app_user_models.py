"""User models in the apps: `android-assets` / `ios-assets` take a .pt2 file or a factory, and the apps run it in tensor
mode.

One tiny two-input, two-output FFT model (tests/fft_zoo.py "multi-input", 2x15 floats) is saved with
torch.export.save and exported once to ExecuTorch. The asset commands write its FILE.model.json; the
app's plain-Java core parses it and generates the very inputs affdeploy's bench_input makes; bad user
models (dynamic dim, int input, not exported) are one line; and ``affdeploy bench --device`` through
the app route pushes the metadata next to the .pte, where the loopback phone's "app" (a handler that
reads the metadata like the app, generates its inputs and really runs the .pte) benchmarks it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import cli, run_cli
from fft_zoo import build
from loopback_adb.device import LoopbackDevice
from test_android import app_installed, on_phone  # noqa: F401  (fixtures: the loopback phone with the app installed)
from test_android_app import ANDROID, _java, classpath  # noqa: F401  (classpath: the compiled benchcore fixture)
from test_ios import UDID, _app_dir, _calls, fake_xcode  # noqa: F401  (fake_xcode: xcrun/xcodebuild stand-ins)
from test_ios_assets import app  # noqa: F401  (fixture: an iOS app folder)

from affdeploy.bench.appmodel import APP_CATALOG_SCHEMA, APP_MODEL_SCHEMA, bench_input
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import load_results
from affdeploy.devices import ios
from affdeploy.export.manifest import read_manifest, write_manifest

INPUTS = [{"name": "a", "shape": [2, 15], "dtype": "float32"}, {"name": "b", "shape": [2, 15], "dtype": "float32"}]


@pytest.fixture(scope="module")
def user_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the .pt2 file, the models folder with its ExecuTorch export and manifest)."""
    model, args, _ = build("multi-input")
    folder = tmp_path_factory.mktemp("user_app")
    pt2 = folder / "cross_spectrum.pt2"
    torch.export.save(torch.export.export(model, args), str(pt2))
    out = folder / "models"
    code, _, err = run_cli("export", "--model", str(pt2), "--target", "executorch", "--out", str(out))
    assert code == 0, err
    return pt2, out


@pytest.fixture
def android_app_dir(tmp_path: Path) -> Path:
    app = tmp_path / "android_app"
    (app / "app" / "src" / "main").mkdir(parents=True)
    shutil.copy(ANDROID / "app" / "src" / "main" / "AndroidManifest.xml", app / "app" / "src" / "main")
    return app


def _check_meta(meta: dict, pt2: Path, pte: Path) -> None:
    """What both apps read for the user model: identity, inputs with their generated data's sums, outputs."""
    assert meta["schema"] == APP_MODEL_SCHEMA and meta["mode"] == "tensor" and meta["image"] is None
    assert (meta["model"], meta["id"], meta["file"]) == (str(pt2.resolve()), "cross_spectrum", pte.name)
    assert meta["source_sha256"] == hashlib.sha256(pt2.read_bytes()).hexdigest()
    assert meta["sha256"] == hashlib.sha256(pte.read_bytes()).hexdigest() and meta["macs"] is None
    assert [{k: i[k] for k in ("name", "shape", "dtype")} for i in meta["inputs"]] == INPUTS
    assert [i["seed"] for i in meta["inputs"]] == [0, 1]
    assert [i["sum"] for i in meta["inputs"]] == [float(bench_input(i["shape"], i["seed"]).sum(dtype=np.float64))
                                                  for i in meta["inputs"]]
    assert [(o["shape"], o["dtype"]) for o in meta["outputs"]] == [([2, 15], "float32"), ([2, 8], "float32")]


def test_android_assets_bundle_a_user_model_the_java_core_reads(
    user_export: tuple[Path, Path], android_app_dir: Path, classpath: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    pt2, models = user_export
    code, out, err = cli(capsys, "android-assets", "--models-dir", str(models), "--app", str(android_app_dir),
                         "--model", str(pt2), "--json")
    assert code == 0, err
    (bundled,) = json.loads(out)["models"]
    assets = Path(json.loads(out)["assets_dir"])
    pte = models / bundled["file"]
    assert (bundled["mode"], bundled["meta"]) == ("tensor", f"{pte.name}.model.json")
    assert json.loads((assets / "manifest.json").read_text()) == {
        "schema": APP_CATALOG_SCHEMA, "labels": "imagenet_labels.txt", "models": [bundled["meta"]]}
    meta = json.loads((assets / bundled["meta"]).read_text())
    _check_meta(meta, pt2, pte)
    assert (assets / pte.name).read_bytes() == pte.read_bytes()

    # the Java core parses it and generates exactly affdeploy's benchmark inputs
    proc = _java(classpath, "org.affdeploy.bench.core.CrossCheck", "meta", str(assets / bundled["meta"]))
    assert proc.returncode == 0, proc.stderr
    parsed = json.loads(proc.stdout)
    assert (parsed["model"], parsed["id"], parsed["mode"]) == (meta["model"], "cross_spectrum", "tensor")
    for java, spec in zip(parsed["inputs"], meta["inputs"], strict=True):
        assert (java["name"], java["shape"]) == (spec["name"], spec["shape"])
        assert java["values"] == bench_input(spec["shape"], spec["seed"]).reshape(-1).tolist()  # bit for bit
    assert [(o["name"], o["shape"]) for o in parsed["outputs"]] == [(o["name"], o["shape"]) for o in meta["outputs"]]
    proc = _java(classpath, "org.affdeploy.bench.core.CrossCheck", "manifest", str(assets / "manifest.json"))
    assert proc.returncode == 0, proc.stderr
    assert [(m["file"], m["mode"]) for m in json.loads(proc.stdout)["models"]] == [(pte.name, "tensor")]


def test_ios_assets_bundle_a_user_model(user_export: tuple[Path, Path], app: Path,  # noqa: F811
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pt2, models = user_export
    code, out, err = cli(capsys, "ios-assets", "--models-dir", str(models), "--app", str(app),
                         "--model", str(pt2), "--json")
    assert code == 0, err
    (asset,) = json.loads(out)["assets"]
    assert (asset["target"], asset["mode"], asset["status"]) == ("executorch", "tensor", "copied")
    folder = app / "AFFBench" / "Models"
    catalog = json.loads((folder / "models.json").read_text())
    assert catalog == {"schema": APP_CATALOG_SCHEMA, "labels": "imagenet_labels.txt",
                       "models": [f"{asset['file']}.model.json"]}
    _check_meta(json.loads((folder / catalog["models"][0]).read_text()), pt2, models / asset["file"])


def test_iphone_bench_asks_the_app_for_the_user_model_by_id(
    user_export: tuple[Path, Path], fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`affdeploy bench --device iphone --model x.pt2` reaches the app's XCTest with the id its metadata carries."""
    pt2, models = user_export
    app_dir = _app_dir(tmp_path)
    code, _, err = cli(capsys, "ios-assets", "--models-dir", str(models), "--app", str(app_dir), "--model", str(pt2))
    assert code == 0, err
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(app_dir))
    monkeypatch.setenv("AFFDEPLOY_TEAM_ID", "ABCDE12345")
    ios.find_device(UDID).run(BenchRequest(models=[str(pt2), "affnet-t"], targets=["executorch"], iters=5))
    (build,) = [c for c in _calls(fake_xcode) if c["tool"] == "xcodebuild"]
    assert "--models cross_spectrum,affnet-t --targets executorch" in build["env"]["TEST_RUNNER_AFFDEPLOY_ARGS"]


def _bad_copy(models: Path, dest: Path, inputs: list[dict]) -> Path:
    """The export with its manifest entry's inputs replaced (a model the apps cannot feed)."""
    dest.mkdir()
    (entry,) = read_manifest(models)
    shutil.copy(entry.resolve(models), dest / Path(entry.path).name)
    entry.input = {**entry.input, "inputs": inputs}
    write_manifest(dest, [entry])
    return dest


@pytest.mark.parametrize(("case", "inputs", "code", "message"), [
    ("dynamic", [{"name": "a", "shape": ["s0", 15], "dtype": "float32"}], 2, "input 'a' has the dynamic dimension s0"),
    ("int", [{"name": "ids", "shape": [2, 15], "dtype": "int64"}], 2, "input 'ids' is int64; the apps feed float32"),
    ("not exported", INPUTS, 1, "fft_zoo:multi_input has no "),
])
@pytest.mark.parametrize("command", ["android-assets", "ios-assets"])
def test_bad_user_models_are_one_clear_line(
    user_export: tuple[Path, Path], android_app_dir: Path, app: Path, tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str], command: str, case: str, inputs: list[dict], code: int, message: str,
) -> None:
    pt2, models = user_export
    bad = _bad_copy(models, tmp_path / "bad", inputs)
    model = "fft_zoo:multi_input" if case == "not exported" else str(pt2)
    folder = android_app_dir if command == "android-assets" else app
    got, out, err = cli(capsys, command, "--models-dir", str(bad), "--app", str(folder), "--model", model)
    assert got == code, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err and out == ""
    assert not list(folder.rglob("*.model.json")) and not list(folder.rglob("*.pte"))  # nothing copied


APP_HANDLER = """
import json, os, time
import torch
from executorch.extension.pybindings import _C  # the runtime alone (executorch.runtime imports exir first: 4 s)
from affdeploy.bench.appmodel import bench_input
from affdeploy.bench.schema import BenchRecord, DeviceInfo, dump_results
from affdeploy.bench.stats import compute_stats

extras = json.loads(os.environ["LOOPBACK_INTENT"])["extras"]
device = lambda path: os.path.join(os.environ["LOOPBACK_DEVICE_ROOT"], path.lstrip("/"))
os.makedirs("files", exist_ok=True)
try:  # what BenchmarkActivity does with a tensor model: read the metadata, generate the inputs, run them
    meta = json.load(open(device(extras["model_meta"])))
    assert meta["schema"] == "affdeploy.app-model/v1" and meta["mode"] == "tensor", meta
    inputs = [torch.from_numpy(bench_input(i["shape"], i["seed"])) for i in meta["inputs"]]
    assert [float(t.double().sum()) for t in inputs] == [i["sum"] for i in meta["inputs"]]
    program = _C._load_program(device(extras["model_path"]), program_verification=_C.Verification.InternalConsistency)
    method = program.load_method("forward")
    for _ in range(extras["warmup"]):
        method(inputs)
    samples = []
    for _ in range(extras["iterations"]):
        start = time.perf_counter()
        outputs = method(inputs)
        samples.append((time.perf_counter() - start) * 1e3)
    shapes = [list(o.shape) for o in outputs]
    assert shapes == [o["shape"] for o in meta["outputs"]], shapes
    record = BenchRecord(model=extras["model_name"], target="executorch", backend=extras["backend"], fft=extras["fft"],
        threads=extras["threads"], precision=extras["precision"], image_size=extras["image_size"],
        device=DeviceInfo(kind="android", name="app"), runner="android-app", samples_ms=samples,
        stats=compute_stats(samples), warmup=extras["warmup"], tools={"executorch-android": "loopback"},
        notes=[f"tensor model, outputs {shapes}"])
    with open("files/benchmark_results.json.tmp", "w") as f:
        json.dump(dump_results([record]), f)
    os.replace("files/benchmark_results.json.tmp", "files/benchmark_results.json")
except Exception as exc:
    with open("files/benchmark_error.txt", "w") as f:
        f.write(f"{type(exc).__name__}: {exc}\\n")
"""


def test_bench_through_the_app_runs_the_tensor_model(
    user_export: tuple[Path, Path], app_installed: LoopbackDevice, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    pt2, models = user_export
    phone = app_installed
    monkeypatch.setenv("AFFDEPLOY_ANDROID_RUNNER", "app")
    handler = tmp_path / "tensor_app.py"  # this app reads the metadata: it replaces test_android's AFFNet-only one
    handler.write_text(APP_HANDLER)
    phone.set_intent_handler("org.affdeploy.bench/.BenchmarkActivity", [sys.executable, str(handler)])

    results = tmp_path / "results.json"
    code, _, err = cli(capsys, "bench", "--device", phone.serial, "--model", str(pt2), "--target", "executorch",
                       "--models-dir", str(models), "--warmup", "1", "--iters", "4", "--json", str(results))
    assert code == 0, err
    assert not (models / "cache").exists()  # the export above was reused, not redone
    (record,) = load_results(results)
    assert (record.model, record.runner, record.target, record.device.kind) == (
        str(pt2.resolve()), "android-app", "executorch", "android")
    assert record.stats.count == 4 and record.macs is None
    assert record.model_sha256 == hashlib.sha256(pt2.read_bytes()).hexdigest()
    assert "tensor model, outputs [[2, 15], [2, 8]]" in record.notes
    (intent,) = [i for i in phone.intent_log() if i["command"] == "start"]
    extras = intent["extras"]
    (entry,) = read_manifest(models)
    remote = f"/data/local/tmp/affdeploy/{Path(entry.path).name}.model.json"
    assert extras["model_meta"] == remote and "macs" not in extras
    _check_meta(json.loads(phone.device_path(remote).read_text()), pt2, entry.resolve(models))

    # a user model's artifact away from its manifest: the app could not know its inputs
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(entry.resolve(models), alone)
    code, out, err = cli(capsys, "bench", "--device", phone.serial, "--model", str(pt2), "--target", "executorch",
                         "--artifact", str(alone / Path(entry.path).name), "--iters", "2")
    assert code == 1 and "no entry for" in err and "the app learns a user model's inputs from it" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
