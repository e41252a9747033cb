"""The vocabulary and the target registry: names defined once, lists derived, choices validated in one place."""

from __future__ import annotations

import pytest

from affdeploy.cli._common import target_list
from affdeploy.errors import UsageError
from affdeploy.export import ExportRequest, plan_exports
from affdeploy.export.onnx import OnnxTarget
from affdeploy.export.registry import (
    all_targets,
    artifact_suffixes,
    bench_targets,
    fft_support_table,
    get_target,
    target_for_path,
    target_names,
)
from affdeploy.vocab import Backend, DeviceKind, FFTMode, InputKind, Precision


def test_lists_are_derived_from_the_registered_targets() -> None:
    assert target_names()[:3] == ("onnx", "coreml", "executorch")
    assert bench_targets(DeviceKind.HOST)[:3] == ("torch", "onnx", "executorch")
    assert "coreml" in bench_targets(DeviceKind.IOS) and "torch" not in bench_targets(DeviceKind.IOS)
    assert set(bench_targets(DeviceKind.ANDROID)) >= {"onnx", "executorch"}
    assert {".onnx", ".ort", ".pte", ".mlpackage"} <= set(artifact_suffixes())
    assert ".mlpackage" not in artifact_suffixes(DeviceKind.HOST)
    assert target_for_path("m/x.ort").name == "onnx" and target_for_path("x.pte").name == "executorch"
    with pytest.raises(UsageError, match="expected one of"):
        target_for_path("x.mlpackage", DeviceKind.HOST)
    assert all(t.backends and t.precisions and t.fft_support for t in all_targets())
    assert [r.target for r in plan_exports("affnet-et", "all")] == list(target_names())  # "all": every usable target
    assert [r.target for r in plan_exports("affnet-et", "executorch, onnx")] == ["executorch", "onnx"]
    # -t as the CLI gives it (repeatable, comma-separated, any case): one parser for every command
    repeated = target_list(["executorch", "ONNX,executorch", " tflite "])
    assert [r.target for r in plan_exports("affnet-et", repeated)] == ["executorch", "onnx", "tflite"]
    assert target_list(["onnx", "all"]) == "all"


def test_a_target_whose_extra_is_missing_says_how_to_install_it() -> None:
    class Missing(OnnxTarget):
        requires = ("affdeploy_no_such_module",)
        extra = "tflite"

    assert Missing().unavailable() == 'unavailable: pip install -e ".[tflite]" (missing affdeploy_no_such_module)'
    assert OnnxTarget().unavailable() is None


def test_fft_auto_follows_each_targets_support_rows() -> None:
    """auto runs the FFT pass everywhere; where a native FFT runs (ONNX Runtime's DFT), the pass may keep a
    transform native, per transform, when its cost model says so (docs/fft.md)."""
    from affdeploy.fft.plan import MODELS, NATIVE_MODELS

    onnx, coreml, executorch = (get_target(name) for name in ("onnx", "coreml", "executorch"))
    cpu = fft_support_table()[("onnx", "ort-cpu")]
    assert cpu.native_runs and cpu.native_cost in NATIVE_MODELS and cpu.cost in MODELS
    assert all(row.cost in MODELS and (row.native_cost is None) != row.native_runs
               for (target, _), row in fft_support_table().items() if target != "onnx" or row.native_runs)
    assert onnx.resolve_fft(FFTMode.AUTO, Backend.ONNXRUNTIME) == "dft"
    assert onnx.resolve_fft(FFTMode.NATIVE, Backend.ONNXRUNTIME) == "native"
    assert coreml.resolve_fft(FFTMode.AUTO, Backend.COREML) == "dft"
    assert executorch.resolve_fft(FFTMode.AUTO, Backend.PORTABLE) == "dft"
    with pytest.raises(UsageError, match="Core ML cannot run rfft2/irfft2.*no converter for fft_rfft2.*use --fft dft"):
        coreml.resolve_fft(FFTMode.NATIVE, Backend.COREML)
    with pytest.raises(UsageError, match="ExecuTorch with the xnnpack backend cannot run"):
        executorch.resolve_fft(FFTMode.NATIVE, Backend.XNNPACK)
    assert all(row.source for row in fft_support_table().values())


def test_a_request_is_resolved_and_validated_once() -> None:
    request = ExportRequest.create("affnet-et", "coreml", image_size=64)
    assert (request.backend, request.precision, request.input_kind, request.fft) == (
        Backend.COREML, Precision.FP16, InputKind.IMAGE, FFTMode.DFT)
    assert ExportRequest.create("affnet-et", "executorch", backend="coreml").precision == "fp16"
    # auto lets the pass keep a transform native where ONNX Runtime's DFT is cheaper; dft never does
    assert ExportRequest.create("affnet-et", "onnx", image_size=64).fft_native == "onnxruntime-dft"
    assert ExportRequest.create("affnet-et", "onnx", image_size=64, fft="dft").fft_native is None
    assert ExportRequest.create("affnet-et", "executorch", image_size=64).fft_native is None
    for choices, message in [
        ({"target": "onnx", "fft": "fast"}, "--fft must be one of auto, dft, native"),
        ({"target": "onnx", "backend": "tpu"}, "--backend tpu is not available for --target onnx"),
        ({"target": "executorch", "backend": "portable", "precision": "fp16"},
             "--precision fp16 is not available for --target executorch --backend portable"),
        ({"target": "executorch", "backend": "portable", "require_full_delegation": True}, "needs a delegate"),
        ({"target": "coreml", "fft": "native"}, "Core ML cannot run"),
        ({"target": "tpu"}, "unknown target 'tpu'"),
        ({"target": "onnx", "image_size": 100}, "multiple of 32"),
    ]:
        with pytest.raises(UsageError, match=message):
            ExportRequest.create("affnet-et", **choices)  # type: ignore[arg-type]


def test_a_missing_system_tool_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import require_tool

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="affdeploy-no-such-tool is not installed"):
        require_tool("affdeploy-no-such-tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="affdeploy-no-such-tool is not installed"):
        require_tool("affdeploy-no-such-tool")
    assert require_tool("sh").endswith("/sh")
