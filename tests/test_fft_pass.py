"""The FFT pass against torch.fft: every transform family, norm, dims, s=, odd and prime sizes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affdeploy.fft import UnsupportedOpError, lower_fft
from affdeploy.fft import plan as planning
from affdeploy.fft.matrices import StageKey, stage_matrix
from affdeploy.fft.ops import FFTOps
from affdeploy.fft.values import Pair
from affdeploy.graph import complex_value_count, fft_op_count, op_counts

SIZES = [1, 2, 3, 4, 5, 7, 8, 11]
NORMS = [None, "backward", "ortho", "forward"]


class DictStore:
    """Matrix store for calling the transforms eagerly, outside a lowered program (``forms``: the forms allowed)."""

    def __init__(self, forms: frozenset[str] | None = None) -> None:
        self.keys: set[StageKey] = set()
        self.arrays: dict[str, torch.Tensor] = {}
        self.forms = forms

    def matrix(self, key: StageKey, dtype: torch.dtype) -> torch.Tensor:
        self.keys.add(key)
        return torch.from_numpy(stage_matrix(key)).to(dtype)

    def array(self, name: str, build: Callable[[], np.ndarray], dtype: torch.dtype) -> torch.Tensor:
        if name not in self.arrays:
            built = build()
            assert built.dtype == np.float64  # constants are computed in float64, stored as float32
            self.arrays[name] = torch.from_numpy(np.ascontiguousarray(built)).to(dtype)
        return self.arrays[name]


@st.composite
def fft_calls(draw: st.DrawFn) -> tuple[str, torch.Tensor, dict]:
    """A torch.fft call: function name, input and keyword arguments (n/s, dim, norm)."""
    family = draw(st.sampled_from(["fft", "ifft", "rfft", "irfft"]))
    variant = draw(st.sampled_from(["", "2", "n"]))
    ndim = draw(st.integers(2 if variant == "2" else 1, 3))
    shape = draw(st.lists(st.sampled_from(SIZES), min_size=ndim, max_size=ndim))
    count = {"": 1, "2": 2}.get(variant) or draw(st.integers(1, ndim))
    dims = draw(st.permutations(range(ndim)))[:count]
    dims = [d - ndim if draw(st.booleans()) else d for d in dims]
    sizes = draw(st.none() | st.lists(st.sampled_from(SIZES), min_size=count, max_size=count))
    if family == "irfft" and sizes is None:
        shape[dims[-1]] = max(shape[dims[-1]], 2)  # default n = 2 * (m - 1) must be positive
    kwargs: dict = {"norm": draw(st.sampled_from(NORMS))}
    if variant == "":
        kwargs.update(dim=dims[0], n=None if sizes is None else sizes[0])
    else:
        kwargs.update(dim=dims, s=sizes)
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen)
    if family != "rfft" and draw(st.booleans()):
        x = torch.complex(x, torch.randn(shape, generator=gen))
    return f"{family}{variant}", x, kwargs


def _assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    scale = max(1.0, float(expected.abs().max()))
    assert actual.shape == expected.shape
    assert float((actual - expected).abs().max()) <= 2e-5 * scale


def _as_real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t.resolve_conj()) if t.is_complex() else t


@settings(max_examples=80, deadline=None)
@given(fft_calls())
def test_transforms_match_torch_fft(call: tuple[str, torch.Tensor, dict]) -> None:
    """The DFT-matrix transforms themselves (eager, no export): all families, sizes, norms, s=."""
    name, x, kwargs = call
    expected = getattr(torch.fft, name)(x, **kwargs)
    handler = FFTOps(DictStore()).handlers()[f"fft_{name}"]
    value = Pair(x.real, x.imag) if x.is_complex() else x
    args = (kwargs.get("n"),) if "n" in kwargs else (kwargs.get("s"),)
    out = handler(value, *args, kwargs["dim"], kwargs["norm"])
    if isinstance(out, Pair):
        out = torch.complex(out.re, out.im)
    _assert_close(_as_real(out), _as_real(expected))


class FFTCall(torch.nn.Module):
    """One torch.fft call on a real input (complex inputs are built inside, like models do)."""

    def __init__(self, name: str, complex_input: bool, kwargs: dict) -> None:
        super().__init__()
        self.fn = getattr(torch.fft, name)
        self.complex_input = complex_input
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.complex_input:
            x = torch.complex(x, 0.5 * x.flip(0) - 1.0)
        return _as_real(self.fn(x, **self.kwargs))


def _export(module: torch.nn.Module, *inputs: torch.Tensor, aten: bool = False) -> torch.export.ExportedProgram:
    ep = torch.export.export(module.eval(), inputs, strict=False)
    return ep.run_decompositions() if aten else ep.run_decompositions({})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fft_calls(), st.booleans())
def test_lowered_program_matches_torch_fft(call: tuple[str, torch.Tensor, dict], aten: bool) -> None:
    """Whole pass on exported programs: torch.fft.* ops, or their aten _fft_r2c/_c2c/_c2r form."""
    name, x, kwargs = call
    module = FFTCall(name, x.is_complex(), kwargs)
    x = x.real.contiguous()
    ep = _export(module, x, aten=aten)
    lowered = lower_fft(ep)
    assert fft_op_count(lowered) == 0 and complex_value_count(lowered) == 0
    _assert_close(lowered.module()(x), module(x))


class ComplexOps(torch.nn.Module):
    """The complex ops that surround FFTs in real models."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(2, 4, 8, 4, 3))
        self.cw = torch.nn.Parameter(torch.randn(4, 4, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        spec = torch.fft.rfft2(x, dim=(2, 3), norm="ortho")
        weight = torch.view_as_complex(self.w.permute(1, 2, 3, 4, 0).contiguous())
        mixed = torch.einsum("bchw,chwo->bohw", spec, weight)
        parts = spec.real * spec.imag + spec.abs() + spec.angle()
        shifted = torch.view_as_real(spec.conj() * 2 + 1j - spec / (spec.abs() + 1))
        dc = spec[:, :, :, :1]  # divided by with |divisor| >= 1: no random input makes it ill-conditioned
        built = torch.complex(x, x + 1) / (dc / (dc.abs() + 1) + 2)
        cat = torch.cat([spec, spec], 1)[:, 1:3].permute(0, 2, 1, 3).reshape(2, -1)
        stacked = torch.stack([spec[:, 0], spec[:, 1].transpose(-1, -2).transpose(-1, -2)], 1).unsqueeze(0).squeeze(0)
        filled = torch.zeros_like(spec) + torch.full_like(spec, 2 - 1j) * spec[..., 0, None]
        product = spec @ self.cw  # complex matmul with a complex weight
        sel = spec[:, 1] - spec[:, 2, 2:3].expand(2, 8, 4).clone()
        back = torch.fft.irfft2(spec * filled, s=(8, 6), dim=(2, 3), norm="ortho")
        r = torch.view_as_real
        return r(mixed), parts, shifted, r(built), r(cat), r(stacked), r(product), r(sel), back


def test_complex_ops_are_lowered_exactly() -> None:
    module = ComplexOps()
    x = torch.randn(2, 4, 8, 6)
    lowered = lower_fft(_export(module, x))
    assert fft_op_count(lowered) == 0 and complex_value_count(lowered) == 0
    assert not any(t.is_complex() for t in lowered.state_dict.values())
    for got, want in zip(lowered.module()(x), module(x), strict=True):
        _assert_close(got, want.detach())


class WeightFilter(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x) * torch.view_as_complex(self.w), n=5)


def test_weight_only_complex_values_are_folded_into_constants() -> None:
    """view_as_complex of a weight runs once at lowering, not as select ops per inference."""
    module, x = WeightFilter(), torch.randn(4, 5)
    lowered = lower_fft(_export(module, x))
    assert "select" not in op_counts(lowered)
    _assert_close(lowered.module()(x), module(x).detach())


class TwoSpectra(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.fft.rfft2(x, norm="ortho")
        b = torch.fft.rfft2(x * 2, norm="ortho")
        return torch.fft.irfft2(a * b, s=x.shape[-2:], norm="ortho")


def test_dft_matrices_are_deduplicated_constants() -> None:
    lowered = lower_fft(_export(TwoSpectra(), torch.randn(1, 2, 6, 5)))
    names = [n for n in lowered.constants if "_dft_" in n]
    assert len(names) == 2  # one forward (r2c) matrix shared by both rfft2, one c2r
    assert all(lowered.constants[n].dtype == torch.float32 for n in names)


class WriteAfterABranch(torch.nn.Module):
    """An in-place write into a zero spectrum, after a branch that reads one value twice."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = torch.fft.fft(x)
        first = torch.fft.ifft(a * a.abs()).real
        out = torch.zeros(4, 8, dtype=torch.cfloat)
        out[:, :3] = torch.fft.fft(y)[:, :3]
        return first, torch.fft.ifft(out).real


def test_in_place_write_is_kept_whatever_is_walked_last() -> None:
    """The write is read by no node; it was dropped when the last node walked was already live."""
    module, x, y = WriteAfterABranch(), torch.randn(4, 8), torch.randn(4, 8)
    lowered = lower_fft(torch.export.export(module, (x, y)))
    for got, want in zip(lowered.module()(x, y), module(x, y), strict=True):
        _assert_close(got, want)


def test_program_without_fft_is_returned_unchanged() -> None:
    ep = _export(torch.nn.Linear(3, 2), torch.randn(1, 3))
    assert lower_fft(ep) is ep


class ComplexTanh(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(torch.tanh(torch.fft.fft(x)))


class ComplexOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(x)


@pytest.mark.parametrize("target", ["coreml", "executorch", "onnx"])
def test_unsupported_op_names_op_and_source_line(target: str) -> None:
    """The hint offers --fft native only where a native FFT runs (ONNX)."""
    with pytest.raises(UnsupportedOpError) as info:
        lower_fft(torch.export.export(ComplexTanh(), (torch.randn(4),)), target=target)
    message = str(info.value)
    assert "aten.tanh" in message
    assert re.search(r"test_fft_pass\.py:\d+ \(return torch\.view_as_real\(torch\.tanh", message)
    assert ("--fft native" in message) == (target == "onnx")


def test_complex_model_output_is_reported() -> None:
    with pytest.raises(UnsupportedOpError, match="returns a complex tensor"):
        lower_fft(_export(ComplexOutput(), torch.randn(4)))


# ---------------------------------------------------------------- factored, Bluestein and their layouts

FACTORED = frozenset({planning.FACTORED})
BLUESTEIN = frozenset({planning.BLUESTEIN})
PRIMES = [67, 71, 97, 101, 127, 131, 251, 257]


@st.composite
def long_sizes(draw: st.DrawFn) -> int:
    """Lengths past ALWAYS_DENSE: primes, prime powers and mixed products (odd ones included)."""
    kind = draw(st.sampled_from(["prime", "prime power", "mixed"]))
    if kind == "prime":
        return draw(st.sampled_from(PRIMES))
    if kind == "prime power":
        base = draw(st.sampled_from([2, 3, 5, 7]))
        return base ** draw(st.integers(math.ceil(math.log(65, base)), int(math.log(400, base))))
    factors = draw(st.lists(st.sampled_from([2, 3, 5, 7, 11, 13]), min_size=2, max_size=5))
    n = math.prod(factors)
    return n if 64 < n <= 600 else 4 * 3 * 7 * (2 if n > 600 else 3)


def _run_handler(name: str, x: torch.Tensor, forms: frozenset[str] | None, kwargs: dict) -> torch.Tensor:
    handler = FFTOps(DictStore(forms)).handlers()[f"fft_{name}"]
    value = Pair(x.real, x.imag) if x.is_complex() else x
    args = (kwargs.get("n"),) if "n" in kwargs else (kwargs.get("s"),)
    out = handler(value, *args, kwargs.get("dim", -1 if "n" in kwargs else None), kwargs.get("norm"))
    return torch.complex(out.re, out.im) if isinstance(out, Pair) else out


def _assert_within(actual: torch.Tensor, expected: torch.Tensor, bound: float) -> None:
    """Max error at most ``bound`` of the output scale (the pass's contract: 1e-5 in fp32)."""
    assert actual.shape == expected.shape
    error = float((_as_real(actual) - _as_real(expected)).abs().max())
    assert error <= bound * float(_as_real(expected).abs().max()), error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_sizes(), st.sampled_from(["rfft", "irfft", "fft", "ifft", "hfft"]), st.sampled_from(NORMS),
       st.sampled_from(["factored", "bluestein", "auto"]), st.integers(-3, 3), st.integers(0, 2 ** 16))
def test_factored_and_bluestein_forms_match_torch_fft(n: int, name: str, norm: str | None, form: str, pad: int,
                                                      seed: int) -> None:
    """Every kind, norm and n= (padding and truncation) through the factored and chirp-z forms."""
    forms = {"factored": FACTORED, "bluestein": BLUESTEIN, "auto": None}[form]
    gen = torch.Generator().manual_seed(seed)
    size = max(2, n + pad)
    if name in ("irfft", "hfft"):
        x = torch.complex(torch.randn(3, n // 2 + 1, generator=gen), torch.randn(3, n // 2 + 1, generator=gen))
    elif name == "rfft":
        x = torch.randn(3, size, generator=gen)
    else:
        x = torch.complex(torch.randn(3, size, generator=gen), torch.randn(3, size, generator=gen))
    kwargs = {"n": n, "norm": norm}
    if name == "hfft":
        from affdeploy.fft.spectral import SpectralOps

        value = Pair(x.real, x.imag)
        got = SpectralOps(DictStore(forms)).handlers()["fft_hfft"](value, n, -1, norm)
    else:
        got = _run_handler(name, x, forms, kwargs)
    _assert_within(got, getattr(torch.fft, name)(x, **kwargs), 1e-5)


@pytest.mark.parametrize(("name", "n", "forms"), [
    ("rfft", 65536, None), ("irfft", 65536, None), ("fft", 65521, BLUESTEIN), ("rfft", 3 * 2 ** 14, None),
])
def test_long_transforms_stay_within_1e_5_of_the_output_scale(name: str, n: int, forms: frozenset[str] | None) -> None:
    gen = torch.Generator().manual_seed(n)
    if name == "irfft":
        x = torch.complex(torch.randn(2, n // 2 + 1, generator=gen), torch.randn(2, n // 2 + 1, generator=gen))
    elif name == "rfft":
        x = torch.randn(2, n, generator=gen)
    else:
        x = torch.complex(torch.randn(2, n, generator=gen), torch.randn(2, n, generator=gen))
    got = _run_handler(name, x, forms, {"n": n})
    want = getattr(torch.fft, name)(x.double() if not x.is_complex() else x.to(torch.complex128), n=n)
    _assert_within(got.to(want.dtype), want, 1e-5)


class RoundTrip2d(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(x, norm="ortho")
        return torch.view_as_real(spectrum[..., :3, :5]), torch.fft.irfft2(spectrum * 0.5, s=x.shape[-2:], norm="ortho")


def test_1024x1024_rfft2_round_trip_is_exact_and_chunked() -> None:
    """The largest 2-D size of the contract, lowered (factored, run in chunks) and run eagerly."""
    module, x = RoundTrip2d(), torch.randn(1, 3, 1024, 1024)
    report: list[dict] = []
    lowered = lower_fft(_export(module, x), report=report)
    forms = {axis["form"].split()[0] for t in report for axis in t["axes"]}
    assert forms == {"factored"}
    for got, want in zip(lowered.module()(x), module(x), strict=True):
        _assert_within(got, want, 1e-5)


class Convolution(torch.nn.Module):
    """An FFT convolution with a weight-only filter: rfft, product, irfft (Hyena's fftconv)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.k = torch.nn.Parameter(torch.randn(4, n) / n)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        size = 2 * u.shape[-1]
        spectrum = torch.fft.rfft(u, n=size) * torch.fft.rfft(self.k, n=size)
        return torch.fft.irfft(spectrum.conj().conj(), n=size)[..., :u.shape[-1]]


def test_fft_convolution_stays_in_the_digit_layout() -> None:
    """Between rfft and irfft the spectrum stays in the networks' digit layout: two transposes in all (into
    the first level, out of the last), the filter's spectrum folded into a constant in that layout."""
    module, u = Convolution(1024), torch.randn(2, 4, 1024)
    report: list[dict] = []
    lowered = lower_fft(_export(module, u), report=report)
    assert [t["folded"] for t in report] == [False, True, False]  # rfft(k) ran once, at lowering time
    assert op_counts(lowered)["permute"] == 2 and op_counts(lowered)["bmm"] == 6
    _assert_within(lowered.module()(u), module(u).detach(), 1e-5)


def test_lowered_graph_keeps_every_tensor_within_five_dims() -> None:
    """Delegates cap tensor rank (XNNPACK 6, Core ML 5): five digits and a 2-D transform stay within 5 dims."""
    module, x = RoundTrip2d(), torch.randn(2, 3, 96, 1280)
    lowered = lower_fft(_export(module, x), forms=FACTORED)
    ranks = [len(n.meta["val"].shape) for n in lowered.graph.nodes if hasattr(n.meta.get("val"), "shape")]
    assert max(ranks) <= 5
    for got, want in zip(lowered.module()(x), module(x), strict=True):
        _assert_within(got, want, 1e-5)


def test_lowering_is_deterministic() -> None:
    module, x = Convolution(300), torch.randn(1, 4, 300)
    first, second = (lower_fft(_export(module, x)) for _ in range(2))
    assert list(first.constants) == list(second.constants)
    for name, value in first.constants.items():
        assert value.dtype == torch.float32 and torch.equal(value, second.constants[name])
    assert str(first.graph) == str(second.graph)


class FewModes(torch.nn.Module):
    """FNO's spectral layer at full resolution: rfft2, two corners of modes read, irfft2 of a sparse spectrum."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spectrum = torch.fft.rfft2(x)
        return torch.view_as_real(spectrum[:, :, :12, :12]), torch.view_as_real(spectrum[:, :, -12:, :12])


def test_only_the_bins_read_are_computed() -> None:
    module, x = FewModes(), torch.randn(1, 2, 256, 256)
    report: list[dict] = []
    lowered = lower_fft(_export(module, x), report=report)
    (transform,) = report
    full = 2 * 256 * 256 * (2 * 256 + 2 * 129)  # what dense matrices for every bin would cost, per channel
    assert transform["macs"] < 0.05 * full
    for got, want in zip(lowered.module()(x), module(x), strict=True):
        _assert_within(got, want, 1e-5)


def test_report_names_form_macs_and_constants() -> None:
    module, u = Convolution(4096), torch.randn(2, 4, 4096)
    report: list[dict] = []
    lower_fft(_export(module, u), report=report)
    live = [t for t in report if not t["folded"]]
    assert [t["op"] for t in live] == ["fft_rfft", "fft_irfft"]
    for t in live:
        assert t["axes"][0]["n"] == 8192 and t["axes"][0]["form"].startswith("factored ")
        assert t["macs"] > 0 and 0 < t["constant_bytes"] < 8e6
        assert "test_fft_pass.py" in t["source"]


def test_auto_keeps_a_transform_native_where_its_cost_model_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX under --fft auto: a transform whose native op is cheaper stays a DFT on complex values next to the
    lowered ones (mixed per transform); ONNX Runtime runs the mix. The measured model keeps none native."""
    import io

    import onnx
    import onnxruntime as ort

    module, u = Convolution(512), torch.randn(2, 4, 512)
    ep = _export(module, u)
    measured = lower_fft(ep, cost="onnxruntime", native="onnxruntime-dft")
    assert fft_op_count(measured) == 0  # with the fitted costs every transform here is cheaper lowered
    cheap = planning.NativeModel("onnxruntime-dft", pow2=1e-9, other=1e-9, op=0.0)
    monkeypatch.setitem(planning.NATIVE_MODELS, "onnxruntime-dft", cheap)
    report: list[dict] = []
    mixed = lower_fft(ep, cost="onnxruntime", native="onnxruntime-dft", report=report)
    assert {a["form"] for t in report if not t["folded"] for a in t["axes"]} == {"native"}
    assert fft_op_count(mixed) > 0
    proto = torch.onnx.export(mixed, (u,), dynamo=True, verbose=False).model_proto
    assert "DFT" in {node.op_type for node in proto.graph.node}
    buffer = io.BytesIO()
    onnx.save(proto, buffer)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: u.numpy()})
    _assert_within(torch.from_numpy(got), module(u).detach(), 1e-5)


class SpectrogramRoundTrip(torch.nn.Module):
    """stft and istft at Whisper's n_fft 400 / hop 160 (the framed form: from FRAMED_MIN_NFFT on)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(400))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = torch.stft(wave, 400, 160, window=self.window, return_complex=True)
        back = torch.istft(spec * 0.5, 400, 160, window=self.window, length=wave.shape[-1])
        return torch.view_as_real(spec), back


def test_large_n_fft_stft_and_istft_are_framed_and_exact() -> None:
    module, wave = SpectrogramRoundTrip(), torch.randn(2, 16000)
    report: list[dict] = []
    lowered = lower_fft(_export(module, wave), report=report)
    assert [t["forms"][0].split()[0] for t in report] == ["framed", "framed"]
    assert "conv1d" not in op_counts(lowered) and "conv_transpose1d" not in op_counts(lowered)
    for got, want in zip(lowered.module()(wave), module(wave), strict=True):
        _assert_within(got, want, 1e-5)
