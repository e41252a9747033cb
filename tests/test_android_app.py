"""The Android app's plain-Java core and `affdeploy android-assets`.

The Android build itself needs Google's Maven repository, which CI cannot reach; what runs here is
everything that does not: the benchcore module compiled with javac and its JUnit suite, the Java
statistics cross-checked against affdeploy.bench.stats, the Java results file read back with
affdeploy.bench.schema.load_results, and the assets command whose manifest the Java side parses.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import missing, require_tool

from affdeploy.bench.appmodel import APP_CATALOG_SCHEMA, APP_MODEL_SCHEMA
from affdeploy.bench.schema import load_results
from affdeploy.bench.stats import compute_stats
from affdeploy.cli import main
from affdeploy.export.manifest import ArtifactEntry, write_manifest
from affdeploy.fsutil import sha256_path
from affdeploy.preprocessing import input_spec

REPO = Path(__file__).resolve().parents[1]
ANDROID = REPO / "android_app"
CORE = ANDROID / "benchcore" / "src"
APP_JAVA = ANDROID / "app" / "src" / "main" / "java" / "org" / "affdeploy" / "bench"
JAVA_JARS = Path("/usr/share/java")
FAST_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]  # short-lived JVMs: start fast rather than peak
JAVA_HINT = "install a JDK and JUnit 4: apt-get install default-jdk-headless junit4 libhamcrest-java"


def _java_tool(name: str) -> str:
    return require_tool(name, JAVA_HINT)


@pytest.fixture(scope="module")
def classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    """benchcore's main and test classes compiled with javac, plus JUnit and Hamcrest."""
    jars = [JAVA_JARS / "junit4.jar", JAVA_JARS / "hamcrest-core.jar"]
    for jar in jars:
        if not jar.is_file():
            missing(f"{jar} is missing", JAVA_HINT)
    out = tmp_path_factory.mktemp("benchcore-classes")
    sources = sorted(str(p) for p in CORE.rglob("*.java"))
    cp = ":".join(str(j) for j in jars)
    javac = [_java_tool("javac"), *(f"-J{o}" for o in FAST_JVM), "-Xlint:all", "-Werror", "--release", "17"]
    proc = subprocess.run([*javac, "-cp", cp, "-d", str(out), *sources], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return f"{out}:{cp}"


def _java(classpath: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [_java_tool("java"), *FAST_JVM, "-cp", classpath, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_junit_suite_passes(classpath: str) -> None:
    tests = sorted(p.stem for p in (CORE / "test").rglob("*Test.java"))
    assert len(tests) >= 5
    proc = _java(classpath, "org.junit.runner.JUnitCore", *[f"org.affdeploy.bench.core.{t}" for t in tests])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = int(re.search(r"OK \((\d+) tests?\)", proc.stdout).group(1))
    assert ran >= 20


def _samples() -> dict[str, list[float]]:
    """Latency sets (ms, microsecond resolution so Java's ns clock reproduces them exactly)."""
    rng = np.random.default_rng(7)
    steady = np.round(12 + rng.normal(0, 0.3, 37), 3)
    spiky = np.round(np.concatenate([20 + rng.gamma(2.0, 0.5, 195), [80.0, 95.5, 120.25, 60.0, 75.125]]), 3)
    return {"one": [12.5], "two": [10.0, 11.0], "steady": steady.tolist(), "spiky": rng.permutation(spiky).tolist()}


@pytest.mark.parametrize("name", list(_samples()))
def test_java_stats_and_results_file_match_python(classpath: str, tmp_path: Path, name: str) -> None:
    samples = _samples()[name]
    out = tmp_path / "benchmark_results.json"
    proc = _java(classpath, "org.affdeploy.bench.core.CrossCheck", "result", str(out), *[repr(s) for s in samples])
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    [record] = load_results(out)  # the Java document is a valid affdeploy.bench/v1 results file
    assert record.samples_ms == samples
    expected = compute_stats(samples)
    java = record.stats
    assert java.count == expected.count == printed["count"]
    for field in ("min", "max", "mean", "std", "p50", "p90", "p99", "trimmed_mean", "cv"):
        assert getattr(java, field) == pytest.approx(getattr(expected, field), rel=1e-12, abs=1e-12), field
        assert printed[field] == getattr(java, field)
    assert java.noisy == expected.noisy
    lo, hi = java.median_ci95  # same method, different random generator: same neighbourhood, not same digits
    assert java.min <= lo <= java.p50 <= hi <= java.max
    spread = java.max - java.min
    assert abs(lo - expected.median_ci95[0]) <= 0.25 * spread + 1e-9
    assert abs(hi - expected.median_ci95[1]) <= 0.25 * spread + 1e-9

    assert (record.runner, record.target, record.backend) == ("android-app", "executorch", "xnnpack")
    assert record.device.kind == "android"
    assert (record.load_ms, record.first_inference_ms, record.warmup) == (120.0, 40.0, 0)
    assert record.peak_rss_growth_bytes == 50 << 20
    assert record.gmacs_per_s == pytest.approx(790_000_000 / (java.p50 * 1e-3) / 1e9)
    assert record.device.soc == 'Tensor G2 "gs201"' and record.device.extra == {"sdk_int": 34}
    assert record.notes == ['line one\nline "two"\t\\ \u00e9']
    assert record.model_sha256 == "cd" * 32
    assert list(out.parent.iterdir()) == [out]  # the atomic write left no temporary file


# ----------------------------------------------------------------------------- android-assets


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> Outcome:
    """Run `affdeploy android-assets ARGS` in this process (a fresh interpreter per call costs seconds)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["android-assets", *args])
    captured = capsys.readouterr()
    return Outcome(exit_info.value.code, captured.out, captured.err)


def _entry(
    models_dir: Path, model: str, target: str, backend: str, suffix: str, payload: bytes, image_size: int = 256
) -> ArtifactEntry:
    path = models_dir / f"{model}-{image_size}-{backend}-fp32-dft{suffix}"
    path.write_bytes(payload)
    return ArtifactEntry(
        model=model, target=target, backend=backend, path=path.name, fft="dft", precision="fp32", sha256=sha256_path(path),
        size_bytes=len(payload), image_size=image_size, input=input_spec(image_size).to_dict(), tool_versions={},
        op_counts={}, parity={"status": "passed"}, export_seconds=1.0, created="2026-11-25T00:00:00+00:00",
    )


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    """A models folder written with the real manifest writer, and an app folder shaped like android_app."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    entries = [
        _entry(models_dir, "affnet-t", "executorch", "portable", ".pte", b"portable program"),
        _entry(models_dir, "affnet-t", "executorch", "xnnpack", ".pte", b"xnnpack program"),
        _entry(models_dir, "affnet-t", "onnx", "onnxruntime", ".onnx", b"onnx graph", image_size=128),
        _entry(models_dir, "affnet-et", "executorch", "xnnpack", ".pte", b"et program"),
        _entry(models_dir, "affnet-t", "coreml", "coreml", ".mlpackage", b"not for android"),
    ]
    write_manifest(models_dir, entries)
    app_dir = tmp_path / "android_app"
    (app_dir / "app" / "src" / "main").mkdir(parents=True)
    shutil.copy(ANDROID / "app" / "src" / "main" / "AndroidManifest.xml", app_dir / "app" / "src" / "main")
    return models_dir, app_dir


def test_android_assets_bundles_models_manifest_and_labels(
    exported: tuple[Path, Path], classpath: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir, app_dir = exported
    proc = _cli(capsys, "--models-dir", str(models_dir), "--app", str(app_dir), "--json")
    assert proc.code == 0, proc.stderr
    report = json.loads(proc.stdout)
    assets = app_dir / "app" / "src" / "main" / "assets" / "models"
    assert Path(report["assets_dir"]) == assets
    files = [m["file"] for m in report["models"]]
    # xnnpack before portable: the classifier screen takes a model's first ExecuTorch entry
    assert files == ["affnet-et-256-xnnpack-fp32-dft.pte", "affnet-t-256-xnnpack-fp32-dft.pte",
                     "affnet-t-256-portable-fp32-dft.pte", "affnet-t-128-onnxruntime-fp32-dft.onnx"]
    assert {m["status"] for m in report["models"]} == {"copied"}
    metas = [f"{name}.model.json" for name in files]
    assert sorted(p.name for p in assets.iterdir()) == sorted([*files, *metas, "manifest.json", "imagenet_labels.txt"])
    for name in files:
        assert (assets / name).read_bytes() == (models_dir / name).read_bytes()
    labels = (assets / "imagenet_labels.txt").read_text("utf-8").splitlines()
    assert len(labels) == 1000 and labels[0] == "tench"

    doc = json.loads((assets / "manifest.json").read_text("utf-8"))
    assert doc == {"schema": APP_CATALOG_SCHEMA, "labels": "imagenet_labels.txt", "models": metas}
    meta = json.loads((assets / metas[1]).read_text("utf-8"))
    assert meta["schema"] == APP_MODEL_SCHEMA and (meta["mode"], meta["file"], meta["id"]) == ("image", files[1], "affnet-t")
    assert meta["image"] == {"height": 256, "width": 256, "color_order": "RGB", "scale": 1 / 255,
                             "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "labels": "imagenet_labels.txt"}
    assert meta["inputs"][0]["shape"] == [1, 3, 256, 256] and meta["outputs"] == [
        {"name": "logits", "shape": [1, 1000], "dtype": "float32"}]

    # the app's plain-Java ModelManifest reads exactly what the command wrote
    proc = _java(classpath, "org.affdeploy.bench.core.CrossCheck", "manifest", str(assets / "manifest.json"))
    assert proc.returncode == 0, proc.stderr
    parsed = json.loads(proc.stdout)
    assert parsed["labels"] == "imagenet_labels.txt"
    assert [m["file"] for m in parsed["models"]] == files
    t = parsed["models"][3]
    assert (t["model"], t["target"], t["mode"], t["shape"], t["color_order"]) == (
        "affnet-t", "onnx", "image", [1, 3, 128, 128], "RGB")
    assert t["scale"] == 1 / 255 and t["mean"] == [0.0, 0.0, 0.0] and t["std"] == [1.0, 1.0, 1.0]
    assert t["sha256"] == sha256_path(models_dir / files[3])


def test_android_assets_skips_unchanged_files_and_removes_stale_ones(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir, app_dir = exported
    assert _cli(capsys, "--models-dir", str(models_dir), "--app", str(app_dir)).code == 0
    proc = _cli(capsys, "--models-dir", str(models_dir), "--app", str(app_dir), "--model", "affnet-et", "--json")
    assert proc.code == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(m["file"], m["status"]) for m in report["models"]] == [("affnet-et-256-xnnpack-fp32-dft.pte", "unchanged")]
    stale = ["affnet-t-256-xnnpack-fp32-dft.pte", "affnet-t-256-portable-fp32-dft.pte",
             "affnet-t-128-onnxruntime-fp32-dft.onnx"]
    assert report["removed"] == sorted(stale + [f"{name}.model.json" for name in stale])
    assets = Path(report["assets_dir"])
    left = sorted(p.name for p in assets.iterdir())
    assert left == ["affnet-et-256-xnnpack-fp32-dft.pte", "affnet-et-256-xnnpack-fp32-dft.pte.model.json",
                    "imagenet_labels.txt", "manifest.json"]


def test_android_assets_errors_are_one_clear_line(
    exported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir, app_dir = exported
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (("--models-dir", str(empty), "--app", str(app_dir)), 1,
         "run `affdeploy export --model affnet-t --target executorch"),
        (("--models-dir", str(models_dir), "--app", str(app_dir), "--model", "resnet"), 2, "unknown model 'resnet'"),
        (("--models-dir", str(models_dir), "--app", str(app_dir), "--model", "affnet"), 1, "exported: affnet-et, affnet-t"),
        (("--models-dir", str(models_dir), "--app", str(tmp_path)), 1, "is not the affdeploy Android project"),
    ]
    for args, code, message in cases:
        proc = _cli(capsys, *args)
        assert proc.code == code, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 or "error:" in proc.stderr

    (models_dir / "affnet-et-256-xnnpack-fp32-dft.pte").write_bytes(b"tampered")
    proc = _cli(capsys, "--models-dir", str(models_dir), "--app", str(app_dir))
    assert proc.code == 1 and "changed since it was exported" in proc.stderr
    (models_dir / "affnet-et-256-xnnpack-fp32-dft.pte").unlink()
    proc = _cli(capsys, "--models-dir", str(models_dir), "--app", str(app_dir))
    assert proc.code == 1 and "is listed in" in proc.stderr and "but missing" in proc.stderr
    assert not (app_dir / "app" / "src" / "main" / "assets" / "models" / "manifest.json").exists()


# ----------------------------------------------------------------------------- the Gradle project


def test_gradle_project_matches_the_python_side() -> None:
    """Versions and names the app shares with the toolchain are the same on both sides."""
    app_gradle = (ANDROID / "app" / "build.gradle.kts").read_text()
    executorch = re.search(r'executorchVersion = "([^"]+)"', app_gradle).group(1)
    assert executorch == importlib.metadata.version("executorch"), "the .pte runtime must match the exporter"
    assert 'implementation("org.pytorch:executorch-android:$executorchVersion")' in app_gradle
    assert 'implementation("com.microsoft.onnxruntime:onnxruntime-android:$onnxruntimeVersion")' in app_gradle
    assert int(re.search(r"minSdk = (\d+)", app_gradle).group(1)) >= 26
    assert 'include(":benchcore", ":app")' in (ANDROID / "settings.gradle.kts").read_text()

    manifest = (ANDROID / "app" / "src" / "main" / "AndroidManifest.xml").read_text()
    for activity in re.findall(r'android:name="\.(\w+)"', manifest):
        assert (APP_JAVA / f"{activity}.java").is_file(), activity
    for java, schema in (("ModelManifest", APP_CATALOG_SCHEMA), ("ModelMeta", APP_MODEL_SCHEMA)):
        java_source = (CORE / "main" / "java" / "org" / "affdeploy" / "bench" / "core" / f"{java}.java").read_text()
        assert re.search(r'SCHEMA = "([^"]+)"', java_source).group(1) == schema
    assert 'namespace = "org.affdeploy.bench"' in app_gradle
    assert (ANDROID / "app" / "src" / "main" / "assets" / "sample.jpg").read_bytes()[:2] == b"\xff\xd8"
