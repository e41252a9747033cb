"""int8: calibration images, the per-op fp32 decision, XNNPACK PT2E and ONNX QDQ, agreement with fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import to_edge_transform_and_lower
from executorch.runtime import Runtime
from PIL import Image
from torch import nn

from affdeploy.data.calibration import MIN_CALIBRATION, MIN_VALIDATION, SHIPPED, load_calibration
from affdeploy.errors import UsageError
from affdeploy.export.parity import compare
from affdeploy.export.quantize import EARLY_STRIDES, INT8_FLOOR, int8_parity, int8_tolerance, quantize_onnx, quantize_pt2e

SIZE = 32
DELEGATE = torch.ops.higher_order.executorch_call_delegate


def test_default_calibration_and_validation_are_different_photographs() -> None:
    found = load_calibration(SIZE, count=4)
    assert found.source == SHIPPED and len(found.calibration) == 4
    assert len(found.validation_files) >= MIN_VALIDATION and not set(found.calibration_files) & set(found.validation_files)
    assert len(found.validation) == len(found.validation_names) == 2 * len(found.validation_files)  # centre + mirrored
    for x in found.calibration + found.validation:
        assert x.shape == (1, 3, SIZE, SIZE) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        assert x.std() > 0.02  # a photo, not a flat image
    assert not any(np.array_equal(c, v) for c in found.calibration for v in found.validation)


def _photos(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")


def test_a_calibration_folder_is_split_by_file_and_its_errors_say_what_to_do(tmp_path: Path) -> None:
    _photos(tmp_path, MIN_VALIDATION + MIN_CALIBRATION + 2)
    (tmp_path / "notes.txt").write_text("not an image")
    found = load_calibration(SIZE, tmp_path)
    assert len(found.validation) == MIN_VALIDATION and len(found.calibration) == MIN_CALIBRATION + 2
    assert not set(found.calibration_files) & set(found.validation_files)
    assert found.record()["split"] == "by file" and found.source == str(tmp_path.resolve())
    assert load_calibration(SIZE, tmp_path).record() == found.record()  # the same split on every run
    few = tmp_path / "few"
    few.mkdir()
    _photos(few, MIN_VALIDATION + MIN_CALIBRATION - 1)
    with pytest.raises(UsageError, match=f"int8 needs at least {MIN_VALIDATION + MIN_CALIBRATION}"):
        load_calibration(SIZE, few)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        load_calibration(SIZE, empty)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match="broken.png cannot be read"):
        load_calibration(SIZE, tmp_path)
    with pytest.raises(UsageError, match="is not a directory"):
        load_calibration(SIZE, tmp_path / "missing")


def test_int8_rule_counts_top1_agreement_and_the_least_cosine() -> None:
    ref = [np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])]
    out = [np.array([2.0, 0.0, 0.0]), np.array([0.0, 1.0, 1.5])]
    result = compare(ref, out, int8_tolerance(INT8_FLOOR))
    assert result.top1_agreement == 0.5 and result.cosine == pytest.approx(0.5547, abs=1e-4) and result.failed
    assert not compare(ref, ref, int8_tolerance(INT8_FLOOR)).failed


class SmallNet(nn.Module):
    """Pointwise 1x1 convs (int8); grouped 1x1 (the filter MLP), stem, the convs at the stem's resolution, depthwise, head,
    GroupNorm and the linear classifier (fp32)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.early = nn.Conv2d(16, 24, 1)  # before the EARLY_STRIDES-th strided conv
        self.down = nn.Sequential(*(nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24) for _ in range(EARLY_STRIDES - 1)))
        self.pointwise = nn.Conv2d(24, 16, 1)
        self.norm = nn.GroupNorm(1, 16)
        self.grouped = nn.Conv2d(16, 16, 1, groups=4)
        self.head = nn.Conv2d(16, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(torch.relu(self.early(torch.relu(self.stem(x)))))
        y = self.grouped(self.norm(torch.relu(self.pointwise(y))))
        return self.fc(self.head(y).mean((2, 3), keepdim=True).flatten(1))


@pytest.fixture(scope="module")
def small() -> tuple[nn.Module, torch.export.ExportedProgram, list[np.ndarray], list[np.ndarray]]:
    from affdeploy.passes import delegate_friendly

    torch.manual_seed(0)
    net = SmallNet().eval()
    found = load_calibration(SIZE, count=8)
    calibration, validation = found.calibration, found.validation
    with torch.no_grad():
        ep = torch.export.export(net, (torch.from_numpy(calibration[0]),), strict=False).run_decompositions({})
    return net, delegate_friendly(ep), calibration, validation


def _fp32(net: nn.Module, images: list[np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        return [net(torch.from_numpy(x)).numpy() for x in images]


def test_xnnpack_int8_is_one_delegate_with_linear_and_norm_in_fp32(small: tuple) -> None:
    net, ep, calibration, validation = small
    quantized = quantize_pt2e(ep, calibration)
    ops = [str(n.target) for n in quantized.graph.nodes if n.op == "call_function"]
    quantize_ops = [n for n in quantized.graph.nodes if "quantize_per" in str(n.target)]
    assert quantize_ops, ops
    kept = [n for n in quantized.graph.nodes if n.target in (torch.ops.aten.linear.default, torch.ops.aten.rsqrt.default)]
    assert len(kept) == 2
    for node in kept:  # fp32 by decision: the head and the norm's statistics are not requantized
        assert not any("quantize_per" in str(u.target) for u in node.users)
    linear = next(n for n in kept if n.target == torch.ops.aten.linear.default)
    assert "dequantize" not in str(linear.args[1].target)  # the head's weight is fp32
    convs = [n for n in quantized.graph.nodes
             if n.target in (torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default)]
    int8 = {tuple(n.args[1].meta["val"].shape) for n in convs if "dequantize" in str(n.args[1].target)}
    assert int8 == {(16, 24, 1, 1)}  # pointwise; stem, early, depthwise, grouped (spectra), head, norm moments fp32
    assert len(convs) > len(int8) + 4  # the moments' convolutions to one channel exist, in fp32
    edge = to_edge_transform_and_lower(quantized, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph
    assert sum(n.target == DELEGATE for n in graph.nodes) == 1
    program = Runtime.get().load_program(edge.to_executorch().buffer)  # the method runs on the program's memory
    method = program.load_method("forward")
    parity = int8_parity(lambda x: method.execute([torch.from_numpy(x)])[0].numpy(), _fp32(net, validation), validation,
                         "test")
    assert parity["passed"] and parity["images"] == len(validation), parity


def test_onnx_static_qdq_int8_agrees_with_fp32(small: tuple, tmp_path: Path) -> None:
    net, ep, calibration, validation = small
    source, dest = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    torch.onnx.export(ep.module(), (torch.from_numpy(calibration[0]),), str(source), dynamo=True, verbose=False)
    quantize_onnx(source, dest, calibration)
    graph = onnx.load(str(dest)).graph
    kinds = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= kinds
    weights = {i.name: tuple(i.dims) for i in graph.initializer}
    fp32 = {weights[n.input[1]] for n in graph.node if n.op_type == "Conv" and n.input[1] in weights}
    assert (24, 16, 1, 1) in fp32 and (16, 24, 1, 1) not in fp32  # early fp32, the pointwise after it int8
    session = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    parity = int8_parity(lambda x: session.run(None, {name: x})[0], _fp32(net, validation), validation, "test")
    assert parity["passed"], parity


def test_affnet_stage_int8_is_one_xnnpack_delegate() -> None:
    """The stage's ``cat([res, proj])`` between int8 convs: fp32 there, XNNPACK found a dependency cycle.

    A conv follows the stage so that its fusion conv is not the last one (``head``, fp32). No AFF block inside:
    the cycle is the fusion's (without ``cat`` in QUANTIZED_OPS this fails with "dependency cycles").
    """
    from affdeploy.models.affnet import AFFBlock
    from affdeploy.passes import delegate_friendly

    torch.manual_seed(0)
    down = [nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16 if i else 1) for i in range(EARLY_STRIDES)]  # past "early"
    stage = nn.Sequential(*down, nn.Conv2d(16, 16, 1), AFFBlock(16, 32, 0), nn.Conv2d(16, 16, 1)).eval()
    x = torch.rand(1, 16, 4 << EARLY_STRIDES, 4 << EARLY_STRIDES)
    with torch.no_grad():
        ep = delegate_friendly(torch.export.export(stage, (x,), strict=False).run_decompositions({}))
    quantized = quantize_pt2e(ep, [torch.rand(x.shape).numpy() for _ in range(4)])
    assert any("quantize_per" in str(n.target) for n in quantized.graph.nodes)
    edge = to_edge_transform_and_lower(quantized, partitioner=[XnnpackPartitioner()])
    assert sum(n.target == DELEGATE for n in edge.exported_program().graph.nodes) == 1
    program = Runtime.get().load_program(edge.to_executorch().buffer)
    method = program.load_method("forward")
    with torch.no_grad():
        expected = stage(x)
    out = method.execute([x])[0]
    assert float(torch.nn.functional.cosine_similarity(out.flatten(), expected.flatten(), dim=0)) > 0.98


def test_calibration_record_names_files_and_changes_with_them(tmp_path: Path) -> None:
    shipped = load_calibration(SIZE).record()
    assert shipped["source"] == SHIPPED and shipped["images"] == len(shipped["calibration_files"]) + len(
        shipped["validation_files"])
    _photos(tmp_path, MIN_VALIDATION + MIN_CALIBRATION)
    before = load_calibration(SIZE, tmp_path).record()
    assert before["source"] == str(tmp_path.resolve()) and before["validation_inputs"] == MIN_VALIDATION
    assert sorted(before["calibration_files"] + before["validation_files"]) == sorted(p.name for p in tmp_path.iterdir())
    _photos(tmp_path, 1, seed=5)  # img00.png changes
    assert load_calibration(SIZE, tmp_path).record()["sha256"] != before["sha256"]  # verify notices


def test_floor_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    from affdeploy.export.quantize import FLOOR_ENV, Floor, int8_floor

    assert int8_floor() == INT8_FLOOR
    monkeypatch.setenv(FLOOR_ENV, "0.5,0.9")
    assert int8_floor() == Floor(top1_agreement=0.5, min_cosine=0.9)
    monkeypatch.setenv(FLOOR_ENV, "high")
    with pytest.raises(UsageError, match="expected two numbers"):
        int8_floor()


def test_half_program_is_fp16_inside_one_delegate_with_fp32_boundary(small: tuple) -> None:
    from affdeploy.export.quantize import half_program

    net, ep, _, validation = small
    half = half_program(ep)
    dtypes = {n.meta["val"].dtype for n in half.graph.nodes if n.op == "call_function"
              and isinstance(n.meta.get("val"), torch.Tensor) and n.meta["val"].is_floating_point()}
    assert torch.float16 in dtypes
    edge = to_edge_transform_and_lower(half, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph
    assert sum(n.target == DELEGATE for n in graph.nodes) == 1
    outside = [str(n.target) for n in graph.nodes if n.op == "call_function" and n.target != DELEGATE
               and "getitem" not in str(n.target)]
    assert len(outside) == 2 and all("_to_dim_order_copy" in op for op in outside)  # the fp32 input/output casts
    program = Runtime.get().load_program(edge.to_executorch().buffer)
    method = program.load_method("forward")
    out = method.execute([torch.from_numpy(validation[0])])[0]
    assert out.dtype == torch.float32
    expected = _fp32(net, validation[:1])[0]
    assert float(np.abs(out.numpy() - expected).max()) < 1e-2 and not np.array_equal(out.numpy(), expected)


def test_int8_keeps_the_fft_passs_concatenations_fp32_and_the_stage_fusion_int8() -> None:
    """XNNPACKQuantizer's ``cat`` annotator ignores the filter function: the spectrum's ``cat`` (real and imaginary
    parts side by side; its DC term sqrt(H*W) times the rest) was quantized with one step per tensor, which took
    AFFNet-ET's trained-like int8 logits at 256 px to a min cosine of 0.56 against fp32 (0.99 with those ``cat``
    fp32). Only the stages' fusion ``cat([res, proj])`` of convolution outputs stays int8."""
    from reduced_affnet import one_aff_block

    from affdeploy.fft import lower_fft
    from affdeploy.graph import example_input, export_program
    from affdeploy.models.affnet import AFFNet
    from affdeploy.passes import delegate_friendly

    torch.manual_seed(0)
    ep = delegate_friendly(lower_fft(export_program(AFFNet(one_aff_block("affnet-et")).eval(), 64)))
    quantized = quantize_pt2e(ep, [example_input(64).numpy() for _ in range(2)])
    cats = [n for n in quantized.graph.nodes if n.target == torch.ops.aten.cat.default]
    int8 = [n for n in cats if any("dequantize" in str(a.target) for a in n.args[0])]
    spectral = [n for n in cats if any(a.target == torch.ops.aten.view.default for a in n.args[0])]
    assert spectral and int8 and not set(spectral) & set(int8), [[str(a.target) for a in n.args[0]] for n in cats]
    for node in int8:  # each reads convolutions through their quantize/dequantize pairs
        producers = {str(a.args[0].args[0].target) for a in node.args[0]}
        assert all("conv" in p for p in producers), producers
