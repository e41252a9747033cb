"""Recurrent layers: ``lstm``, ``gru`` and ``rnn`` over a (seq, batch, input) sequence.

The MIL op definitions (coremltools ops/defs/iOS15/recurrent.py; iOS 17 adds fp16, iOS 18 gives
``gru`` ``reset_after`` and ``input_bias``) leave some points loose. Where they do, coremltools' own
tests of these ops against the Core ML runtime (ops/tests/iOS14/test_recurrent.py) and its NeuralNetwork
backend decide:

- Gate order of weights and biases. ``lstm``: rows [input, forget, output, cell] (PyTorch stores
  [input, forget, cell, output]), peephole [input, forget, output]. ``gru``: rows [reset, output (the
  candidate, PyTorch's "new"), update] (PyTorch: [reset, update, new]). A ``bias`` is the input-hidden
  and hidden-hidden biases summed; ``gru``'s ``input_bias`` (iOS 18) is the input side alone.
- ``lstm``: the input and forget gates see the previous cell state through the peephole, the output
  gate the new one; ``clip`` bounds the cell state (NeuralNetwork's cellClipThreshold, "the cell
  state"), and the output gate and h see the clipped state.
- ``gru``: o = activation(W_o x + R_o (r * h) + b_o), the reset gate applied to h before the recurrent
  product. That is not PyTorch's GRU, which applies it after: r * (R_o h + b_ho); coremltools converts
  torch GRUs to a loop of elementary ops for that reason. ``reset_after=True`` (iOS 18) is PyTorch's
  form, the hidden-side ``bias`` inside the product. (coremltools marks its runtime test of
  ``reset_after`` xfail, rdar://128479517: the runtime's agreement there is unconfirmed.)
- ``direction="reverse"`` runs from the last step to the first and returns the sequence in that
  processing order: output[k] is the state after k + 1 steps, the last of them on x[s - 1 - k].
  ``"bidirectional"`` (``lstm`` only) returns [forward | backward] on the last axis with the backward
  states in input order (output[t] holds the backward state after x[s - 1] ... x[t]); initial and
  final states are split the same way, [:, :H] forward and [:, H:] backward.
- ``output_sequence=False``: the first output is the final state, shape (1, batch, D * H).
- Activations are named, in any case: sigmoid, tanh, relu, linear (identity), scaled_tanh (tanh:
  alpha = beta = 1) and hard_sigmoid, also spelt sigmoid_hard (min(max(0.2 x + 0.5, 0), 1)). The ops
  have no alpha/beta inputs, so each activation takes its default parameters.

fp16 programs: everything runs in float32 and each output rounds once to the op's type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import narrow, scalar, wide
from affdeploy.coreml_reference.ops.activation import _sigmoid
from affdeploy.coreml_reference.registry import register

Activation = Callable[[np.ndarray], np.ndarray]

_ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "scaled_tanh": np.tanh,  # 1.0 * tanh(1.0 * x)
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,  # 1.0 * x + 0.0
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1).astype(x.dtype),
    "sigmoid_hard": lambda x: np.clip(0.2 * x + 0.5, 0, 1).astype(x.dtype),
}


def _activation(name: str, role: str) -> Activation:
    fn = _ACTIVATIONS.get(str(name).lower())
    if fn is None:
        raise ProgramError(f"{role} {name!r} is not a recurrent activation (one of {', '.join(sorted(_ACTIVATIONS))})")
    return fn


def _direction(value: str, allowed: tuple[str, ...], op: str) -> str:
    direction = str(value)
    if direction not in allowed:
        raise ProgramError(f"{op}: direction {direction!r} is not one of {', '.join(allowed)}")
    return direction


def _sequence(x: np.ndarray, op: str) -> np.ndarray:
    if x.ndim != 3:
        raise ProgramError(f"{op}: x must be (seq, batch, input), got shape {list(x.shape)}")
    return wide(x).astype(np.float32, copy=False)


def _matrix(value: np.ndarray, rows: int, cols: int, name: str, op: str) -> np.ndarray:
    w = np.asarray(value)
    if w.shape != (rows, cols):
        raise ProgramError(f"{op}: {name} has shape {list(w.shape)}, expected {[rows, cols]}")
    return wide(w).astype(np.float32, copy=False)


def _vector(value: np.ndarray | None, size: int, name: str, op: str) -> np.ndarray:
    """An optional [size] vector (zeros when absent)."""
    if value is None:
        return np.zeros(size, np.float32)
    v = np.asarray(value)
    if v.shape != (size,):
        raise ProgramError(f"{op}: {name} has shape {list(v.shape)}, expected {[size]}")
    return wide(v).astype(np.float32, copy=False)


def _state(value: np.ndarray, batch: int, width: int, name: str, op: str) -> np.ndarray:
    s = np.asarray(value)
    if s.shape != (batch, width):
        raise ProgramError(f"{op}: {name} has shape {list(s.shape)}, expected (batch, {width}) = {[batch, width]}")
    return wide(s).astype(np.float32, copy=False)


def _steps(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


@overload
def _outputs(seq: np.ndarray, output_sequence: bool, like: np.ndarray, h: np.ndarray, /) -> tuple[np.ndarray, np.ndarray]:
    ...


@overload
def _outputs(seq: np.ndarray, output_sequence: bool, like: np.ndarray, h: np.ndarray, c: np.ndarray,
             /) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ...


def _outputs(seq: np.ndarray, output_sequence: bool, like: np.ndarray, *finals: np.ndarray) -> tuple[np.ndarray, ...]:
    """(sequence or final state as (1, batch, width), final states...), rounded to the op's type."""
    first = seq if output_sequence else finals[0][None]
    return tuple(narrow(v, like) for v in (first, *finals))


# ---------------------------------------------------------------- lstm


def _lstm_pass(xw: np.ndarray, h: np.ndarray, c: np.ndarray, w_hh: np.ndarray, peephole: np.ndarray,
               acts: tuple[Activation, Activation, Activation], clip: float | None,
               reverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One direction: ``xw`` = x W_ih^T + bias for every step, (seq, batch, 4H). Sequence in processing order."""
    recurrent, cell, output = acts
    p_i, p_f, p_o = np.split(peephole, 3)
    out = np.empty(xw.shape[:2] + h.shape[1:], np.float32)
    for k, t in enumerate(_steps(xw.shape[0], reverse)):
        g_i, g_f, g_o, g_z = np.split(xw[t] + h @ w_hh.T, 4, axis=-1)
        i = recurrent(g_i + p_i * c)
        f = recurrent(g_f + p_f * c)
        c = f * c + i * cell(g_z)
        if clip is not None:
            c = np.clip(c, -clip, clip)
        h = recurrent(g_o + p_o * c) * output(c)
        out[k] = h
    return out, h, c


@register("lstm")
def lstm(x: np.ndarray, initial_h: np.ndarray, initial_c: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray,
         bias: np.ndarray | None = None, peephole: np.ndarray | None = None, weight_ih_back: np.ndarray | None = None,
         weight_hh_back: np.ndarray | None = None, bias_back: np.ndarray | None = None,
         peephole_back: np.ndarray | None = None, direction: str = "forward", output_sequence: bool = False,
         recurrent_activation: str = "sigmoid", cell_activation: str = "tanh", activation: str = "tanh",
         clip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(output sequence or final h, final h, final c); the *_back weights serve only ``bidirectional``."""
    xs = _sequence(x, "lstm")
    direction = _direction(direction, ("forward", "reverse", "bidirectional"), "lstm")
    hidden = np.shape(weight_hh)[-1] if np.ndim(weight_hh) == 2 else 0
    if hidden == 0:
        raise ProgramError(f"lstm: weight_hh must be (4H, H), got shape {list(np.shape(weight_hh))}")
    _, batch, size = xs.shape
    acts = (_activation(recurrent_activation, "recurrent_activation"), _activation(cell_activation, "cell_activation"),
            _activation(activation, "activation"))
    limit = None if clip is None else float(scalar(clip))
    dirs = 2 if direction == "bidirectional" else 1
    h0 = _state(initial_h, batch, dirs * hidden, "initial_h", "lstm")
    c0 = _state(initial_c, batch, dirs * hidden, "initial_c", "lstm")

    def run(w_ih: np.ndarray | None, w_hh: np.ndarray | None, b: np.ndarray | None, p: np.ndarray | None,
            half: slice, reverse: bool, suffix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if w_ih is None or w_hh is None:
            raise ProgramError("lstm: a bidirectional lstm needs weight_ih_back and weight_hh_back")
        w_ih = _matrix(w_ih, 4 * hidden, size, "weight_ih" + suffix, "lstm")
        w_hh = _matrix(w_hh, 4 * hidden, hidden, "weight_hh" + suffix, "lstm")
        xw = xs @ w_ih.T + _vector(b, 4 * hidden, "bias" + suffix, "lstm")
        return _lstm_pass(xw, h0[:, half], c0[:, half], w_hh, _vector(p, 3 * hidden, "peephole" + suffix, "lstm"),
                          acts, limit, reverse)

    forward_half = slice(0, hidden)
    if direction != "bidirectional":
        seq, h, c = run(weight_ih, weight_hh, bias, peephole, forward_half, direction == "reverse", "")
        return _outputs(seq, bool(scalar(output_sequence)), x, h, c)
    seq_f, h_f, c_f = run(weight_ih, weight_hh, bias, peephole, forward_half, False, "")
    seq_b, h_b, c_b = run(weight_ih_back, weight_hh_back, bias_back, peephole_back, slice(hidden, 2 * hidden), True,
                          "_back")
    seq = np.concatenate([seq_f, seq_b[::-1]], axis=-1)  # backward states back in input order
    return _outputs(seq, bool(scalar(output_sequence)), x, np.concatenate([h_f, h_b], -1),
                    np.concatenate([c_f, c_b], -1))


# ---------------------------------------------------------------- gru


@register("gru")
def gru(x: np.ndarray, initial_h: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray,
        bias: np.ndarray | None = None, direction: str = "forward", output_sequence: bool = False,
        recurrent_activation: str = "sigmoid", activation: str = "tanh", reset_after: bool = False,
        input_bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(output sequence or final h, final h); gates [reset, output, update]."""
    xs = _sequence(x, "gru")
    direction = _direction(direction, ("forward", "reverse"), "gru")
    if np.ndim(weight_hh) != 2 or np.shape(weight_hh)[1] == 0:
        raise ProgramError(f"gru: weight_hh must be (3H, H), got shape {list(np.shape(weight_hh))}")
    hidden = np.shape(weight_hh)[1]
    seq_len, batch, size = xs.shape
    w_ih = _matrix(weight_ih, 3 * hidden, size, "weight_ih", "gru")
    r_r, r_o, r_z = np.split(_matrix(weight_hh, 3 * hidden, hidden, "weight_hh", "gru"), 3)
    b_r, b_o, b_z = np.split(_vector(bias, 3 * hidden, "bias", "gru"), 3)
    gate, act = _activation(recurrent_activation, "recurrent_activation"), _activation(activation, "activation")
    after = bool(scalar(reset_after))
    xw = xs @ w_ih.T + _vector(input_bias, 3 * hidden, "input_bias", "gru")
    h = _state(initial_h, batch, hidden, "initial_h", "gru")
    out = np.empty((seq_len, batch, hidden), np.float32)
    for k, t in enumerate(_steps(seq_len, direction == "reverse")):
        x_r, x_o, x_z = np.split(xw[t], 3, axis=-1)
        r = gate(x_r + h @ r_r.T + b_r)
        z = gate(x_z + h @ r_z.T + b_z)
        candidate = x_o + (r * (h @ r_o.T + b_o) if after else (r * h) @ r_o.T + b_o)
        h = (1 - z) * act(candidate) + z * h
        out[k] = h
    return _outputs(out, bool(scalar(output_sequence)), x, h)


# ---------------------------------------------------------------- rnn


@register("rnn")
def rnn(x: np.ndarray, initial_h: np.ndarray, weight_ih: np.ndarray, weight_hh: np.ndarray,
        bias: np.ndarray | None = None, direction: str = "forward", output_sequence: bool = False,
        activation: str = "tanh") -> tuple[np.ndarray, np.ndarray]:
    """(output sequence or final h, final h): h = activation(W_ih x + W_hh h + bias)."""
    xs = _sequence(x, "rnn")
    direction = _direction(direction, ("forward", "reverse"), "rnn")
    if np.ndim(weight_hh) != 2:
        raise ProgramError(f"rnn: weight_hh must be (H, H), got shape {list(np.shape(weight_hh))}")
    hidden = np.shape(weight_hh)[1]
    seq_len, batch, size = xs.shape
    w_hh = _matrix(weight_hh, hidden, hidden, "weight_hh", "rnn")
    xw = xs @ _matrix(weight_ih, hidden, size, "weight_ih", "rnn").T + _vector(bias, hidden, "bias", "rnn")
    act = _activation(activation, "activation")
    h = _state(initial_h, batch, hidden, "initial_h", "rnn")
    out = np.empty((seq_len, batch, hidden), np.float32)
    for k, t in enumerate(_steps(seq_len, direction == "reverse")):
        h = act(xw[t] + h @ w_hh.T)
        out[k] = h
    return _outputs(out, bool(scalar(output_sequence)), x, h)
