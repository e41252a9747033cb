"""int8 for ExecuTorch XNNPACK (PT2E) and ONNX Runtime (static QDQ), with accuracy against fp32.

Both quantize the program the fp32 artifact is lowered from (DFT lowering + delegate-friendly
rewrites), so the int8 graph has the fp32 graph's structure and stays one XNNPACK delegate call.
Every convolution runs in int8 (82% of AFFNet-T's executed MACs), the grouped 1x1 convolutions of
the filter MLP included. fp32 stays:

- the DFT matrix products (``linear``): their inputs span the whole spectrum's dynamic range, and an
  int8 DFT perturbs every frequency of every AFF block;
- normalisation (the GroupNorm moments and their scaling): the centred squares are tiny with
  untrained weights (variances near 1e-9, below the observer's minimum scale), so an int8 norm
  outputs zeros (the all-zero PT2E output seen with a global config);
- elementwise ops (SiLU, residual adds, the spectral mask) and the classifier.

Parity of an int8 artifact is not a 1e-4 bound: top-1 agreement and cosine similarity of the logits
against fp32 on validation images the calibration did not see, with a floor below which the export
fails (:data:`INT8_FLOOR`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.export import ExportedProgram

FP32_OPS = ("DFT matrix products (linear)", "normalisation (GroupNorm moments)", "elementwise ops", "classifier (linear)")


@dataclass(frozen=True)
class Floor:
    """The least agreement with fp32 an int8 artifact must reach on the validation images."""

    top1_agreement: float
    min_cosine: float


INT8_FLOOR = Floor(top1_agreement=0.75, min_cosine=0.95)


def recalibrate_batchnorm(net: nn.Module, images: Sequence[np.ndarray]) -> None:
    """Reset every BatchNorm's running statistics to the statistics of ``images`` (cumulative average).

    Only for models without trained weights: their running statistics (mean 0, variance 1) do not
    match their activations, which shrink layer by layer until int8 cannot represent them.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    net.train()
    try:
        with torch.no_grad():
            for x in images:
                net(torch.from_numpy(x))
    finally:
        net.eval()


QUANTIZED_OPS = (torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default, torch.ops.aten.cat.default)
"""Convolutions (dense, depthwise, the filter MLP's grouped 1x1) and concatenations of their outputs.

A ``cat`` of int8 tensors is exact in int8; left in fp32 between quantized convolutions (AFFNet's
stage fusion ``cat([res, proj])``), it made XNNPACK's partitioner fail with "dependency cycles".
"""


def quantize_pt2e(ep: ExportedProgram, calibration: Sequence[np.ndarray]) -> ExportedProgram:
    """XNNPACKQuantizer (symmetric, per-channel weights) on ``ep``'s convolutions, observed on ``calibration``.

    Only :data:`QUANTIZED_OPS` get a config: a global config with a filter still quantizes the norm's
    statistics, because the quantizer propagates annotations through neighbouring ops.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer()
    for op in QUANTIZED_OPS:  # no global config: everything else stays fp32
        quantizer.set_operator_type(op, config)
    prepared = prepare_pt2e(ep.module(), quantizer)
    with torch.no_grad():
        for x in calibration:
            prepared(torch.from_numpy(x))
    converted = convert_pt2e(prepared)
    example = (torch.from_numpy(calibration[0]),)
    with torch.no_grad():
        return torch.export.export(converted, example, strict=False)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our calibration inputs."""

    def __init__(self, name: str, images: Sequence[np.ndarray]) -> None:
        self._feeds = iter([{name: x} for x in images])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize_onnx(source: Path, dest: Path, calibration: Sequence[np.ndarray]) -> None:
    """Static QDQ int8 (per-channel weights) of an fp32 ONNX file: the same convolutions as for ExecuTorch."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    name = onnx.load(str(source), load_external_data=False).graph.input[0].name
    quantize_static(
        str(source), str(dest), _Reader(name, calibration), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
        op_types_to_quantize=["Conv"],
    )


def agreement(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> dict[str, Any]:
    """Top-1 agreement and cosine similarity of logits, per image and summarised."""
    cosines, same = [], 0
    for ref, out in zip(reference, outputs, strict=True):
        r, o = np.asarray(ref, dtype=np.float64).ravel(), np.asarray(out, dtype=np.float64).ravel()
        denom = float(np.linalg.norm(r) * np.linalg.norm(o))
        cosines.append(float(r @ o / denom) if denom else 0.0)
        same += int(r.argmax() == o.argmax())
    return {"images": len(cosines), "top1_agreement": same / len(cosines), "min_cosine": min(cosines),
            "mean_cosine": float(np.mean(cosines))}


def meets(result: dict[str, Any], floor: Floor = INT8_FLOOR) -> bool:
    return result["top1_agreement"] >= floor.top1_agreement and result["min_cosine"] >= floor.min_cosine


def int8_parity(run: Callable[[np.ndarray], np.ndarray], reference: Sequence[np.ndarray],
                validation: Sequence[np.ndarray], source: str, floor: Floor = INT8_FLOOR) -> dict[str, Any]:
    """The parity record of an int8 artifact: agreement with fp32 on ``validation``, the floor, the fp32 ops."""
    result = agreement(reference, [run(x) for x in validation])
    return {**result, "passed": meets(result, floor), "floor": asdict(floor), "images_from": source,
            "kept_fp32": list(FP32_OPS)}
