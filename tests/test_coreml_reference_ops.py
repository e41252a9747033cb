"""Every op of the reference interpreter against an independent reference (PyTorch or plain NumPy).

All cases are built with coremltools' MIL builder into ONE program (each case its own inputs and
outputs), converted with ``ct.convert(..., pass_pipeline=EMPTY)`` so the ops stay as written,
saved as a real .mlpackage and loaded back by the interpreter: one conversion for the whole table.
A test at the end checks that every registered op has a case here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

ct = pytest.importorskip("coremltools")
from coremltools.converters.mil import Builder as mb  # noqa: E402
from coremltools.converters.mil.mil import Function, Program, types  # noqa: E402

from affdeploy.coreml_reference import MilProgram, supported_ops  # noqa: E402

RNG = np.random.default_rng(7)
F32 = np.float32


def rand(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape).astype(F32)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


@dataclass
class Case:
    """One op under test: inputs, a MIL builder over them and an independent reference."""

    id: str
    op: str
    inputs: dict[str, np.ndarray]
    build: Callable[..., Any]
    reference: Callable[..., Any]
    atol: float = 2e-5


X = rand(2, 3, 5, 5)
Y = rand(3, 1, 1)
POS = rand(2, 3, 4, low=0.1, high=3.0)
UNIT = rand(2, 3, 4, low=-0.9, high=0.9)
IDX = np.array([2, 0, 1, 1], dtype=np.int32)
W33 = rand(4, 3, 3, 3)
B4 = rand(4)
W6G = rand(6, 2, 3, 2)
WDW = rand(6, 1, 3, 3)
W1D = rand(4, 3, 3)
WT = rand(4, 2, 3, 3)
BT = rand(4)
MEAN3, VAR3 = rand(3), rand(3, low=0.5, high=2.0)
GAMMA3, BETA3 = rand(3), rand(3)
GAMMA6, BETA6 = rand(6), rand(6)
LIN_W, LIN_B = rand(5, 6), rand(5)


def binary(op: str, ref: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray = X,
           y: np.ndarray = Y) -> Case:
    return Case(op, op, {"x": x, "y": y}, lambda x, y: getattr(mb, op)(x=x, y=y), lambda x, y: ref(x, y))


def compare(op: str, ref: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Case:
    return Case(op, op, {"x": X, "y": Y}, lambda x, y: mb.cast(x=getattr(mb, op)(x=x, y=y), dtype="int32"),
                lambda x, y: ref(x, y).astype(np.int32))


def logical(op: str, ref: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Case:
    return Case(op, op, {"x": X, "y": Y},
                lambda x, y: mb.cast(x=getattr(mb, op)(x=mb.greater(x=x, y=0.0), y=mb.less(x=y, y=0.5)), dtype="int32"),
                lambda x, y: ref(x > 0, y < 0.5).astype(np.int32))


def unary(op: str, ref: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray = X, atol: float = 2e-5,
          **kwargs: Any) -> Case:
    return Case(op, op, {"x": x}, lambda x: getattr(mb, op)(x=x, **kwargs), lambda x: ref(t(x)).numpy(), atol)


def _sdpa_ref(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    return F.scaled_dot_product_attention(t(q), t(k), t(v)).numpy()


# ---------------------------------------------------------------- recurrent layers: weights and references
# Expected values come from PyTorch's nn.LSTM / nn.GRU / nn.RNN with their weights rearranged into MIL's
# layout, or, for what PyTorch has no mode for (peephole, clip, other activations, Core ML's GRU), from the
# textbook step loops below, which test_recurrent_references_agree_with_torch checks against PyTorch where
# it does have the mode. States absent in PyTorch are zero constants in MIL (initial_h/c are required).
STEPS, BATCH, IN, HID = 5, 2, 3, 4
SEQ = rand(STEPS, BATCH, IN)
H0, C0 = rand(BATCH, HID, low=-1, high=1), rand(BATCH, HID, low=-1, high=1)
H0_BI, C0_BI = rand(BATCH, 2 * HID, low=-1, high=1), rand(BATCH, 2 * HID, low=-1, high=1)


def _torch_layer(cls: type[nn.RNNBase], **kwargs: Any) -> nn.RNNBase:
    """A seq-first torch layer IN -> HID whose parameters are drawn from RNG (not torch's generator)."""
    layer = cls(IN, HID, **kwargs)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(t(rand(*p.shape, low=-0.8, high=0.8)))
    return layer.eval()


LSTM_T = _torch_layer(nn.LSTM)
LSTM_NOBIAS_T = _torch_layer(nn.LSTM, bias=False)
LSTM_BI_T = _torch_layer(nn.LSTM, bidirectional=True)
GRU_T = _torch_layer(nn.GRU)
RNN_TANH_T, RNN_RELU_T = _torch_layer(nn.RNN), _torch_layer(nn.RNN, nonlinearity="relu", bias=False)


def _p(layer: nn.Module, name: str) -> np.ndarray | None:
    value = getattr(layer, name, None)
    return None if value is None else value.detach().numpy()


def _mil_lstm(layer: nn.LSTM) -> dict[str, np.ndarray]:
    """MIL lstm weights of a torch LSTM: gate rows [i, f, g, o] -> [i, f, o, g], the two biases summed."""
    def ifoz(w: np.ndarray) -> np.ndarray:
        i, f, g, o = np.split(w, 4)
        return np.concatenate([i, f, o, g])

    out = {}
    for suffix, back in (("_l0", ""), ("_l0_reverse", "_back")):
        if _p(layer, "weight_ih" + suffix) is None:
            continue
        out["weight_ih" + back] = ifoz(_p(layer, "weight_ih" + suffix))
        out["weight_hh" + back] = ifoz(_p(layer, "weight_hh" + suffix))
        if layer.bias:
            out["bias" + back] = ifoz(_p(layer, "bias_ih" + suffix) + _p(layer, "bias_hh" + suffix))
    return out


def _mil_gru_reset_after(layer: nn.GRU) -> dict[str, np.ndarray]:
    """MIL gru (iOS 18, reset_after) weights of a torch GRU: rows [r, z, n] -> [r, n, z], biases kept apart."""
    def roz(w: np.ndarray) -> np.ndarray:
        r, z, n = np.split(w, 3)
        return np.concatenate([r, n, z])

    return {"weight_ih": roz(_p(layer, "weight_ih_l0")), "weight_hh": roz(_p(layer, "weight_hh_l0")),
            "input_bias": roz(_p(layer, "bias_ih_l0")), "bias": roz(_p(layer, "bias_hh_l0"))}


def _mil_rnn(layer: nn.RNN) -> dict[str, np.ndarray]:
    out = {"weight_ih": _p(layer, "weight_ih_l0"), "weight_hh": _p(layer, "weight_hh_l0")}
    if layer.bias:
        out["bias"] = _p(layer, "bias_ih_l0") + _p(layer, "bias_hh_l0")
    return out


def _torch_run(layer: nn.RNNBase, x: np.ndarray, *states: np.ndarray, reverse: bool = False,
               last: bool = False) -> tuple[np.ndarray, ...]:
    """The layer on x (time-reversed for MIL's reverse direction) from MIL-layout states (B, D*H), zeros if none;
    outputs as MIL returns them: (sequence or (1, B, D*H) last output, final h[, final c]) in MIL layout."""
    dirs = 2 if layer.bidirectional else 1
    to_torch = [t(np.stack(np.split(s, dirs, axis=-1))) for s in states]
    with torch.no_grad():
        out, finals = layer(t(x[::-1].copy() if reverse else x),
                            (tuple(to_torch) if isinstance(layer, nn.LSTM) else to_torch[0]) if states else None)
    finals = finals if isinstance(finals, tuple) else (finals,)
    seq = out.numpy()
    if last:  # the forward half's last step and the backward half's first (its own last), as coremltools' tests do
        seq = np.concatenate([seq[-1:, :, :HID], seq[:1, :, HID:]], -1) if dirs == 2 else seq[-1:]
    return (seq, *(np.concatenate(list(f.numpy()), axis=-1) for f in finals))


_ACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "scaled_tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0), "linear": lambda v: v,
    "hard_sigmoid": lambda v: np.minimum(np.maximum(0.2 * v + 0.5, 0), 1),
}
_ACT["sigmoid_hard"] = _ACT["hard_sigmoid"]


def _gates(w: np.ndarray | None, names: str, size: int) -> dict[str, np.ndarray]:
    return dict(zip(names, np.split(np.zeros(len(names) * size, F32) if w is None else w, len(names)), strict=True))


def np_lstm(x: np.ndarray, h: np.ndarray, c: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray,
            bias: np.ndarray | None = None, peephole: np.ndarray | None = None, reverse: bool = False,
            acts: tuple[str, str, str] = ("sigmoid", "tanh", "tanh"), clip: float = np.inf) -> tuple[np.ndarray, ...]:
    """Core ML's LSTM (the formulas of coremltools' runtime tests) for one direction, one batch row at a time;
    states in processing order."""
    gate, cell, out_act = (_ACT[a] for a in acts)
    w, r, b = _gates(weight_ih, "ifoz", HID), _gates(weight_hh, "ifoz", HID), _gates(bias, "ifoz", HID)
    p = _gates(peephole, "ifo", HID)
    outs, hs, cs = [], [], []
    for row in range(x.shape[1]):
        hr, cr, seq = h[row], c[row], []
        for step in (reversed(range(len(x))) if reverse else range(len(x))):
            pre = {g: w[g] @ x[step, row] + r[g] @ hr + b[g] for g in "ifoz"}
            i, f = gate(pre["i"] + p["i"] * cr), gate(pre["f"] + p["f"] * cr)
            cr = np.minimum(np.maximum(f * cr + i * cell(pre["z"]), -clip), clip)
            hr = gate(pre["o"] + p["o"] * cr) * out_act(cr)
            seq.append(hr)
        outs.append(np.stack(seq))
        hs.append(hr)
        cs.append(cr)
    return np.stack(outs, 1), np.stack(hs), np.stack(cs)


def np_bilstm(x: np.ndarray, h: np.ndarray, c: np.ndarray, weights: dict[str, np.ndarray], peephole: np.ndarray,
              peephole_back: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, ...]:
    """A forward and a reverse np_lstm side by side, the reverse one's sequence put back in input order."""
    fwd = np_lstm(x, h[:, :HID], c[:, :HID], weights["weight_ih"], weights["weight_hh"], weights["bias"], peephole,
                  **kwargs)
    bwd = np_lstm(x, h[:, HID:], c[:, HID:], weights["weight_ih_back"], weights["weight_hh_back"],
                  weights["bias_back"], peephole_back, reverse=True, **kwargs)
    return (np.concatenate([fwd[0], bwd[0][::-1]], -1),
            *(np.concatenate([a, b], -1) for a, b in zip(fwd[1:], bwd[1:], strict=True)))


def np_gru(x: np.ndarray, h: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray, bias: np.ndarray,
           reverse: bool = False, acts: tuple[str, str] = ("sigmoid", "tanh")) -> tuple[np.ndarray, ...]:
    """Core ML's GRU, the reset gate applied to h before the recurrent product (coremltools' runtime tests)."""
    gate, act = (_ACT[a] for a in acts)
    w, r, b = _gates(weight_ih, "roz", HID), _gates(weight_hh, "roz", HID), _gates(bias, "roz", HID)
    outs = []
    for step in (reversed(range(len(x))) if reverse else range(len(x))):
        xt = x[step]
        reset = gate(xt @ w["r"].T + h @ r["r"].T + b["r"])
        update = gate(xt @ w["z"].T + h @ r["z"].T + b["z"])
        h = (1 - update) * act(xt @ w["o"].T + (reset * h) @ r["o"].T + b["o"]) + update * h
        outs.append(h)
    return np.stack(outs), h


def np_rnn(x: np.ndarray, h: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray, bias: np.ndarray | None = None,
           reverse: bool = False, act: str = "tanh") -> tuple[np.ndarray, ...]:
    outs = []
    for step in (reversed(range(len(x))) if reverse else range(len(x))):
        h = _ACT[act](x[step] @ weight_ih.T + h @ weight_hh.T + (0 if bias is None else bias))
        outs.append(h)
    return np.stack(outs), h


LSTM_W, LSTM_NOBIAS_W, LSTM_BI_W = _mil_lstm(LSTM_T), _mil_lstm(LSTM_NOBIAS_T), _mil_lstm(LSTM_BI_T)
GRU_AFTER_W = _mil_gru_reset_after(GRU_T)
GRU_W = {"weight_ih": rand(3 * HID, IN, low=-0.8, high=0.8), "weight_hh": rand(3 * HID, HID, low=-0.8, high=0.8),
         "bias": rand(3 * HID, low=-0.8, high=0.8)}
RNN_TANH_W, RNN_RELU_W = _mil_rnn(RNN_TANH_T), _mil_rnn(RNN_RELU_T)
PEEP, PEEP_BACK = rand(3 * HID, low=-1, high=1), rand(3 * HID, low=-1, high=1)
ZERO_H = np.zeros((BATCH, HID), F32)


def _last(outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """output_sequence=False: the sequence's last step, (1, B, H)."""
    return (outputs[0][-1:], *outputs[1:])


def _const(value: np.ndarray | np.floating, like: Any) -> np.ndarray | np.floating:
    """A constant in the dtype of the program value it goes with (the fp16 variants cast their inputs)."""
    return value.astype(np.float16) if like.dtype == types.fp16 else value


def _recurrent(op: str, x: Any, weights: dict[str, np.ndarray], *states: Any, width: int = HID, **attrs: Any) -> Any:
    """``mb.<op>`` over x with ``weights``; states not given are zero constants."""
    names = ("initial_h", "initial_c") if op == "lstm" else ("initial_h",)
    given = dict(zip(names, states, strict=False))
    zeros = {name: _const(np.zeros((BATCH, width), F32), x) for name in names if name not in given}
    consts = {name: _const(value, x) for name, value in {**weights, **attrs}.items()
              if isinstance(value, (np.ndarray, np.floating))}
    return getattr(mb, op)(x=x, **given, **zeros, **{**attrs, **consts})


CASES: list[Case] = [
    # elementwise binary
    binary("add", np.add), binary("sub", np.subtract), binary("mul", np.multiply),
    binary("real_div", np.divide, y=rand(3, 1, 1, low=0.5, high=2)),
    binary("pow", lambda x, y: np.power(x, y), x=rand(2, 3, 5, 5, low=0.1, high=2.0)),
    binary("maximum", np.maximum), binary("minimum", np.minimum),
    binary("floor_div", lambda x, y: torch.div(t(x), t(y), rounding_mode="floor").numpy(), y=rand(3, 1, 1, low=0.5, high=2)),
    binary("mod", lambda x, y: torch.remainder(t(x), t(y)).numpy(), y=rand(3, 1, 1, low=0.5, high=2)),
    Case("equal", "equal", {"x": np.round(X), "y": np.round(Y)},
         lambda x, y: mb.cast(x=mb.equal(x=x, y=y), dtype="int32"), lambda x, y: (x == y).astype(np.int32)),
    Case("not_equal", "not_equal", {"x": np.round(X), "y": np.round(Y)},
         lambda x, y: mb.cast(x=mb.not_equal(x=x, y=y), dtype="int32"), lambda x, y: (x != y).astype(np.int32)),
    compare("greater", np.greater), compare("greater_equal", np.greater_equal),
    compare("less", np.less), compare("less_equal", np.less_equal),
    logical("logical_and", np.logical_and), logical("logical_or", np.logical_or), logical("logical_xor", np.logical_xor),
    Case("logical_not", "logical_not", {"x": X},
         lambda x: mb.cast(x=mb.logical_not(x=mb.greater(x=x, y=0.0)), dtype="int32"),
         lambda x: (~(x > 0)).astype(np.int32)),
    # elementwise unary
    unary("abs", torch.abs), unary("acos", torch.acos, UNIT), unary("asin", torch.asin, UNIT), unary("atan", torch.atan),
    unary("atanh", torch.atanh, UNIT), unary("ceil", torch.ceil), unary("cos", torch.cos), unary("cosh", torch.cosh),
    unary("erf", torch.erf, atol=3e-7 * 10), unary("exp", torch.exp, atol=1e-4), unary("exp2", torch.exp2, atol=1e-4),
    unary("floor", torch.floor), unary("round", torch.round, np.array([0.5, 1.5, -0.5, 2.5, -1.7, 0.2], F32)),
    unary("sign", torch.sign), unary("sin", torch.sin), unary("sinh", torch.sinh, atol=1e-4), unary("sqrt", torch.sqrt, POS),
    unary("square", torch.square), unary("tan", torch.tan, UNIT), unary("tanh", torch.tanh),
    unary("inverse", lambda x: 1 / (x + 1e-4), POS, atol=1e-4), unary("log", torch.log, POS),
    unary("rsqrt", torch.rsqrt, POS, atol=1e-4),
    unary("clip", lambda x: torch.clamp(x, -0.5, 1.0), alpha=-0.5, beta=1.0),
    unary("threshold", lambda x: torch.clamp(x, min=0.3), alpha=0.3),
    Case("cast", "cast", {"x": X * 3}, lambda x: mb.cast(x=x, dtype="int32"),
         lambda x: torch.trunc(t(x)).numpy().astype(np.int32)),
    unary("identity", lambda x: x),
    Case("select", "select", {"x": X, "y": Y}, lambda x, y: mb.select(cond=mb.greater(x=x, y=0.0), a=x, b=y),
         lambda x, y: torch.where(t(x) > 0, t(x), t(y)).numpy()),
    Case("fill", "fill", {"x": X}, lambda x: mb.add(x=x, y=mb.fill(shape=np.array([5, 5], np.int32), value=1.5)),
         lambda x: x + 1.5),
    Case("fill_like", "fill_like", {"x": X}, lambda x: mb.fill_like(ref_tensor=x, value=np.float32(-2.0)),
         lambda x: np.full_like(x, -2.0)),
    # activations
    unary("relu", torch.relu), unary("relu6", F.relu6, X * 4), unary("sigmoid", torch.sigmoid), unary("silu", F.silu),
    Case("gelu_exact", "gelu", {"x": X}, lambda x: mb.gelu(x=x, mode="EXACT"), lambda x: F.gelu(t(x)).numpy(), 1e-6 * 5),
    Case("gelu_tanh", "gelu", {"x": X}, lambda x: mb.gelu(x=x, mode="TANH_APPROXIMATION"),
         lambda x: F.gelu(t(x), approximate="tanh").numpy()),
    Case("gelu_sigmoid", "gelu", {"x": X}, lambda x: mb.gelu(x=x, mode="SIGMOID_APPROXIMATION"),
         lambda x: (t(x) * torch.sigmoid(1.702 * t(x))).numpy()),
    unary("softplus", F.softplus), unary("softsign", F.softsign),
    Case("softplus_parametric", "softplus_parametric", {"x": X},
         lambda x: mb.softplus_parametric(x=x, alpha=np.array([1, 2, 0.5], F32), beta=np.array([0.5, 1, 2], F32)),
         lambda x: (t(np.array([1, 2, 0.5], F32)).view(1, 3, 1, 1)
                    * F.softplus(t(x) * t(np.array([0.5, 1, 2], F32)).view(1, 3, 1, 1))).numpy()),
    unary("elu", lambda x: F.elu(x, 0.7), alpha=0.7), unary("leaky_relu", lambda x: F.leaky_relu(x, 0.1), alpha=0.1),
    Case("prelu", "prelu", {"x": X}, lambda x: mb.prelu(x=x, alpha=np.array([0.1, 0.2, 0.3], F32)),
         lambda x: F.prelu(t(x), t(np.array([0.1, 0.2, 0.3], F32))).numpy()),
    unary("thresholded_relu", lambda x: torch.where(x > 0.5, x, torch.zeros_like(x)), alpha=0.5),
    unary("clamped_relu", lambda x: torch.clamp(torch.where(x >= 0, x, 0.1 * x), max=1.2), alpha=0.1, beta=1.2),
    unary("sigmoid_hard", lambda x: F.hardsigmoid(x), alpha=1 / 6, beta=0.5),
    unary("scaled_tanh", lambda x: 1.5 * torch.tanh(0.5 * x), alpha=1.5, beta=0.5),
    unary("linear_activation", lambda x: 2.0 * x - 1.0, alpha=2.0, beta=-1.0),
    unary("softmax", lambda x: torch.softmax(x, 1), axis=1),
    # matrix products
    Case("linear", "linear", {"x": rand(2, 7, 6)}, lambda x: mb.linear(x=x, weight=LIN_W, bias=LIN_B),
         lambda x: F.linear(t(x), t(LIN_W), t(LIN_B)).numpy()),
    Case("matmul", "matmul", {"x": rand(2, 4, 6), "y": rand(2, 5, 6)}, lambda x, y: mb.matmul(x=x, y=y, transpose_y=True),
         lambda x, y: torch.matmul(t(x), t(y).transpose(1, 2)).numpy()),
    Case("einsum", "einsum", {"x": rand(2, 3, 4, 5), "y": rand(2, 5, 4, 6)},
         lambda x, y: mb.einsum(values=(x, y), equation="nchw,nwhu->nchu"),
         lambda x, y: torch.einsum("nchw,nwhu->nchu", t(x), t(y)).numpy()),
    Case("scaled_dot_product_attention", "scaled_dot_product_attention",
         {"q": rand(2, 5, 8), "k": rand(2, 6, 8), "v": rand(2, 6, 4)},
         lambda q, k, v: mb.scaled_dot_product_attention(query=q, key=k, value=v), _sdpa_ref),
    # convolution and pooling
    Case("conv_same_s2", "conv", {"x": X}, lambda x: mb.conv(x=x, weight=W33, bias=B4, strides=[2, 2], pad_type="same"),
         lambda x: F.conv2d(F.pad(t(x), (1, 1, 1, 1)), t(W33), t(B4), stride=2).numpy()),
    Case("conv_grouped_dilated", "conv", {"x": rand(1, 4, 9, 8)},
         lambda x: mb.conv(x=x, weight=W6G, strides=[1, 2], pad_type="custom", pad=[2, 1, 0, 2], dilations=[2, 1], groups=2),
         lambda x: F.conv2d(F.pad(t(x), (0, 2, 2, 1)), t(W6G), stride=(1, 2), dilation=(2, 1), groups=2).numpy()),
    Case("conv_depthwise", "conv", {"x": X},
         lambda x: mb.conv(x=x, weight=WDW, pad_type="custom", pad=[1, 1, 1, 1], groups=3),
         lambda x: F.conv2d(t(x), t(WDW), padding=1, groups=3).numpy()),
    Case("conv_1d", "conv", {"x": rand(2, 3, 11)}, lambda x: mb.conv(x=x, weight=W1D, strides=[2], pad_type="valid"),
         lambda x: F.conv1d(t(x), t(W1D), stride=2).numpy()),
    Case("conv_transpose", "conv_transpose", {"x": rand(1, 4, 5, 6)},
         lambda x: mb.conv_transpose(x=x, weight=WT, bias=BT, strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1],
                                     groups=2),
         lambda x: F.conv_transpose2d(t(x), t(WT), t(BT), stride=2, padding=1, groups=2).numpy()),
    Case("max_pool", "max_pool", {"x": X},
         lambda x: mb.max_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1]),
         lambda x: F.max_pool2d(t(x), 3, 2, padding=1).numpy()),
    Case("avg_pool_ceil", "avg_pool", {"x": rand(1, 2, 6, 6)},
         lambda x: mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1],
                               ceil_mode=True),
         lambda x: F.avg_pool2d(t(x), 3, 2, padding=1, ceil_mode=True).numpy()),
    Case("avg_pool_exclude", "avg_pool", {"x": X},
         lambda x: mb.avg_pool(x=x, kernel_sizes=[3, 3], strides=[1, 1], pad_type="same", exclude_padding_from_average=True),
         lambda x: F.avg_pool2d(t(x), 3, 1, padding=1, count_include_pad=False).numpy()),
    Case("l2_pool", "l2_pool", {"x": X}, lambda x: mb.l2_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid"),
         lambda x: F.lp_pool2d(t(x), 2, 2, 2).numpy()),
    # normalisation
    Case("batch_norm", "batch_norm", {"x": X},
         lambda x: mb.batch_norm(x=x, mean=MEAN3, variance=VAR3, gamma=GAMMA3, beta=BETA3, epsilon=1e-3),
         lambda x: F.batch_norm(t(x), t(MEAN3), t(VAR3), t(GAMMA3), t(BETA3), eps=1e-3).numpy()),
    Case("instance_norm", "instance_norm", {"x": X}, lambda x: mb.instance_norm(x=x, gamma=GAMMA3, beta=BETA3),
         lambda x: F.instance_norm(t(x), weight=t(GAMMA3), bias=t(BETA3)).numpy()),
    Case("layer_norm", "layer_norm", {"x": rand(2, 4, 6)},
         lambda x: mb.layer_norm(x=x, axes=[-1], gamma=GAMMA6, beta=BETA6, epsilon=1e-5),
         lambda x: F.layer_norm(t(x), (6,), t(GAMMA6), t(BETA6)).numpy()),
    Case("l2_norm", "l2_norm", {"x": X}, lambda x: mb.l2_norm(x=x, epsilon=1e-12),
         lambda x: (t(x) / torch.sqrt((t(x) ** 2).sum(dim=(1, 2, 3), keepdim=True))).numpy()),
    Case("local_response_norm", "local_response_norm", {"x": rand(1, 6, 3, 3)},
         lambda x: mb.local_response_norm(x=x, size=3, alpha=1e-2, beta=0.75, k=1.0),
         lambda x: F.local_response_norm(t(x), 3, alpha=1e-2, beta=0.75, k=1.0).numpy()),
    # reductions
    *[Case(f"reduce_{name}", f"reduce_{name}", {"x": POS},
           lambda x, name=name: getattr(mb, f"reduce_{name}")(x=x, axes=[1, -1], keep_dims=name == "mean"), ref)
      for name, ref in {
          "sum": lambda x: x.sum(axis=(1, 2)), "mean": lambda x: x.mean(axis=(1, 2), keepdims=True),
          "max": lambda x: x.max(axis=(1, 2)), "min": lambda x: x.min(axis=(1, 2)), "prod": lambda x: x.prod(axis=(1, 2)),
          "l1_norm": lambda x: np.abs(x).sum(axis=(1, 2)),
          "l2_norm": lambda x: torch.linalg.vector_norm(t(x), dim=(1, 2)).numpy(),
          "sum_square": lambda x: (x * x).sum(axis=(1, 2)), "log_sum": lambda x: np.log(x.sum(axis=(1, 2))),
          "log_sum_exp": lambda x: torch.logsumexp(t(x), dim=(1, 2)).numpy(),
      }.items()],
    Case("reduce_argmax", "reduce_argmax", {"x": X}, lambda x: mb.reduce_argmax(x=x, axis=1),
         lambda x: np.argmax(x, axis=1).astype(np.int32)),
    Case("reduce_argmin", "reduce_argmin", {"x": X}, lambda x: mb.reduce_argmin(x=x, axis=-1, keep_dims=True),
         lambda x: np.argmin(x, axis=-1)[..., None].astype(np.int32)),
    # tensor transformations
    # iOS 17 reshape: a 0 copies the input dim aligned from the right (here x.shape[1] == 3).
    Case("reshape", "reshape", {"x": X}, lambda x: mb.reshape(x=x, shape=[0, -1, 5]), lambda x: x.reshape(3, 10, 5)),
    Case("transpose", "transpose", {"x": X}, lambda x: mb.transpose(x=x, perm=[0, 2, 3, 1]),
         lambda x: x.transpose(0, 2, 3, 1)),
    Case("squeeze", "squeeze", {"x": rand(2, 1, 3, 1)}, lambda x: mb.squeeze(x=x, axes=[-1]), lambda x: x[..., 0]),
    Case("expand_dims", "expand_dims", {"x": rand(2, 3)}, lambda x: mb.expand_dims(x=x, axes=[0, -1]),
         lambda x: x[None, :, :, None]),
    Case("flatten2d", "flatten2d", {"x": X}, lambda x: mb.flatten2d(x=x, axis=2), lambda x: x.reshape(6, 25)),
    Case("concat", "concat", {"x": X, "y": rand(2, 1, 5, 5)}, lambda x, y: mb.concat(values=(x, y), axis=1),
         lambda x, y: np.concatenate([x, y], 1)),
    Case("concat_interleave", "concat", {"x": rand(2, 2, 3), "y": rand(2, 2, 3)},
         lambda x, y: mb.concat(values=(x, y), axis=1, interleave=True),
         lambda x, y: np.stack([x, y], 2).reshape(2, 4, 3)),
    Case("concat_scalars", "concat", {"x": rand(4)},  # coremltools builds dynamic shapes from scalars this way
         lambda x: mb.concat(values=(mb.reduce_sum(x=x), mb.reduce_max(x=x)), axis=0),
         lambda x: np.array([x.sum(), x.max()])),
    Case("stack", "stack", {"x": rand(2, 3), "y": rand(2, 3)}, lambda x, y: mb.stack(values=(x, y), axis=1),
         lambda x, y: np.stack([x, y], 1)),
    Case("split", "split", {"x": X}, lambda x: mb.split(x=x, split_sizes=[1, 4], axis=-1),
         lambda x: (x[..., :1], x[..., 1:])),
    Case("split_even", "split", {"x": X}, lambda x: mb.split(x=x, num_splits=2, axis=0), lambda x: (x[:1], x[1:])),
    Case("tile", "tile", {"x": rand(2, 3)}, lambda x: mb.tile(x=x, reps=[2, 3]), lambda x: np.tile(x, (2, 3))),
    Case("reverse", "reverse", {"x": X}, lambda x: mb.reverse(x=x, axes=[1, 3]), lambda x: torch.flip(t(x), (1, 3)).numpy()),
    Case("pad_constant", "pad", {"x": X}, lambda x: mb.pad(x=x, pad=[1, 2, 0, 3], mode="constant", constant_val=0.5),
         lambda x: F.pad(t(x), (0, 3, 1, 2), value=0.5).numpy()),
    Case("pad_reflect", "pad", {"x": X}, lambda x: mb.pad(x=x, pad=[0, 0, 0, 0, 2, 1, 1, 2], mode="reflect"),
         lambda x: F.pad(t(x), (1, 2, 2, 1), mode="reflect").numpy()),
    Case("pad_replicate", "pad", {"x": X}, lambda x: mb.pad(x=x, pad=[2, 1, 1, 2], mode="replicate"),
         lambda x: F.pad(t(x), (1, 2, 2, 1), mode="replicate").numpy()),
    Case("space_to_depth", "space_to_depth", {"x": rand(1, 2, 4, 6)}, lambda x: mb.space_to_depth(x=x, block_size=2),
         lambda x: x.reshape(1, 2, 2, 2, 3, 2).transpose(0, 3, 5, 1, 2, 4).reshape(1, 8, 2, 3)),
    Case("depth_to_space", "depth_to_space", {"x": rand(1, 8, 2, 3)}, lambda x: mb.depth_to_space(x=x, block_size=2),
         lambda x: x.reshape(1, 2, 2, 2, 2, 3).transpose(0, 3, 4, 1, 5, 2).reshape(1, 2, 4, 6)),
    Case("pixel_shuffle", "pixel_shuffle", {"x": rand(1, 8, 2, 3)}, lambda x: mb.pixel_shuffle(x=x, upscale_factor=2),
         lambda x: F.pixel_shuffle(t(x), 2).numpy()),
    Case("pixel_unshuffle", "pixel_unshuffle", {"x": rand(1, 2, 4, 6)},
         lambda x: mb.pixel_unshuffle(x=x, downscale_factor=np.uint32(2)),
         lambda x: F.pixel_unshuffle(t(x), 2).numpy()),
    Case("shape", "shape", {"x": X}, lambda x: mb.shape(x=x), lambda x: np.array(x.shape, np.int32)),
    Case("range_1d", "range_1d", {"x": rand(7)}, lambda x: mb.add(x=x, y=mb.range_1d(start=-1.0, end=2.5, step=0.5)),
         lambda x: x + np.arange(-1.0, 2.5, 0.5, dtype=F32)),
    Case("cumsum", "cumsum", {"x": rand(3, 4)}, lambda x: mb.cumsum(x=x, axis=1), lambda x: torch.cumsum(t(x), 1).numpy()),
    Case("cumsum_exclusive_reverse", "cumsum", {"x": rand(3, 4)},
         lambda x: mb.cumsum(x=x, axis=0, exclusive=True, reverse=True),
         lambda x: (torch.flip(torch.cumsum(torch.flip(t(x), (0,)), 0), (0,)) - t(x)).numpy()),
    Case("band_part", "band_part", {"x": rand(2, 4, 5)}, lambda x: mb.band_part(x=x, lower=1, upper=2),
         lambda x: (t(x).triu(-1).tril(2)).numpy()),
    Case("one_hot", "one_hot", {"i": IDX},
         lambda i: mb.one_hot(indices=i, one_hot_vector_size=4, axis=0, on_value=2.0, off_value=-1.0),
         lambda i: (F.one_hot(t(i).long(), 4).T.numpy() * 3.0 - 1.0).astype(F32)),
    # slicing, gathering, ordering
    Case("slice_by_index", "slice_by_index", {"x": X},
         lambda x: mb.slice_by_index(x=x, begin=[1, 0, 1, 4], end=[2, 3, 5, 0], stride=[1, 2, 2, -1],
                                     begin_mask=[False, True, False, False], end_mask=[False, False, False, True],
                                     squeeze_mask=[True, False, False, False]),
         lambda x: x[1, ::2, 1:5:2, 4::-1]),
    Case("slice_by_size", "slice_by_size", {"x": X}, lambda x: mb.slice_by_size(x=x, begin=[0, 1, 2, 0], size=[-1, 2, 2, 3]),
         lambda x: x[:, 1:3, 2:4, 0:3]),
    Case("gather", "gather", {"x": X, "i": IDX}, lambda x, i: mb.gather(x=x, indices=i, axis=1),
         lambda x, i: torch.index_select(t(x), 1, t(i).long()).numpy()),
    Case("gather_batch_dims", "gather", {"x": rand(2, 4, 3), "i": np.array([[3, 0], [1, 1]], np.int32)},
         lambda x, i: mb.gather(x=x, indices=i, axis=1, batch_dims=1),
         lambda x, i: np.stack([x[b][i[b]] for b in range(2)])),
    Case("gather_along_axis", "gather_along_axis", {"x": rand(3, 4), "i": np.array([[0, 3], [2, 2], [1, 0]], np.int32)},
         lambda x, i: mb.gather_along_axis(x=x, indices=i, axis=1),
         lambda x, i: torch.gather(t(x), 1, t(i).long()).numpy()),
    Case("gather_nd", "gather_nd", {"x": rand(3, 4, 2), "i": np.array([[0, 3], [2, 1]], np.int32)},
         lambda x, i: mb.gather_nd(x=x, indices=i), lambda x, i: t(x)[t(i[:, 0]).long(), t(i[:, 1]).long()].numpy()),
    Case("topk", "topk", {"x": rand(3, 6)}, lambda x: mb.topk(x=x, k=3, axis=-1),
         lambda x: tuple(v.numpy().astype(dt) for v, dt in zip(torch.topk(t(x), 3, dim=-1), (F32, np.int32), strict=True))),
    Case("topk_ascending", "topk", {"x": rand(5, 2)}, lambda x: mb.topk(x=x, k=2, axis=0, ascending=True),
         lambda x: tuple(v.numpy().astype(dt)
                         for v, dt in zip(torch.topk(t(x), 2, dim=0, largest=False), (F32, np.int32), strict=True))),
    Case("argsort", "argsort", {"x": rand(3, 6)}, lambda x: mb.argsort(x=x, axis=1),
         lambda x: torch.argsort(t(x), dim=1, descending=True).numpy().astype(np.int32)),
    # resizing
    Case("upsample_nearest_neighbor", "upsample_nearest_neighbor", {"x": X},
         lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=2, scale_factor_width=3),
         lambda x: F.interpolate(t(x), scale_factor=(2, 3), mode="nearest").numpy()),
    Case("upsample_bilinear_align", "upsample_bilinear", {"x": X},
         lambda x: mb.upsample_bilinear(x=x, scale_factor_height=2.0, scale_factor_width=2.0, align_corners=True),
         lambda x: F.interpolate(t(x), scale_factor=2, mode="bilinear", align_corners=True).numpy()),
    Case("upsample_bilinear_half_pixel", "upsample_bilinear", {"x": X},
         lambda x: mb.upsample_bilinear(x=x, scale_factor_height=2.0, scale_factor_width=3.0, align_corners=False),
         lambda x: F.interpolate(t(x), scale_factor=(2, 3), mode="bilinear", align_corners=False).numpy()),
    Case("resize_bilinear", "resize_bilinear", {"x": X},
         lambda x: mb.resize_bilinear(x=x, target_size_height=8, target_size_width=3, sampling_mode="STRICT_ALIGN_CORNERS"),
         lambda x: F.interpolate(t(x), size=(8, 3), mode="bilinear", align_corners=True).numpy()),
    Case("resize_bilinear_unaligned", "resize_bilinear", {"x": X},
         lambda x: mb.resize_bilinear(x=x, target_size_height=7, target_size_width=10, sampling_mode="UNALIGN_CORNERS"),
         lambda x: F.interpolate(t(x), size=(7, 10), mode="bilinear", align_corners=False).numpy()),
    Case("resize_nearest_neighbor", "resize_nearest_neighbor", {"x": X},
         lambda x: mb.resize_nearest_neighbor(x=x, target_size_height=10, target_size_width=15),
         lambda x: F.interpolate(t(x), size=(10, 15), mode="nearest").numpy()),
    Case("crop", "crop", {"x": X}, lambda x: mb.crop(x=x, crop_height=[1, 2], crop_width=[0, 1]),
         lambda x: x[..., 1:3, 0:4]),
    # recurrent layers: every direction, output_sequence on/off, initial states given/zero
    Case("lstm_forward_seq", "lstm", {"x": SEQ, "h": H0, "c": C0},
         lambda x, h, c: _recurrent("lstm", x, LSTM_W, h, c, output_sequence=True),
         lambda x, h, c: _torch_run(LSTM_T, x, h, c)),
    Case("lstm_forward_last_zero_state_nobias", "lstm", {"x": SEQ}, lambda x: _recurrent("lstm", x, LSTM_NOBIAS_W),
         lambda x: _torch_run(LSTM_NOBIAS_T, x, last=True)),
    Case("lstm_reverse_seq_zero_state", "lstm", {"x": SEQ},
         lambda x: _recurrent("lstm", x, LSTM_W, direction="reverse", output_sequence=True),
         lambda x: _torch_run(LSTM_T, x, reverse=True)),
    Case("lstm_reverse_last", "lstm", {"x": SEQ, "h": H0, "c": C0},
         lambda x, h, c: _recurrent("lstm", x, LSTM_W, h, c, direction="reverse"),
         lambda x, h, c: _torch_run(LSTM_T, x, h, c, reverse=True, last=True)),
    Case("lstm_bidirectional_seq", "lstm", {"x": SEQ, "h": H0_BI, "c": C0_BI},
         lambda x, h, c: _recurrent("lstm", x, LSTM_BI_W, h, c, width=2 * HID, direction="bidirectional",
                                    output_sequence=True),
         lambda x, h, c: _torch_run(LSTM_BI_T, x, h, c)),
    Case("lstm_bidirectional_last_zero_state", "lstm", {"x": SEQ},
         lambda x: _recurrent("lstm", x, LSTM_BI_W, width=2 * HID, direction="bidirectional"),
         lambda x: _torch_run(LSTM_BI_T, x, last=True)),
    Case("lstm_peephole_clip_activations", "lstm", {"x": SEQ, "h": H0, "c": C0},
         lambda x, h, c: _recurrent("lstm", x, LSTM_W, h, c, peephole=PEEP, clip=np.float32(0.3), output_sequence=True,
                                    recurrent_activation="hard_sigmoid", cell_activation="relu", activation="linear"),
         lambda x, h, c: np_lstm(x, h, c, **LSTM_W, peephole=PEEP, clip=0.3, acts=("hard_sigmoid", "relu", "linear"))),
    Case("lstm_bidirectional_peephole_clip", "lstm", {"x": SEQ, "h": H0_BI, "c": C0_BI},
         lambda x, h, c: _recurrent("lstm", x, LSTM_BI_W, h, c, width=2 * HID, direction="bidirectional",
                                    output_sequence=True, peephole=PEEP, peephole_back=PEEP_BACK, clip=np.float32(0.5),
                                    cell_activation="scaled_tanh", activation="sigmoid"),
         lambda x, h, c: np_bilstm(x, h, c, LSTM_BI_W, PEEP, PEEP_BACK, clip=0.5,
                                   acts=("sigmoid", "scaled_tanh", "sigmoid"))),
    Case("gru_forward_seq", "gru", {"x": SEQ, "h": H0},
         lambda x, h: _recurrent("gru", x, GRU_W, h, output_sequence=True), lambda x, h: np_gru(x, h, **GRU_W)),
    Case("gru_reverse_last_zero_state", "gru", {"x": SEQ},
         lambda x: _recurrent("gru", x, GRU_W, direction="reverse", recurrent_activation="hard_sigmoid",
                              activation="relu"),
         lambda x: _last(np_gru(x, ZERO_H, **GRU_W, reverse=True, acts=("hard_sigmoid", "relu")))),
    Case("gru_reset_after_seq", "gru", {"x": SEQ, "h": H0},
         lambda x, h: _recurrent("gru", x, GRU_AFTER_W, h, reset_after=True, output_sequence=True),
         lambda x, h: _torch_run(GRU_T, x, h)),
    Case("gru_reset_after_reverse_last", "gru", {"x": SEQ},
         lambda x: _recurrent("gru", x, GRU_AFTER_W, reset_after=True, direction="reverse"),
         lambda x: _torch_run(GRU_T, x, reverse=True, last=True)),
    Case("rnn_tanh_forward_seq", "rnn", {"x": SEQ, "h": H0},
         lambda x, h: _recurrent("rnn", x, RNN_TANH_W, h, output_sequence=True),
         lambda x, h: _torch_run(RNN_TANH_T, x, h)),
    Case("rnn_relu_reverse_last_zero_state", "rnn", {"x": SEQ},
         lambda x: _recurrent("rnn", x, RNN_RELU_W, direction="reverse", activation="relu"),
         lambda x: _torch_run(RNN_RELU_T, x, reverse=True, last=True)),
    Case("rnn_sigmoid_hard_reverse_seq", "rnn", {"x": SEQ, "h": H0},
         lambda x, h: _recurrent("rnn", x, RNN_TANH_W, h, direction="reverse", output_sequence=True,
                                 activation="sigmoid_hard"),
         lambda x, h: np_rnn(x, h, **RNN_TANH_W, reverse=True, act="sigmoid_hard")),
]



def _convert(cases: list[Case], folder: Path) -> tuple[MilProgram, dict[str, list[str]]]:
    """One ML Program holding every case (inputs named ``<case>__<input>``), saved and loaded back."""
    placeholders = {
        f"{case.id}__{name}": mb.placeholder(shape=arr.shape, dtype=types.int32 if arr.dtype == np.int32 else types.fp32)
        for case in cases for name, arr in case.inputs.items()
    }
    positions: dict[str, list[int]] = {}
    with Function(placeholders, opset_version=ct.target.iOS18) as function:
        outputs: list[Any] = []
        for case in cases:
            result = case.build(**{name: function.inputs[f"{case.id}__{name}"] for name in case.inputs})
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            positions[case.id] = list(range(len(outputs), len(outputs) + len(result)))
            outputs.extend(result)
        function.set_outputs(outputs)
    program = Program()
    program.add_function("main", function)
    model = ct.convert(program, convert_to="mlprogram", pass_pipeline=ct.PassPipeline.EMPTY,
                       minimum_deployment_target=ct.target.iOS18)
    path = folder / "ops.mlpackage"
    model.save(str(path))
    loaded = MilProgram.load(path)
    return loaded, {cid: [loaded.output_names[i] for i in idx] for cid, idx in positions.items()}


@pytest.fixture(scope="module")
def ops_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, list[str]]]:
    program, names = _convert(CASES, tmp_path_factory.mktemp("mil-ops"))
    feeds = {f"{case.id}__{name}": arr for case in CASES for name, arr in case.inputs.items()}
    return program.run(feeds), names


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_independent_reference(case: Case, ops_run: tuple[dict[str, Any], dict[str, list[str]]]) -> None:
    values, names = ops_run
    expected = case.reference(**case.inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = [values[name] for name in names[case.id]]
    assert len(got) == len(expected)
    for out, ref in zip(got, expected, strict=True):
        ref = np.asarray(ref)
        assert out.shape == ref.shape, f"{case.id}: shape {out.shape} != {ref.shape}"
        if ref.dtype.kind in "iub":
            np.testing.assert_array_equal(out, ref)
        else:
            assert out.dtype == np.float32
            np.testing.assert_allclose(out, ref, atol=case.atol, rtol=1e-5)


def test_every_registered_op_has_an_independent_case() -> None:
    """The table above covers the whole registry (classify: test_coreml_reference_models.py), at least 60 op types."""
    covered = {case.op for case in CASES} | {"classify", "const"}
    assert set(supported_ops()) == covered
    assert len(supported_ops()) >= 60


FP16_IDS = ("conv_same_s2", "conv_depthwise", "conv_transpose", "linear", "matmul", "softmax", "silu", "gelu_exact",
            "layer_norm", "batch_norm", "reduce_mean", "avg_pool_ceil", "upsample_bilinear_align", "concat", "transpose",
            "lstm_forward_seq", "lstm_bidirectional_last_zero_state", "lstm_peephole_clip_activations",
            "gru_reverse_last_zero_state", "gru_reset_after_seq", "rnn_tanh_forward_seq")


def _in_fp16(case: Case) -> Case:
    """The same op on float16 values: inputs cast to fp16 inside the program, results cast back to fp32."""

    def build(**inputs: Any) -> Any:
        result = case.build(**{name: mb.cast(x=var, dtype="fp16") for name, var in inputs.items()})
        if isinstance(result, (tuple, list)):
            return tuple(mb.cast(x=r, dtype="fp32") for r in result)
        return mb.cast(x=result, dtype="fp32")

    return Case(f"{case.id}_fp16", case.op, case.inputs, build, case.reference)


@pytest.fixture(scope="module")
def fp16_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[MilProgram, dict[str, Any], dict[str, list[str]]]:
    cases = [_in_fp16(case) for case in CASES if case.id in FP16_IDS]
    cases.append(Case("fp16_rounding", "add", {"x": np.ones(1, F32)},
                      lambda x: mb.cast(x=mb.add(x=mb.cast(x=x, dtype="fp16"), y=np.float16(2**-11)), dtype="fp32"), None))
    cases.append(Case("fp32_rounding", "add", {"x": np.ones(1, F32)}, lambda x: mb.add(x=x, y=np.float32(2**-11)), None))
    program, names = _convert(cases, tmp_path_factory.mktemp("mil-fp16"))
    feeds = {f"{case.id}__{name}": arr for case in cases for name, arr in case.inputs.items()}
    return program, program.run(feeds), names


@pytest.mark.parametrize("case_id", FP16_IDS)
def test_fp16_op_runs_in_float16_within_half_precision(
        case_id: str, fp16_run: tuple[MilProgram, dict[str, Any], dict[str, list[str]]]) -> None:
    _, values, names = fp16_run
    case = next(c for c in CASES if c.id == case_id)
    expected = case.reference(**case.inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = [values[name] for name in names[f"{case_id}_fp16"]]
    assert len(got) == len(expected)
    for out, ref in zip(got, expected, strict=True):
        ref = np.asarray(ref)
        assert out.shape == ref.shape
        scale = float(np.max(np.abs(ref))) or 1.0
        np.testing.assert_allclose(out, ref, atol=2e-2 * scale, rtol=1e-2)


def test_fp16_values_round_like_float16(fp16_run: tuple[MilProgram, dict[str, Any], dict[str, list[str]]]) -> None:
    """1 + 2^-11 is 1 in float16 (ties to even) but not in float32: the program's precision is honoured."""
    _, values, names = fp16_run
    assert values[names["fp16_rounding"][0]].item() == 1.0
    assert values[names["fp32_rounding"][0]].item() == np.float32(1 + 2**-11)


def test_recurrent_references_agree_with_torch() -> None:
    """The hand-written step loops above give PyTorch's results where PyTorch has the mode (no peephole or clip,
    default activations; PyTorch's reverse = a time-reversed input), so the MIL-only modes are checked by code
    that is right where it can be checked."""
    for reverse in (False, True):
        got = np_lstm(SEQ, H0, C0, **LSTM_W, reverse=reverse)
        for a, b in zip(got, _torch_run(LSTM_T, SEQ, H0, C0, reverse=reverse), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_allclose(np_rnn(SEQ, H0, **RNN_TANH_W, reverse=reverse)[0],
                                   _torch_run(RNN_TANH_T, SEQ, H0, reverse=reverse)[0], atol=1e-6)
    got = np_bilstm(SEQ, H0_BI, C0_BI, LSTM_BI_W, np.zeros(3 * HID, F32), np.zeros(3 * HID, F32))
    for a, b in zip(got, _torch_run(LSTM_BI_T, SEQ, H0_BI, C0_BI), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def _fn(op: str) -> Callable[..., Any]:
    from affdeploy.coreml_reference.registry import lookup

    definition = lookup(op)
    assert definition is not None
    return definition.fn


@pytest.mark.parametrize(("op", "change", "message"), [
    ("lstm", {"direction": "bidirectional", "initial_h": H0_BI, "initial_c": C0_BI},
     "bidirectional lstm needs weight_ih_back and weight_hh_back"),
    ("lstm", {"direction": "sideways"}, "direction 'sideways' is not one of forward, reverse, bidirectional"),
    ("lstm", {"cell_activation": "softplus"}, "cell_activation 'softplus' is not a recurrent activation"),
    ("lstm", {"x": SEQ[0]}, r"x must be \(seq, batch, input\), got shape \[2, 3\]"),
    ("lstm", {"initial_c": H0_BI}, r"initial_c has shape \[2, 8\], expected \(batch, 4\)"),
    ("lstm", {"peephole": PEEP[:HID]}, r"peephole has shape \[4\], expected \[12\]"),
    ("lstm", {"weight_ih": LSTM_W["weight_ih"][:, :2]}, r"weight_ih has shape \[16, 2\], expected \[16, 3\]"),
    ("gru", {"direction": "bidirectional"}, "direction 'bidirectional' is not one of forward, reverse"),
    ("gru", {"weight_ih": LSTM_W["weight_ih"]}, r"weight_ih has shape \[16, 3\], expected \[12, 3\]"),
    ("rnn", {"activation": "gelu"}, "activation 'gelu' is not a recurrent activation"),
    ("rnn", {"bias": GRU_W["bias"]}, r"bias has shape \[12\], expected \[4\]"),
])
def test_recurrent_misuse_is_a_program_error(op: str, change: dict[str, Any], message: str) -> None:
    """What MIL does not define (or the program gets wrong) is one ProgramError naming the input, never a guess."""
    from affdeploy.coreml_reference import ProgramError

    weights = {"lstm": LSTM_W, "gru": GRU_W, "rnn": RNN_TANH_W}[op]
    states = {"initial_h": H0, "initial_c": C0} if op == "lstm" else {"initial_h": H0}
    with pytest.raises(ProgramError, match=message):
        _fn(op)(**{"x": SEQ, **states, **weights, **change})
