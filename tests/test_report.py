"""Results schema round trip, `affdeploy report` and `affdeploy compare` (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from affdeploy.bench.host import host_device_info
from affdeploy.versions import tool_versions
from affdeploy.bench.output import to_csv, write_results
from affdeploy.bench.schema import SCHEMA_ID, BenchRecord, dump_results, load_results
from affdeploy.bench.stats import compute_stats
from affdeploy.cli import main
from affdeploy.errors import AffdeployError

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
        (lambda r: r["stats"].__setitem__("median_ci95", [1.0]), "field 'stats.median_ci95' is a list, expected a list of 2 numbers"),
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
