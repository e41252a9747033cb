"""LiteRT's benchmark_model on the loopback phone, and its parser against the output format of its source.

The stand-in (tests/runners/benchmark_model.py) takes the real flags, really runs the .tflite with
ai-edge-litert's XNNPACK interpreter and prints the real tool's lines; it is pushed to the phone
and run by its shell like the real binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import cli
from loopback_adb.device import LoopbackDevice
from reduced_affnet import SHARED_MODEL
from test_android import IMAGE_SIZE, on_phone, phone, request_for, stand_in  # noqa: F401  (on_phone: fixture)

from affdeploy.bench.schema import load_results
from affdeploy.devices.android.bench import run_bench
from affdeploy.devices.android.runners import RUNNERS, RunnerPaths
from affdeploy.devices.android.session import DEVICE_DIR
from affdeploy.devices.android.tflite_runner import parse_benchmark_model
from affdeploy.errors import DeviceError

# What benchmark_model 2.x prints for a run of 50 (TFLITE_LOG INFO lines; tsl StatWithPercentiles).
REAL = """INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/affdeploy/affnet-t-256-fp32-dft.tflite]
INFO: Use xnnpack: [1]
INFO: Loaded model /data/local/tmp/affdeploy/affnet-t-256-fp32-dft.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 10.7012
INFO: Initialized session in 61.348ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=18 first=41223 curr=27011 min=26650 max=41223 avg=28050.3 std=3244 p5=26650 median=27221 p95=41223

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=27102 curr=26911 min=26533 max=29876 avg=27187.9 std=612 p5=26590 median=27045 p95=28990

INFO: Inference timings in us: Init: 61348, First inference: 41223, Warmup (avg): 28050.3, Inference (avg): 27187.9
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=23.6133 overall=31.0039
INFO: Overall peak memory footprint (MB) via periodic monitoring: 38.0273
"""  # noqa: E501  (the tool's output, verbatim)


def test_parser_reads_every_field_of_the_real_format() -> None:
    out = parse_benchmark_model(REAL)
    assert (out.init_us, out.first_us, out.warmup_avg_us, out.inference_avg_us) == (61348, 41223, 28050.3, 27187.9)
    assert [r["count"] for r in out.runs] == [18, 50] and out.runs[1]["median"] == 27045 and out.runs[1]["std"] == 612
    assert (out.memory_init_mb, out.memory_overall_mb, out.peak_mb) == (23.6133, 31.0039, 38.0273)
    assert out.delegation is not None and "completely executed" in out.delegation and out.notes == []


def test_parser_takes_the_edge_cases_of_the_stream_format() -> None:
    # A 1.5 s model streams its doubles in exponent form; one run per phase prints "count=1 curr=.."; an
    # all-equal phase "(all same)"; no warm-up runs give nan; no memory lines where mallinfo is missing.
    text = ("INFO: Though XNNPACK delegate is explicitly applied, the model graph will not be executed by the delegate.\n"
            "INFO: count=0\n\nINFO: count=3 curr=1500000(all same) p5=1500000 median=1500000 p95=1500000\n\n"
            "INFO: Inference timings in us: Init: 2100000, First inference: 0, Warmup (avg): nan, "
            "Inference (avg): 1.5e+06\n")
    out = parse_benchmark_model(text)
    assert out.inference_avg_us == 1.5e6 and out.init_us == 2.1e6 and out.warmup_avg_us != out.warmup_avg_us  # nan
    assert out.runs[1] == {"count": 3, "curr": 1.5e6, "first": 1.5e6, "min": 1.5e6, "max": 1.5e6, "avg": 1.5e6,
                           "std": 0.0, "p5": 1.5e6, "median": 1.5e6, "p95": 1.5e6}
    assert out.measured_runs == 3 and out.memory_overall_mb is None and out.peak_mb is None
    assert out.notes == ["benchmark_model: Though XNNPACK delegate is explicitly applied, the model graph will not be "
                         "executed by the delegate."]
    with pytest.raises(DeviceError, match="without its 'Inference timings in us' line"):
        parse_benchmark_model("INFO: STARTING!\nINFO: Loaded model x.tflite\n")


def test_benchmark_model_is_the_registered_runner_of_tflite() -> None:
    runner = RUNNERS["tflite"]
    assert (runner.name, runner.option, runner.env, runner.backend) == (
        "benchmark_model", "--tflite-benchmark", "AFFDEPLOY_TFLITE_BENCHMARK", "xnnpack")


def test_bench_on_the_phone_with_benchmark_model(on_phone: LoopbackDevice, affnet_et_64_tflite: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "results.json"
    code, out, err = cli(capsys, "bench", "--device", on_phone.serial, "--model", SHARED_MODEL, "--target", "tflite",
                         "--image-size", str(IMAGE_SIZE), "--threads", "2", "--warmup", "2", "--iters", "3",
                         "--models-dir", str(affnet_et_64_tflite.parent),
                         "--tflite-benchmark", str(stand_in(tmp_path / "bin", "benchmark_model")), "--json", str(out_json))
    assert code == 0, err
    (record,) = load_results(out_json)
    assert (record.runner, record.target, record.backend, record.threads) == ("benchmark_model", "tflite", "xnnpack", 2)
    assert len(record.samples_ms) == 3 and all(s > 0 for s in record.samples_ms)
    assert record.load_ms is not None and record.load_ms > 0 and record.first_inference_ms is not None
    assert any("one process per sample, each after 2 warm-up runs" in n for n in record.notes)
    assert any(n.startswith("runner peak working set ") for n in record.notes)
    pinned = [e["command"] for e in on_phone.taskset_log() if e["command"]]
    assert len(pinned) == 3 and all(Path(c[0]).name == "benchmark_model" for c in pinned)
    assert {"--num_threads=2", "--warmup_runs=2", "--num_runs=1", "--min_secs=0", "--use_xnnpack=true"} <= set(pinned[0])
    assert (on_phone.device_path(DEVICE_DIR) / affnet_et_64_tflite.name).is_file()


def test_an_older_build_partial_delegation_is_noted(on_phone: LoopbackDevice, affnet_et_64_tflite: Path,
                                                    tmp_path: Path) -> None:
    runners = RunnerPaths({"tflite": stand_in(tmp_path / "bin", "benchmark_model", "FAKE_BENCHMARK_MODEL=old")})
    (record,) = run_bench(request_for(affnet_et_64_tflite, targets=["tflite"], iters=2), phone(on_phone.serial),
                          runners=runners)
    assert len(record.samples_ms) == 2 and record.first_inference_ms is not None
    assert any("XNNPACK took the graph in 3 delegate kernels" in n for n in record.notes)
    assert not any(n.startswith("runner peak working set") for n in record.notes)  # no memory lines printed


def test_a_build_that_prints_no_timings_fails_at_once(on_phone: LoopbackDevice, affnet_et_64_tflite: Path,
                                                      tmp_path: Path) -> None:
    runners = RunnerPaths({"tflite": stand_in(tmp_path / "bin", "benchmark_model", "FAKE_BENCHMARK_MODEL=silent")})
    with pytest.raises(DeviceError, match="benchmark_model exited 0 without its 'Inference timings in us' line"):
        run_bench(request_for(affnet_et_64_tflite, targets=["tflite"]), phone(on_phone.serial), runners=runners)
