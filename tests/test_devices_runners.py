"""Parsers of the native runners' real output formats, command lines, core pinning, profiles (no device needed)."""

from __future__ import annotations

import shlex

import pytest

from affdeploy.devices.android import parsing as rn
from affdeploy.devices.android.probes import Cluster
from affdeploy.devices.android.runners import executor_runner_command, ort_perf_test_command
from affdeploy.devices.android.session import FIRST_STEP_S, MARGIN_S, SLACK, Pace, big_core_mask
from affdeploy.devices.profiles import PROFILES, profile_for_model
from affdeploy.errors import DeviceError

# executor_runner logs (posix PAL format) as a 2025+ build prints them.
ET_LOG = """\
I 00:00:00.000512 executorch:executor_runner.cpp:322] Resetting threadpool with num threads = 2
I 00:00:00.001911 executorch:executor_runner.cpp:471] Model file /data/local/tmp/affdeploy/m.pte is loaded.
I 00:00:00.001920 executorch:executor_runner.cpp:481] Using method forward
I 00:00:00.052100 executorch:executor_runner.cpp:620] Model loaded in 50.125000 ms.
I 00:00:00.082100 executorch:executor_runner.cpp:790] Iteration 1 of 4: 30.500000 ms
I 00:00:00.102100 executorch:executor_runner.cpp:790] Iteration 2 of 4: 20.250000 ms
I 00:00:00.122100 executorch:executor_runner.cpp:790] Iteration 3 of 4: 19.750000 ms
I 00:00:00.142100 executorch:executor_runner.cpp:790] Iteration 4 of 4: 20.000000 ms
I 00:00:00.142200 executorch:executor_runner.cpp:800] Model executed successfully 4 time(s) in 90.500000 ms.
I 00:00:00.142210 executorch:executor_runner.cpp:806] 1 outputs:
OutputX 0: tensor(sizes=[1, 1000], [0.1, 0.2, ...])
"""
# An older build: only the total.
ET_LEGACY = """\
I 00:00:00.001911 executorch:executor_runner.cpp:146] Model file m.pte is loaded.
I 00:00:00.142200 executorch:executor_runner.cpp:245] Model executed successfully 2 time(s) in 41.000000 ms.
"""
# onnxruntime_perf_test stdout (performance_runner.cc) and its result file (DumpToFile with -s).
ORT_STDOUT = """\
Setting intra_op_num_threads to 2
Session creation time cost: 0.217932 s
First inference time cost: 196 ms
Total inference time cost: 0.0301 s
Total inference requests: 3
Average inference time cost total: 10.033333 ms
Total inference run time: 0.0302 s
Number of inferences per second: 99.3
Avg CPU usage: 11 %
Peak working set size: 271122432 bytes
"""
ORT_RESULT = """\
affdeploy,0.0098,271122432,11,0
affdeploy,0.0101,271122432,11,1
affdeploy,1.01e-02,271122432,11,2

Min Latency: 0.0098 s
Max Latency: 0.0101 s
P50 Latency: 0.0101 s
"""


def test_executor_runner_per_iteration_log_drops_warmup() -> None:
    out = rn.parse_executor_runner(ET_LOG, warmup=1)
    assert out.samples_ms == [20.25, 19.75, 20.0]
    assert out.load_ms == 50.125
    assert out.first_inference_ms == 30.5
    assert rn.logs_iterations(ET_LOG)


def test_executor_runner_legacy_log_gives_one_sample_per_process() -> None:
    assert not rn.logs_iterations(ET_LEGACY)
    out = rn.parse_executor_runner(ET_LEGACY, warmup=0)
    assert out.samples_ms == [20.5]


def test_executor_runner_without_total_is_an_error() -> None:
    with pytest.raises(DeviceError, match="Model executed successfully"):
        rn.parse_executor_runner(ET_LOG.replace("Model executed successfully", "Model ran"), warmup=0)


def test_release_build_without_logging_names_the_cause_and_the_flag() -> None:
    silent = "OutputX 0: tensor(sizes=[1, 1000], [0.1, 0.2, ...])\n"  # all a Release build prints
    with pytest.raises(DeviceError, match="without printing a single ET_LOG line") as err:
        rn.parse_executor_runner(silent, warmup=0)
    assert "Debug builds" in err.value.message and "-DEXECUTORCH_ENABLE_LOGGING=ON" in str(err.value)


def test_executor_runner_iteration_count_mismatch_is_an_error() -> None:
    broken = "\n".join(line for line in ET_LOG.splitlines() if "Iteration 3" not in line)
    with pytest.raises(DeviceError, match="3 iterations but reported 4"):
        rn.parse_executor_runner(broken, warmup=0)


def test_ort_perf_test_samples_come_from_the_result_file() -> None:
    out = rn.parse_ort_perf_test(ORT_STDOUT, ORT_RESULT)
    assert out.samples_ms == pytest.approx([9.8, 10.1, 10.1])
    assert out.load_ms == pytest.approx(217.932)
    assert out.first_inference_ms == 196
    assert out.peak_memory_bytes == 271122432
    assert not any("differs" in n for n in out.notes)


def test_ort_perf_test_older_average_line_and_mismatch_note() -> None:
    stdout = ORT_STDOUT.replace("Average inference time cost total: 10.033333", "Average inference time cost: 30")
    out = rn.parse_ort_perf_test(stdout, ORT_RESULT)
    assert any("differs" in n for n in out.notes)


def test_ort_perf_test_empty_result_file_is_an_error() -> None:
    with pytest.raises(DeviceError, match="no per-run lines"):
        rn.parse_ort_perf_test(ORT_STDOUT, "\nMin Latency: 0.0098 s\n")


def test_command_lines_use_the_real_flags() -> None:
    et = shlex.split(executor_runner_command("./executor_runner", "/d/m.pte", executions=7, threads=2))
    assert et == ["./executor_runner", "--model_path=/d/m.pte", "--num_executions=7", "--cpu_threads=2"]
    ort = shlex.split(ort_perf_test_command("./onnxruntime_perf_test", "/d/m.onnx", "/d/r.csv", runs=5, threads=1,
                                            provider="cpu"))
    assert ort == ["./onnxruntime_perf_test", "-m", "times", "-r", "5", "-x", "1", "-e", "cpu", "-I",
                   "/d/m.onnx", "/d/r.csv"]


@pytest.mark.parametrize(
    ("threads", "mask", "cpus"),
    [(1, 0xC0, [6, 7]), (2, 0xC0, [6, 7]), (3, 0xF0, [4, 5, 6, 7]), (8, 0xFF, list(range(8)))],
)
def test_big_core_mask_widens_from_the_big_cluster(threads: int, mask: int, cpus: list[int]) -> None:
    clusters = [Cluster((0, 1, 2, 3), 1803000), Cluster((4, 5), 2348000), Cluster((6, 7), 2850000)]
    assert big_core_mask(clusters, threads) == (mask, cpus)


def test_runner_limits_derive_from_what_was_measured() -> None:
    pace = Pace()
    assert pace.first_limit() == FIRST_STEP_S  # the bounded default, before anything is measured
    pace.measured(first_s=2.0, execution_s=0.05)
    pace.measured(first_s=3.0, execution_s=0.1)  # the fastest start, the slowest inference
    assert pace.first_limit() == pytest.approx(SLACK * 2.0 + MARGIN_S)
    assert pace.limit(1001) == pytest.approx(pace.first_limit() + 1000 * SLACK * 0.1)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        # Galaxy S23/S24 in every region: international, US carriers, US unlocked, Canada, Korea, China/HK
        *((m, "galaxy-s23") for m in ("SM-S911B", "SM-S911U", "SM-S911U1", "SM-S911W", "SM-S911N", "SM-S9110")),
        *((m, "galaxy-s24") for m in ("SM-S921B", "SM-S921U", "SM-S921U1", "SM-S921W", "SM-S921N", "SM-S9210")),
        *((m, "oneplus11") for m in ("CPH2447", "CPH2449", "CPH2451", "PHB110")),
        ("Pixel 7", "pixel7"), ("Pixel_7_Pro", "pixel7pro"), ("pixel 8", "pixel8"), ("iPhone16,1", "iphone15pro"),
    ],
)
def test_profiles_match_every_regional_model_number(model: str, name: str) -> None:
    prof = profile_for_model(model)
    assert prof is not None and prof.name == name


def test_profiles_do_not_match_neighbours() -> None:
    for model in ("SM-S916B", "SM-S918U1", "Pixel 7a", "Pixel 8a", "iPhone16,2", ""):  # S23+, S23 Ultra, ...
        assert profile_for_model(model) is None, model
    assert all(p.match for p in PROFILES.values())
