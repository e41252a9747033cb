"""The host benchmark engine and `affdeploy bench`, with real runtimes on small inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli
from reduced_affnet import SHARED_MODEL

from affdeploy.bench import engine
from affdeploy.bench.engine import Config, _interleaved_rounds, run_host
from affdeploy.bench.openmp import PASSIVE, WAIT_POLICY_ENV, openmp_wait_policy, sleep_idle_openmp_threads
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import load_results
from affdeploy.cli import main
from affdeploy.export import ExportRequest, read_manifest
from affdeploy.export.base import Session
from affdeploy.export.cache import CACHE_DIR, cache_inputs, cache_key
from affdeploy.vocab import Backend


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "tensorrt"], 2, "unknown target 'tensorrt'"),
        (["--target", "coreml"], 2, "target 'coreml' cannot run on host"),
        (["--iters", "0"], 2, "--iters must be at least 1"),
        (["--iters", "-3"], 2, "--iters must be at least 1"),
        (["--min-s", "0"], 2, "--min-s must be positive"),
        (["--iters", "5", "--min-s", "1"], 2, "either --iters or --min-s"),
        (["--threads", "0"], 2, "--threads must be positive"),
        (["--threads", "one"], 2, "comma-separated integers"),
        (["--model", "resnet50"], 2, "unknown model 'resnet50'"),
        (["--image-size", "100"], 2, "multiple of 32"),
        (["--fft", "fast"], 2, "--fft must be one of auto, dft, native, got 'fast'"),
        (["--artifact", "/nonexistent/affnet.pte"], 2, "artifact /nonexistent/affnet.pte does not exist"),
    ],
)
def test_bad_input_is_one_line_and_a_usage_exit(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    status, out, err = cli(capsys, "bench", *args)
    assert status == code
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_artifact_of_the_wrong_kind_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weird = tmp_path / "model.engine"
    weird.write_bytes(b"TRT")
    status, _out, err = cli(capsys, "bench", "--artifact", str(weird), "--model", "affnet-et", "--image-size", "64")
    assert status == 2 and "expected one of .onnx, .ort" in err and ".pte" in err


def test_interleaved_rounds_rotate_through_configurations() -> None:
    """Two configurations, 4 iterations, 4 rounds of 1: A B, B A, A B, B A."""
    log: list[str] = []
    configs = []
    for name in ("A", "B"):
        config = Config("affnet-et", "torch", "native", 1)
        config.session = Session(infer=lambda feed: log.append(feed), prepare=str, scores=np.asarray, backend=Backend.EAGER)
        config.call = lambda session=config.session, name=name: session.infer(name)
        configs.append(config)
    _interleaved_rounds(configs, BenchRequest(iters=4), lambda _text: None)
    assert log == ["A", "B", "B", "A", "A", "B", "B", "A"]
    assert [len(c.samples_ns) for c in configs] == [4, 4]
    assert all(ns > 0 for c in configs for ns in c.samples_ns)


def test_cache_key_changes_with_every_input(tmp_path: Path) -> None:
    def key(model: str = "affnet-et", target: str = "onnx", **choices: object) -> str:
        return cache_key(cache_inputs(ExportRequest.create(model, target, **{"image_size": 64, **choices})))  # type: ignore[arg-type]

    base = key()
    assert base == key()
    others = [key("affnet-t"), key(target="executorch"), key(fft="native"), key(image_size=96),
              key(target="executorch", backend="portable"), key(target="coreml", precision="fp32"),
              key(target="coreml", input_kind="tensor")]
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"one")
    others.append(key(weights=weights))
    weights.write_bytes(b"two")  # same path, other content: another key
    others.append(key(weights=weights))
    assert len({base, *others}) == len(others) + 1


def test_torch_thread_sweep_keeps_every_sample() -> None:
    request = BenchRequest(models=["affnet-et"], targets=["torch"], image_size=64, threads=[1, 2], iters=6, warmup=1)
    records = run_host(request)
    assert [(r.target, r.fft, r.threads, r.backend) for r in records] == [("torch", "native", 1, "eager"),
                                                                          ("torch", "native", 2, "eager")]
    for r in records:
        assert len(r.samples_ms) == r.stats.count == 6 and r.warmup == 1
        assert min(r.samples_ms) == r.stats.min > 0
        assert r.load_ms and r.load_ms > 0 and r.first_inference_ms and r.first_inference_ms > 0
        assert r.macs and r.gmacs_per_s == pytest.approx(r.macs / (r.stats.p50 / 1e3) / 1e9)
        assert r.peak_rss_growth_bytes is not None and r.device.kind == "host" and r.device.cores >= 1
        assert r.tools["torch"].startswith("2.")


def test_warm_up_and_timed_runs_report_their_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge --warmup or --iters is the user's choice, but the display must move: counts, and a growing share."""
    monkeypatch.setattr(engine, "REPORT_S", 0.0)
    seen: list[tuple[str, float | None]] = []
    request = BenchRequest(models=["affnet-et"], targets=["torch"], image_size=64, threads=[1], iters=20, warmup=3)
    run_host(request, lambda message, fraction=None: seen.append((message, fraction)))
    warm = [m for m, _ in seen if m.startswith("warming up")]
    assert [m.rsplit(": ", 1)[1] for m in warm] == ["1 of 3", "2 of 3", "3 of 3"]
    timed = [m for m, _ in seen if m.startswith("timed round")]
    assert len(timed) == engine.ROUNDS and timed[0].startswith("timed round 1: 2 runs of 20")
    assert timed[-1].startswith("timed round 10: 20 runs of 20")
    shares = [f for m, f in seen if f is not None and not m.startswith(("exporting", "building"))]
    assert shares == sorted(shares) and shares[-1] == pytest.approx(1.0)


def test_min_seconds_mode_runs_until_the_time_is_spent() -> None:
    request = BenchRequest(models=["affnet-et"], targets=["torch"], image_size=64, min_s=0.3, iters=None, warmup=None,
                           warmup_s=0.05)
    (record,) = run_host(request)
    assert sum(record.samples_ms) >= 300.0
    assert record.warmup >= 1


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory, affnet_et_64_models: Path) -> tuple[Path, Path]:
    """One real end-to-end run of all three runtimes on the artifacts the session's `affdeploy export` wrote."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results.json"
    with pytest.raises(SystemExit) as exit_info:
        main([
            "bench", "--model", SHARED_MODEL, "--image-size", "64", "--target", "torch,onnx,executorch", "--iters", "5",
            "--warmup", "1",
            "--models-dir", str(affnet_et_64_models), "--json", str(results), "--csv", str(root / "results.csv"),
        ])  # fmt: skip
    assert exit_info.value.code == 0
    return results, affnet_et_64_models


def test_real_host_run_records_all_three_runtimes(host_run: tuple[Path, Path]) -> None:
    results, models = host_run
    records = load_results(results)
    assert [r.target for r in records] == ["torch", "onnx", "executorch"]
    by_target = {r.target: r for r in records}
    assert by_target["torch"].fft == "native" and by_target["torch"].backend == "eager"
    assert by_target["onnx"].backend == "ort-cpu"
    assert by_target["executorch"].backend == "xnnpack"
    for r in records:
        assert len(r.samples_ms) == 5 and r.stats.p50 > 0 and r.image_size == 64
    exported = {e.target: e for e in read_manifest(models)}
    for r in (by_target["onnx"], by_target["executorch"]):  # bench used what export wrote: no re-export
        assert Path(r.artifact_path) == exported[r.target].resolve(models)
        assert r.artifact_sha256 == exported[r.target].sha256
    assert not (models / CACHE_DIR).exists()
    assert len((results.parent / "results.csv").read_text().splitlines()) == 4


def test_an_exported_artifact_runs_directly(host_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    results, models = host_run
    onnx = next(r for r in load_results(results) if r.target == "onnx")
    status, out, _err = cli(
        capsys, "bench", "-m", SHARED_MODEL, "--image-size", "64", "--artifact", onnx.artifact_path,
        "--iters", "2", "--threads", "1,2", "--json", "-",
    )  # fmt: skip
    assert status == 0
    records = json.loads(out)["records"]
    assert [(r["target"], r["threads"], r["fft"]) for r in records] == [("onnx", 1, onnx.fft), ("onnx", 2, onnx.fft)]


def test_a_real_bench_process_runs_torch_with_sleeping_openmp_threads(tmp_path: Path) -> None:
    """libgomp itself reports its spin count (OMP_DISPLAY_ENV) when torch loads it: 0 means idle threads sleep."""
    env = {k: v for k, v in os.environ.items() if k != WAIT_POLICY_ENV} | {"OMP_DISPLAY_ENV": "VERBOSE"}
    proc = subprocess.run([sys.executable, "-m", "affdeploy", "bench", "--target", "torch", "--model", "affnet-et",
                           "--image-size", "64", "--iters", "1", "--warmup", "0", "--models-dir", str(tmp_path),
                           "--json", "-"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "GOMP_SPINCOUNT = '0'" in proc.stderr  # libgomp's default, without the CLI's setting, is 300000
    (record,) = json.loads(proc.stdout)["records"]
    assert record["device"]["extra"]["openmp_wait_policy"] == PASSIVE


def test_openmp_policy_is_set_only_before_torch_loads_and_never_over_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WAIT_POLICY_ENV, raising=False)
    assert not sleep_idle_openmp_threads()  # torch is loaded in this process: too late, the environment stays true
    assert WAIT_POLICY_ENV not in os.environ and openmp_wait_policy() == "default"
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh CLI process (restored after the test)
    monkeypatch.setenv(WAIT_POLICY_ENV, "ACTIVE")
    assert not sleep_idle_openmp_threads() and openmp_wait_policy() == "ACTIVE"
    monkeypatch.delenv(WAIT_POLICY_ENV)
    assert sleep_idle_openmp_threads() and os.environ[WAIT_POLICY_ENV] == PASSIVE
