"""Results schema round trip, `affdeploy report` and `affdeploy compare`."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from bad_input_helpers import assert_one_clear_line
from cli_helpers import cli

from affdeploy.bench.host import host_device_info
from affdeploy.bench.output import to_csv, write_results
from affdeploy.bench.schema import SCHEMA_ID, BenchRecord, dump_results, load_results
from affdeploy.bench.stats import compute_stats
from affdeploy.bench.v3 import V3_FIELDS
from affdeploy.cli import main
from affdeploy.errors import AffdeployError
from affdeploy.versions import tool_versions

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_record(target: str, fft: str, center_ms: float, *, seed: int = 0, backend: str = "") -> BenchRecord:
    """A record whose samples scatter +-2% around ``center_ms`` (deterministic)."""
    rng = np.random.default_rng(seed)
    samples = [float(v) for v in center_ms * (1 + 0.02 * rng.standard_normal(40))]
    return BenchRecord(
        model="affnet-et",
        target=target,
        backend=backend or {"torch": "eager", "onnx": "ort-cpu", "executorch": "xnnpack"}[target],
        fft=fft,
        threads=1,
        precision="fp32",
        image_size=64,
        device=host_device_info(),
        runner="affdeploy-host",
        samples_ms=samples,
        stats=compute_stats(samples),
        warmup=3,
        load_ms=12.5,
        first_inference_ms=center_ms * 2,
        peak_rss_growth_bytes=5 << 20,
        macs=23_000_000,
        gmacs_per_s=0.023 / (center_ms / 1e3),
        artifact_sha256="ab" * 32,
        tools=tool_versions(),
        timestamp="2026-01-01T00:00:00+00:00",
        notes=["synthetic"],
    )


def runs() -> list[BenchRecord]:
    return [
        make_record("torch", "native", 10.0, seed=1),
        make_record("onnx", "native", 8.0, seed=2),
        make_record("onnx", "dft", 4.0, seed=3),
        make_record("executorch", "dft", 3.0, seed=4),
    ]


def test_schema_round_trip(tmp_path: Path) -> None:
    records = runs()
    path = write_results(records, tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA_ID and len(doc["records"]) == 4
    assert doc["records"][0]["stats"]["median_ci95"] == list(records[0].stats.median_ci95)
    loaded = load_results(path)
    assert loaded == records
    assert dump_results(loaded) == doc


def test_loading_a_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "other/v9", "records": []}))
    with pytest.raises(AffdeployError, match="bad.json is not a benchmark results file: its schema is 'other/v9', "
                                             "expected affdeploy.bench/v1"):
        load_results(bad)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": "affdeploy.bench/v2", "records": []}))
    with pytest.raises(AffdeployError, match="newer.json has schema 'affdeploy.bench/v2'; this affdeploy reads "
                                             "affdeploy.bench/v1 .upgrade affdeploy"):
        load_results(newer)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema": SCHEMA_ID, "records": [{"model": "x"}]}))
    with pytest.raises(AffdeployError, match=r"broken.json: record 0 \(x\): field 'target' is missing, expected a string"):
        load_results(broken)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("stats"), "field 'stats' is missing, expected an object"),
        (lambda r: r["samples_ms"].__setitem__(3, "abc"), "field 'samples_ms[3]' is the string 'abc', expected a number"),
        (lambda r: r["stats"].__setitem__("p50", None), "field 'stats.p50' is null, expected a number"),
        (lambda r: r["stats"].__setitem__("median_ci95", [1.0]),
         "field 'stats.median_ci95' is a list, expected a list of 2 numbers"),
        (lambda r: r.__setitem__("threads", True), "field 'threads' is true, expected an integer"),
        (lambda r: r.__setitem__("load_ms", "fast"), "field 'load_ms' is the string 'fast', expected a number or null"),
        (lambda r: r["device"].pop("kind"), "field 'device.kind' is missing, expected a string"),
        (lambda r: r["tools"].__setitem__("torch", 2), "field 'tools.torch' is the number 2, expected a string"),
    ],
)
def test_schema_validation_names_file_record_field_and_expectation(tmp_path: Path, change, message: str) -> None:
    doc = dump_results(runs())
    change(doc["records"][1])
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(AffdeployError) as info:
        load_results(path)
    assert str(info.value) == f"{path}: record 1 (affnet-et onnx ort-cpu): {message}"


def test_csv_has_one_row_per_record() -> None:
    lines = to_csv(runs()).splitlines()
    assert lines[0].startswith("model,target,backend,fft,threads")
    assert len(lines) == 5 and lines[3].startswith("affnet-et,onnx,ort-cpu,dft,1")


def test_report_writes_valid_pngs_and_a_markdown_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = runs()
    results = write_results(records, tmp_path / "r.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(results), "--out", str(tmp_path / "out"), "--json"])
    assert exit_info.value.code == 0
    files = [Path(p) for p in json.loads(capsys.readouterr().out)["files"]]
    names = sorted(p.name for p in files)
    assert names == ["report.md", "report_fft.png", "report_latency.png", "report_speedup.png"]
    for png in (p for p in files if p.suffix == ".png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 100 and image.shape[1] > 100
    markdown = (tmp_path / "out" / "report.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "affnet-et" in line]
    assert len(rows) == 4
    speedup = records[0].stats.p50 / records[3].stats.p50  # eager native baseline / executorch
    assert any("| executorch | xnnpack | dft |" in row and row.endswith(f"| {speedup:.2f}x |") for row in rows)
    assert "AMD" in markdown or host_device_info().cpu in markdown
    assert not list((tmp_path / "out").glob(".affdeploy-tmp-*"))


def test_report_in_the_v3_format_has_every_field_of_the_benchmark_database(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``--format v3``: one row per measured metric per configuration, with the v3 uploaders' parts and fields."""
    records = runs()
    records[0].load_ms = None  # a metric the run did not measure has no row
    results = write_results(records, tmp_path / "r.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(results), "--out", str(tmp_path / "out"), "--format", "v3", "--json"])
    assert exit_info.value.code == 0
    (path,) = [Path(p) for p in json.loads(capsys.readouterr().out)["files"]]
    assert path.name == "report.v3.json" and sorted(p.name for p in path.parent.iterdir()) == ["report.v3.json"]
    rows = json.loads(path.read_text())
    assert len(rows) == 7 * len(records) - 1
    for row in rows:
        assert row["schema_version"] == "v3" and isinstance(row["timestamp"], int) and row["timestamp"] > 0
        for part in ("benchmark", "model", "metric"):
            assert set(V3_FIELDS[part]) <= set(row[part]), part
        (runner,) = row["runners"]
        assert set(V3_FIELDS["runner"]) <= set(runner)
        assert isinstance(runner["cpu_count"], int) and isinstance(runner["avail_mem_in_gb"], float)
        values = row["metric"]["benchmark_values"]
        assert isinstance(values, list) and len(values) == 1 and isinstance(values[0], float)
        assert row["benchmark"]["mode"] == "inference" and row["benchmark"]["dtype"] == "fp32"
    medians = {r["model"]["backend"] + "/" + r["benchmark"]["extra_info"]["fft"]: r["metric"] for r in rows
               if r["metric"]["name"] == "median_inference_latency(ms)"}
    assert medians["executorch-xnnpack/dft"]["benchmark_values"] == [records[3].stats.p50]
    assert medians["executorch-xnnpack/dft"]["extra_info"]["samples_ms"] == records[3].samples_ms
    assert not any(r["metric"]["name"] == "model_load_time(ms)" and r["model"]["backend"] == "torch-eager" for r in rows)


def _compare(tmp_path: Path, base: list[BenchRecord], new: list[BenchRecord], *extra: str) -> int:
    b, n = write_results(base, tmp_path / "base.json"), write_results(new, tmp_path / "new.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(b), str(n), *extra])
    return int(exit_info.value.code or 0)


def test_compare_flags_a_regression_and_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = runs()
    new = runs()
    new[2] = make_record("onnx", "dft", 6.0, seed=9)  # 50% slower, far outside both intervals
    assert _compare(tmp_path, base, new, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    verdicts = {(c["target"], c["fft"]): c["verdict"] for c in report["comparisons"]}
    assert verdicts[("onnx", "dft")] == "regression"
    assert verdicts[("torch", "native")] == "unchanged"
    assert report["regressions"] == 1


def test_compare_tolerates_noise_and_reports_improvements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = runs()
    new = [make_record(r.target, r.fft, r.stats.p50 * 1.01, seed=20 + i) for i, r in enumerate(base)]
    new[0] = make_record("torch", "native", 5.0, seed=30)
    assert _compare(tmp_path, base, new, "--json") == 0
    verdicts = [c["verdict"] for c in json.loads(capsys.readouterr().out)["comparisons"]]
    assert verdicts == ["improvement", "unchanged", "unchanged", "unchanged"]
    # a 5% threshold still does not call +1% noise a regression
    assert _compare(tmp_path, base, new, "--threshold", "0.05") == 0


def test_compare_matches_the_same_hardware_under_another_hostname(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    new = runs()
    for record in new:
        record.device.name = "ci-runner-42"  # a fresh CI machine of the same type
    assert _compare(tmp_path, runs(), new, "--json") == 0
    assert len(json.loads(capsys.readouterr().out)["comparisons"]) == 4


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda r: setattr(r.device, "cpu", "Other CPU 9000"), "vs host Other CPU 9000)"),
        (lambda r: setattr(r, "image_size", 256), "image_size (64 vs 256)"),
        (lambda r: setattr(r, "precision", "fp16"), "precision (fp32 vs fp16)"),
        (lambda r: setattr(r, "threads", 2), "threads (1 vs 2)"),
    ],
)
def test_compare_with_nothing_in_common_fails_and_says_what_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                    change, says: str) -> None:
    new = runs()
    for record in new:
        change(record)
    assert _compare(tmp_path, runs(), new) == 1
    err = capsys.readouterr().err
    assert "nothing to compare: no configuration of" in err and says in err
    assert len(err.strip().splitlines()) == 1


def test_compare_against_an_empty_run_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _compare(tmp_path, runs(), []) == 1
    assert "new.json holds no benchmark records" in capsys.readouterr().err


def test_compare_with_a_null_p50_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = dump_results(runs())
    doc["records"][0]["stats"]["p50"] = None
    (tmp_path / "null.json").write_text(json.dumps(doc))
    base = write_results(runs(), tmp_path / "base.json")
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(base), str(tmp_path / "null.json")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    assert "null.json: record 0 (affnet-et torch eager): field 'stats.p50' is null, expected a number" in err


# --- results are checked before anything is judged ---------------------------------------------------


def _bad_stats(stats: dict[str, object]) -> Callable[[dict], None]:
    return lambda doc: doc["records"][1]["stats"].update(stats)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_bad_stats({"p50": -127.3}), "field 'stats.p50' holds -127.3, expected times >= 0"),
        (_bad_stats({"p90": 1.0}), "stats.p50 (8.0"),
        (_bad_stats({"count": 41}), "stats.count is 41 but the record holds 40 samples"),
        (_bad_stats({"p50": 1000.0, "p90": 1000.0, "p99": 1000.0, "max": 1000.0}),
         "stats.p50 (1000) lies outside its samples"),
        (_bad_stats({"median_ci95": [9.0, 7.0]}), "is not an interval"),
        (lambda doc: doc["records"][1].update(model="x" * 10_000_000), "field 'model' holds 10,000,000 characters"),
        (lambda doc: doc["records"][1]["device"].update(name="\x1b[2Jpwned"), "field 'device.name' holds control"),
        # notes keep their lines and tabs (the Java runner writes them), not escape sequences
        (lambda doc: doc["records"][1].update(notes=["two\nlines\tok", "\x1b[2J"]), "field 'notes[1]' holds control"),
        (lambda doc: doc["records"].append(dict(doc["records"][1], timestamp="later")),
         "records 1 and 4 measure the same configuration (affnet-et onnx ort-cpu native 1 fp32 64 host"),
    ],
    ids=["negative-p50", "unordered-percentiles", "count", "p50-beyond-samples", "reversed-ci", "10MB-name",
         "escape-in-name", "escape-in-notes", "duplicate"],
)
def test_report_and_compare_refuse_results_no_run_could_produce(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                change: Callable[[dict], None], says: str) -> None:
    doc = dump_results(runs())
    change(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    good = write_results(runs(), tmp_path / "good.json")
    started = time.monotonic()
    for args in (["report", str(bad), "--out", str(tmp_path / "out")], ["compare", str(good), str(bad)]):
        code, out, err = cli(capsys, *args)
        assert code == 1 and "unchanged" not in out, err
        assert_one_clear_line(err, says)
    assert time.monotonic() - started < 30  # refused up front; the unbounded table took minutes
    assert not (tmp_path / "out").exists()


def _centred(center_ms: float, seed: int, stretches: list[float] | None = None) -> BenchRecord:
    """onnx/dft at ``center_ms`` +-2%, or stretch by stretch at each of ``stretches`` (a run that drifted)."""
    record = make_record("onnx", "dft", center_ms, seed=seed)
    if stretches:
        parts = np.array_split(record.samples_ms, len(stretches))
        record.samples_ms = [s / center_ms * level for level, part in zip(stretches, parts, strict=True) for s in part]
        record.stats = compute_stats(record.samples_ms)
    return record


def _verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str], base: BenchRecord, new: BenchRecord,
             *extra: str) -> tuple[int, dict]:
    code = _compare(tmp_path, [base], [new], "--json", *extra)
    return code, json.loads(capsys.readouterr().out)


def test_a_shift_within_the_noise_floor_is_too_noisy_to_tell(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    base, new = _centred(10.0, seed=1), _centred(11.5, seed=2)  # +15%: past --threshold and both intervals
    assert new.stats.median_ci95[0] > base.stats.median_ci95[1]
    code, report = _verdict(tmp_path, capsys, base, new)
    assert code == 0 and report["regressions"] == 0 and report["too_noisy"] == 1
    (row,) = report["comparisons"]
    assert row["verdict"] == "too noisy to tell" and row["noise_floor"] == 0.25
    assert _compare(tmp_path, [base], [new]) == 0
    assert "too noisy to tell" in capsys.readouterr().out
    # a floor the user measured lower calls it
    code, report = _verdict(tmp_path, capsys, base, new, "--noise-floor", "0.05")
    assert code == 1 and report["comparisons"][0]["verdict"] == "regression"


def test_a_2x_slowdown_is_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _verdict(tmp_path, capsys, _centred(10.0, seed=1), _centred(20.0, seed=2))
    assert code == 1 and report["regressions"] == 1 and report["comparisons"][0]["verdict"] == "regression"


def test_a_run_that_drifted_raises_the_floor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steady, new = _centred(8.0, seed=1), _centred(12.0, seed=2)  # +50%
    assert _verdict(tmp_path, capsys, steady, new)[1]["comparisons"][0]["verdict"] == "regression"
    drifting = _centred(8.0, seed=1, stretches=[8.0, 8.0, 8.0, 8.0, 14.0])  # p50 still ~8 ms, stretches 75% apart
    code, report = _verdict(tmp_path, capsys, drifting, new)
    (row,) = report["comparisons"]
    assert code == 0 and row["verdict"] == "too noisy to tell" and row["noise_floor"] > 0.7


def test_a_negative_noise_floor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = str(write_results(runs(), tmp_path / "r.json"))
    code, _, err = cli(capsys, "compare", results, results, "--noise-floor", "-0.1")
    assert code == 2
    assert_one_clear_line(err, "--noise-floor must be a number >= 0")


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) when the body blocks, e.g. opening a FIFO nobody writes to."""
    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (lambda f, ok: ["report", f], "results file {f} is a FIFO (named pipe), not a regular file"),
        (lambda f, ok: ["compare", ok, f], "results file {f} is a FIFO (named pipe), not a regular file"),
        (lambda f, ok: ["inspect", f], "artifact {f} is a FIFO (named pipe), not a file or folder"),
        (lambda f, ok: ["verify", f], "artifact {f} is a FIFO (named pipe), not a file or folder"),
        (lambda f, ok: ["bench", "--weights", f], "weights file {f} is a FIFO (named pipe), not a file or folder"),
        (lambda f, ok: ["report", "/dev/zero"], "results file /dev/zero is a character device"),
    ],
    ids=["report", "compare", "inspect", "verify", "bench-weights", "report-device"],
)
def test_a_fifo_or_device_is_refused_instead_of_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         args: Callable[[str, str], list[str]], says: str) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    ok = str(write_results(runs(), tmp_path / "ok.json"))
    with deadline(10):
        code, _, err = cli(capsys, *args(str(fifo), ok))
    assert code == 1
    assert_one_clear_line(err, says.format(f=fifo))


def test_a_fifo_given_as_a_model_file_is_refused_instead_of_blocking(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "model.pt2"
    os.mkfifo(fifo)
    with deadline(10):
        code, _, err = cli(capsys, "export", "-m", str(fifo), "-t", "onnx", "--out", str(tmp_path / "out"))
    assert code == 1 and not (tmp_path / "out").exists()
    assert_one_clear_line(err, f"model file {fifo} is a FIFO (named pipe), not a regular file")
