"""The GEMM yardsticks (fp32 and int8), their thread pinning, and the executed-MAC count of lowered programs."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from affdeploy.bench.yardstick import (
    ThreadSetting,
    build_int8_gemms,
    check_threads,
    executorch_pool_size,
    gemm_calls,
    gmacs_per_s,
    int8_gemm_calls,
    pin_threads,
    thread_setting,
    yardstick,
    yardsticks,
)
from affdeploy.errors import AffdeployError
from affdeploy.etruntime import set_threads as set_executorch_threads
from affdeploy.fft import lower_fft
from affdeploy.models.affnet import AdaptiveFrequencyFilter
from affdeploy.models.executed import executed_macs
from affdeploy.passes import delegate_friendly


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Tests here change process-wide pools; put torch's count back for the rest of the session."""
    before, pool = torch.get_num_threads(), executorch_pool_size()
    yield
    torch.set_num_threads(before)
    if pool is not None:
        set_executorch_threads(pool)


def test_pin_threads_sets_every_pool(restore_threads: None) -> None:
    set_executorch_threads(1)  # sized apart (before methods load); pin_threads checks it with the rest
    setting = pin_threads(1)
    assert setting.torch == 1 == torch.get_num_threads()
    assert setting.native_pools and set(setting.native_pools.values()) == {1}
    assert thread_setting().native_pools == setting.native_pools


def test_executorch_pool_is_read_back_and_a_mismatch_is_an_error(restore_threads: None) -> None:
    set_executorch_threads(1)
    assert thread_setting().executorch == 1
    # The GEMM timed at 2 threads next to a model whose pool has 1 thread is the broken yardstick.
    with pytest.raises(AffdeployError, match="executorch=1"):
        pin_threads(2)
    set_executorch_threads(2)
    assert pin_threads(2).counts() == dict.fromkeys(pin_threads(2).counts(), 2)


def test_check_threads_names_every_wrong_pool() -> None:
    setting = ThreadSetting(torch=2, native_pools={"openmp:libgomp": 1}, executorch=3)
    with pytest.raises(AffdeployError, match=r"at 1 thread\(s\): executorch=3, torch=2"):
        check_threads(setting, 1)
    check_threads(ThreadSetting(torch=1, native_pools={}, executorch=None), 1)


def test_gemm_calls_compute_the_product_and_the_faster_median_is_the_yardstick() -> None:
    calls = gemm_calls(size=64)
    results = [np.asarray(call()) for call in calls.values()]
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-4)
    name, gmacs = yardstick({"gemm-torch": 0.02, "gemm-numpy": 0.01}, size=1000)
    assert name == "gemm-numpy" and gmacs == pytest.approx(100.0)
    assert gmacs_per_s(10**9, float("inf")) == 0.0


def test_each_precision_has_its_own_yardstick() -> None:
    medians = {"gemm-torch": 0.02, "gemm-numpy": 0.01, "gemm-int8-xnnpack": 0.004, "gemm-int8-ort": 0.005}
    sticks = yardsticks(medians, sizes={"fp32": 1000, "int8": 1000})
    assert sticks == {"fp32": ("gemm-numpy", pytest.approx(100.0)), "int8": ("gemm-int8-xnnpack", pytest.approx(250.0))}
    assert yardsticks({"gemm-torch": 0.02}, sizes={"fp32": 1000}) == {"fp32": ("gemm-torch", pytest.approx(50.0))}


def test_int8_gemms_multiply_in_int8_kernels(tmp_path: Path, restore_threads: None) -> None:
    import onnx
    import onnxruntime as ort

    from affdeploy.export.onnx import session_options

    gemms = build_int8_gemms(tmp_path, size=64, seed=3)
    generator = torch.Generator().manual_seed(3)
    a, b = torch.randn(64, 64, generator=generator), torch.randn(64, 64, generator=generator)
    reference = (a @ b).numpy().ravel()
    set_executorch_threads(1)
    for name, call in int8_gemm_calls(gemms, threads=1).items():
        out = np.asarray(call(), dtype=np.float64).ravel()
        cosine = out @ reference / (np.linalg.norm(out) * np.linalg.norm(reference))
        assert cosine > 0.99, name  # the product itself, through int8 rounding
    # ONNX Runtime must fuse the QDQ pattern into its int8 convolution; an fp32 Conv behind DequantizeLinear
    # would make the "int8" yardstick an fp32 one.
    optimized = tmp_path / "optimized.onnx"
    options = session_options(1)
    options.optimized_model_filepath = str(optimized)
    ort.InferenceSession(str(gemms.onnx), options, providers=["CPUExecutionProvider"])
    ops = [node.op_type for node in onnx.load(str(optimized)).graph.node]
    assert "QLinearConv" in ops and "Conv" not in ops


def test_bench_runtimes_holds_int8_rows_to_the_int8_yardstick_and_flags_a_beaten_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    script = importlib.import_module("bench_runtimes")
    assert [script.yardstick_precision(r) for r in ("ort-dft-int8", "executorch-xnnpack-int8", "executorch-xnnpack-fp16")] \
        == ["int8", "int8", "fp32"]
    rows = [{"model": "", "runtime": "gemm-int8-ort", "threads": 1, "nominal_of_yardstick": 0.0,
             "executed_of_yardstick": 0.0},
            {"model": "affnet-t", "runtime": "executorch-xnnpack-int8", "threads": 1, "yardstick_name": "gemm-int8-ort",
             "nominal_of_yardstick": 0.31, "executed_of_yardstick": 0.33},
            {"model": "affnet", "runtime": "ort-dft", "threads": 2, "yardstick_name": "gemm-numpy",
             "nominal_of_yardstick": 0.97, "executed_of_yardstick": 1.04}]
    assert script.beaten(rows) == ["affnet ort-dft at 2 thread(s): 104% of gemm-numpy"]


class _Contractions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.grouped = nn.Conv2d(8, 8, 1, groups=4)
        self.fc = nn.Linear(8, 5)
        self.register_buffer("m", torch.randn(6, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.grouped(self.conv(x))  # (1, 8, 6, 6)
        return self.fc((y @ self.m).mean((2, 3)))


def test_executed_macs_count_every_contraction_exactly() -> None:
    counts = executed_macs(export_program_of(_Contractions(), torch.rand(1, 3, 6, 6)))
    conv = 8 * 36 * 3 * 9
    grouped = 8 * 36 * 2
    assert sum(counts.values()) == conv + grouped + 8 * 6 * 6 * 6 + 5 * 8


def export_program_of(module: nn.Module, x: torch.Tensor) -> torch.export.ExportedProgram:
    with torch.no_grad():
        return torch.export.export(module.eval(), (x,), strict=False).run_decompositions({})


def test_executed_macs_of_a_lowered_aff_filter_exceed_its_nominal_count() -> None:
    c, h, w = 64, 8, 8
    module = AdaptiveFrequencyFilter(c)
    counts = executed_macs(delegate_friendly(lower_fft(export_program_of(module, torch.rand(1, c, h, w)))))
    bins = c * h * (w // 2 + 1)
    assert counts["convolution"] == 8 * bins * module.group_size  # the complex group-linear MLP, 8 real products
    # DFT matrix products cost more than the radix-2 FFTs they replace: the artifact does more work.
    dft = sum(counts.values()) - counts["convolution"]
    assert dft > 2 * c * h * w * math.log2(h * w)
