"""The GEMM yardsticks: what this machine's dense kernels reach at a given thread count, per precision.

A model's GMAC/s means little on its own; against a large matrix product measured in the same run,
with the same threads, it says how much of the machine the model uses. Three mistakes made an
earlier yardstick read low (and models above 100% of it): best-of instead of median, measured
before and after the models instead of interleaved with them, and a thread setting nobody checked.
Here the thread counts of every pool involved are read back (:func:`thread_setting`) and a
mismatch is an error, and the GEMMs are timed as configurations of the same interleaved rounds.

fp32: torch's MKL and numpy's OpenBLAS. int8 kernels reach far more MAC/s than fp32 ones (four
int8 products per 32-bit lane), so an int8 model measured against the fp32 GEMM reads above 100%:
int8 rows have their own yardstick, the int8 GEMM of each runtime that runs int8 models, in the
scheme those models use (int8 activations, per-channel int8 weights, fp32 in and out):
- ExecuTorch: an int8 ``nn.Linear`` written as PT2E's convert step writes it (quantize/dequantize
  ops around it), lowered to one XNNPACK delegate and run by the ExecuTorch runtime: XNNPACK's
  qs8/qc8w GEMM kernels, the ones AFFNet's int8 1x1 convolutions run on (a 1x1 convolution in
  XNNPACK's NHWC layout is this GEMM), without the layout transposes an NCHW convolution adds at
  the delegate's boundary. Written directly rather than observed by the quantizer: the same speed
  (measured side by side), and both runtimes get the very same int8 tensors.
- ONNX Runtime: a 1x1 ``Conv`` between QuantizeLinear/DequantizeLinear pairs (what static QDQ
  quantization writes for AFFNet's convolutions), which ONNX Runtime fuses into ``QLinearConv`` on
  MLAS's int8 GEMM.
Per precision the faster median is the yardstick, because the stricter reference is the honest one.
The int8 GEMM is 2048^3: at 1024 quantizing its fp32 input and dequantizing its output still cost
about 20% (the fp32 GEMM is at its peak at 1024).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from affdeploy.errors import AffdeployError

GEMM_SIZE = 1024  # fp32: MKL and OpenBLAS reach the GMAC/s of 1536 and 2048 here
INT8_GEMM_SIZE = 2048  # int8: at 1024 quantizing the fp32 input and dequantizing the output still cost ~20%
GEMM_SIZES = {"fp32": GEMM_SIZE, "int8": INT8_GEMM_SIZE}
INT8_GEMMS = ("gemm-int8-xnnpack", "gemm-int8-ort")


@dataclass(frozen=True)
class ThreadSetting:
    """Thread counts as the pools report them (None: that runtime is not loaded in this process)."""

    torch: int
    native_pools: dict[str, int]  # threadpoolctl: OpenMP / BLAS libraries loaded in the process
    executorch: int | None

    def counts(self) -> dict[str, int]:
        counts = {"torch": self.torch, **self.native_pools}
        if self.executorch is not None:
            counts["executorch"] = self.executorch
        return counts


def executorch_pool_size() -> int | None:
    """Threads of ExecuTorch's process-wide XNNPACK pool, if its runtime is loaded."""
    import sys

    runtime = sys.modules.get("executorch.extension.pybindings._C")  # affdeploy.etruntime loads it directly
    return None if runtime is None else int(runtime._threadpool_get_thread_count())


def thread_setting() -> ThreadSetting:
    """Read back what every thread pool in this process is set to."""
    from threadpoolctl import threadpool_info

    pools = {f"{info['user_api']}:{info['prefix']}": int(info["num_threads"]) for info in threadpool_info()}
    return ThreadSetting(torch=torch.get_num_threads(), native_pools=pools, executorch=executorch_pool_size())


def pin_threads(threads: int) -> ThreadSetting:
    """Set torch and the native OpenMP/BLAS pools to ``threads`` and check that they took it.

    ExecuTorch's pool is sized separately, before its methods load (resetting it later would leave
    loaded methods pointing at a destroyed pool): see ``affdeploy.bench.runtimes``.
    """
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    setting = thread_setting()
    check_threads(setting, threads)
    return setting


def check_threads(setting: ThreadSetting, threads: int) -> None:
    """Raise when any pool runs with another thread count than ``threads``."""
    wrong = {name: n for name, n in setting.counts().items() if n != threads}
    if wrong:
        shown = ", ".join(f"{name}={n}" for name, n in sorted(wrong.items()))
        raise AffdeployError(f"thread pools are not at {threads} thread(s): {shown}")


def _operands(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)


def gemm_calls(size: int = GEMM_SIZE, seed: int = 0) -> dict[str, Callable[[], object]]:
    """One ``size``^3 fp32 product per call, per library, writing into preallocated outputs."""
    a, b = _operands(size, seed)
    out = torch.empty(size, size)
    an, bn, outn = a.numpy(), b.numpy(), np.empty((size, size), dtype=np.float32)
    return {
        "gemm-torch": lambda: torch.mm(a, b, out=out),
        "gemm-numpy": lambda: np.matmul(an, bn, out=outn),
    }


@dataclass(frozen=True)
class _Int8Product:
    """``a @ b`` in the models' int8 scheme: per-tensor int8 activations, per-channel int8 weights.

    Both runtimes get the same quantized tensors, written in their own quantize/dequantize form,
    which each fuses into its int8 GEMM kernel (as it does for the models' Q/DQ convolutions).
    """

    weight: torch.Tensor  # (N, K) int8, output channels first
    weight_scale: torch.Tensor  # (N,) float32
    x_scale: float
    y_scale: float

    @classmethod
    def of(cls, a: torch.Tensor, b: torch.Tensor) -> _Int8Product:
        weight = b.T.contiguous()
        weight_scale = weight.abs().amax(1) / 127
        q = torch.round(weight / weight_scale[:, None]).clamp(-127, 127).to(torch.int8)
        return cls(q, weight_scale, float(a.abs().amax()) / 127, float((a @ b).abs().amax()) / 127)


class _Int8Linear(torch.nn.Module):
    """The product as PT2E's convert step writes a static int8 ``nn.Linear`` (quantized_decomposed Q/DQ ops)."""

    def __init__(self, product: _Int8Product) -> None:
        super().__init__()
        import torch.ao.quantization.fx._decomposed  # noqa: F401 - registers torch.ops.quantized_decomposed

        self.register_buffer("weight", product.weight)
        self.register_buffer("weight_scale", product.weight_scale)
        self.register_buffer("weight_zero", torch.zeros(len(product.weight_scale), dtype=torch.int64))
        self.x_scale, self.y_scale = product.x_scale, product.y_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qd = torch.ops.quantized_decomposed
        x = qd.dequantize_per_tensor(qd.quantize_per_tensor(x, self.x_scale, 0, -128, 127, torch.int8),
                                     self.x_scale, 0, -128, 127, torch.int8)
        w = qd.dequantize_per_channel(self.weight, self.weight_scale, self.weight_zero, 0, -127, 127, torch.int8)
        y = torch.nn.functional.linear(x, w)
        return qd.dequantize_per_tensor(qd.quantize_per_tensor(y, self.y_scale, 0, -128, 127, torch.int8),
                                        self.y_scale, 0, -128, 127, torch.int8)


def _xnnpack_int8_linear(dest: Path, a: torch.Tensor, product: _Int8Product) -> Path:
    """The int8 product lowered to one XNNPACK delegate (its qs8 fully-connected, qc8w weights)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.exir.lowered_backend_module import executorch_call_delegate

    with torch.no_grad():
        program = torch.export.export(_Int8Linear(product).eval(), (a,), strict=False)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    outside = [str(n.target) for n in edge.exported_program().graph.nodes if n.op == "call_function"
               and n.target is not operator.getitem and n.target is not executorch_call_delegate]
    if outside:  # a quantize or matmul left to the portable kernels would time those, not XNNPACK's int8 GEMM
        raise AffdeployError(f"the int8 GEMM yardstick is not one XNNPACK delegate call: {', '.join(outside)} "
                             "run outside it")
    dest.write_bytes(edge.to_executorch().buffer)
    return dest


def _qdq_int8_conv(dest: Path, m: int, product: _Int8Product) -> Path:
    """The int8 product as a QDQ 1x1 convolution over an (1, K, M, 1) image, as static QDQ quantization writes one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n, k = product.weight.shape
    tensors = {"w": product.weight.numpy()[:, :, None, None], "w_scale": product.weight_scale.numpy(),
               "w_zero": np.zeros(n, np.int8), "x_scale": np.array(product.x_scale, np.float32),
               "y_scale": np.array(product.y_scale, np.float32), "zero": np.array(0, np.int8)}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "zero"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "zero"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "y_scale", "zero"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_scale", "zero"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "int8_gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k, m, 1])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, n, m, 1])],
                              [numpy_helper.from_array(v, name) for name, v in tensors.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(dest))
    return dest


@dataclass(frozen=True)
class Int8Gemms:
    """The int8 GEMM of each int8 runtime as a file (built once, opened at every thread count)."""

    pte: Path
    onnx: Path
    size: int
    seed: int


def build_int8_gemms(folder: Path, size: int = INT8_GEMM_SIZE, seed: int = 0) -> Int8Gemms:
    """Write the ``size``^3 int8 GEMMs into ``folder``."""
    a, b = _operands(size, seed)
    product = _Int8Product.of(a, b)
    return Int8Gemms(_xnnpack_int8_linear(folder / "gemm-int8.pte", a, product),
                     _qdq_int8_conv(folder / "gemm-int8.onnx", size, product), size, seed)


def int8_gemm_calls(gemms: Int8Gemms, threads: int) -> dict[str, Callable[[], object]]:
    """One int8 product per call and runtime, returning the (size, size) result.

    ExecuTorch's pool must already have ``threads`` (as for the models); ONNX Runtime gets them per session.
    """
    import onnxruntime as ort

    from affdeploy.etruntime import load_forward
    from affdeploy.export.onnx import session_options

    a, _ = _operands(gemms.size, gemms.seed)
    forward = load_forward(gemms.pte)
    session = ort.InferenceSession(str(gemms.onnx), session_options(threads), providers=["CPUExecutionProvider"])
    feed = {"x": a.T.contiguous().numpy()[None, :, :, None]}
    return {
        "gemm-int8-xnnpack": lambda: forward([a])[0],
        "gemm-int8-ort": lambda: session.run(None, feed)[0][0, :, :, 0].T,
    }


def gemm_precision(name: str) -> str:
    """``int8`` for the int8 GEMMs, else ``fp32``."""
    return "int8" if name in INT8_GEMMS else "fp32"


def gemm_macs(size: int = GEMM_SIZE) -> int:
    return size**3


def gmacs_per_s(macs: int, seconds: float) -> float:
    return macs / seconds / 1e9 if seconds > 0 and math.isfinite(seconds) else 0.0


def yardstick(medians_s: dict[str, float], size: int = GEMM_SIZE) -> tuple[str, float]:
    """The faster GEMM library and its GMAC/s, from median seconds per call measured in the same rounds."""
    name = min(medians_s, key=medians_s.__getitem__)
    return name, gmacs_per_s(gemm_macs(size), medians_s[name])


def yardsticks(medians_s: dict[str, float], sizes: dict[str, int] = GEMM_SIZES) -> dict[str, tuple[str, float]]:
    """Per precision (``fp32``, ``int8``): the faster GEMM and its GMAC/s, from the medians of every GEMM timed."""
    by_precision: dict[str, dict[str, float]] = {}
    for name, median in medians_s.items():
        by_precision.setdefault(gemm_precision(name), {})[name] = median
    return {precision: yardstick(medians, sizes[precision]) for precision, medians in by_precision.items()}
