"""AFFNet architecture and checkpoint loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affdeploy import build_model, list_models
from affdeploy.errors import CheckpointError, UsageError
from affdeploy.models import MODELS
from affdeploy.models.affnet import AdaptiveFrequencyFilter, make_divisible
from affdeploy.models.checkpoint import guess_variant, read_state_dict

EXPECTED_PARAMS = {"affnet-et": 1_436_264, "affnet-t": 2_654_232, "affnet": 5_568_696}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: build_model(name) for name in list_models()}


def test_registry_lists_the_three_variants() -> None:
    assert list_models() == ["affnet-et", "affnet-t", "affnet"]


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_parameter_counts_match_the_official_models(models: dict[str, torch.nn.Module], name: str) -> None:
    assert sum(p.numel() for p in models[name].parameters()) == EXPECTED_PARAMS[name]
    assert MODELS[name].params == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_state_dict_has_the_official_416_keys(models: dict[str, torch.nn.Module], name: str) -> None:
    keys = list(models[name].state_dict())
    assert len(keys) == 416
    for key in (
        "conv_1.block.conv.weight",
        "conv_1.block.norm.num_batches_tracked",
        "layer_1.0.block.exp_1x1.block.conv.weight",
        "layer_2.0.block.conv_3x3.block.norm.running_var",
        "layer_3.1.global_rep.1.filter.b2",
        "layer_4.1.global_rep.3.filter.w1",
        "layer_4.1.global_rep.3.mlp.block.red_1x1.block.norm.weight",
        "layer_4.1.global_rep.4.weight",  # the stage's final GroupNorm
        "layer_5.1.conv_proj.block.conv.weight",
        "layer_5.1.fusion.block.norm.bias",
        "conv_1x1_exp.block.conv.weight",
        "classifier.fc.weight",
    ):
        assert key in keys, key
    assert "layer_4.1.global_rep.4.filter.w1" not in keys  # layer_4 has exactly 4 Blocks


def test_widths_follow_the_cvnets_configs(models: dict[str, torch.nn.Module]) -> None:
    sd = models["affnet"].state_dict()
    assert sd["layer_3.1.global_rep.0.filter.w1"].shape == (2, 8, 16, 16)  # 128 channels, 8 groups
    assert sd["layer_5.1.global_rep.2.filter.b1"].shape == (2, 8, 40)
    assert sd["conv_1x1_exp.block.conv.weight"].shape[0] == 960  # min(4 * 320, 960)
    assert models["affnet-et"].state_dict()["conv_1x1_exp.block.conv.weight"].shape[0] == 576
    # mlp inside a Block expands by ffn_dim / dim = 2
    assert sd["layer_4.1.global_rep.0.mlp.block.exp_1x1.block.conv.weight"].shape[:2] == (512, 256)


def test_make_divisible_matches_cvnets_rounding() -> None:
    assert make_divisible(16 * 4) == 64
    assert make_divisible(48 * 2) == 96
    assert make_divisible(10) == 16  # never below 90% of the value
    assert make_divisible(3) == 8


@pytest.mark.parametrize("size", [224, 256, 320])
def test_output_shape_for_multiples_of_32(models: dict[str, torch.nn.Module], size: int) -> None:
    with torch.no_grad():
        for model in models.values():
            out = model(torch.rand(1, 3, size, size))
            assert out.shape == (1, 1000)
            assert torch.isfinite(out).all()


def test_build_model_returns_eval_mode_and_custom_head() -> None:
    model = build_model("affnet-et", num_classes=10)
    assert not model.training
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_unknown_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown model 'affnet-xl'"):
        build_model("affnet-xl")


def _numpy_filter(f: AdaptiveFrequencyFilter, x: np.ndarray) -> np.ndarray:
    """REFERENCE §1's formula, written independently in numpy with complex numbers."""
    b, c, h, w = x.shape
    g, s = f.num_groups, f.group_size
    spec = np.fft.rfft2(x, axes=(2, 3), norm="ortho")
    z = spec.reshape(b, g, s, h, w // 2 + 1)
    w1 = f.w1.detach().double().numpy()
    b1 = f.b1.detach().double().numpy()
    w2 = f.w2.detach().double().numpy()
    b2 = f.b2.detach().double().numpy()
    silu = lambda v: v / (1 + np.exp(-v))  # noqa: E731
    lin1 = np.einsum("bkihw,kio->bkohw", z, w1[0] + 1j * w1[1]) + (b1[0] + 1j * b1[1])[None, :, :, None, None]
    o1 = silu(lin1.real) + 1j * silu(lin1.imag)
    o2 = np.einsum("bkihw,kio->bkohw", o1, w2[0] + 1j * w2[1]) + (b2[0] + 1j * b2[1])[None, :, :, None, None]
    shrink = lambda v: np.sign(v) * np.maximum(np.abs(v) - f.lambd, 0)  # noqa: E731
    mask = (shrink(o2.real) + 1j * shrink(o2.imag)).reshape(b, c, h, w // 2 + 1)
    return np.fft.irfft2(mask * spec, s=(h, w), axes=(2, 3), norm="ortho") + x


def test_frequency_filter_matches_the_paper_formula() -> None:
    torch.manual_seed(1)
    f = AdaptiveFrequencyFilter(32)
    with torch.no_grad():  # large weights so softshrink and both activations matter
        for p in (f.w1, f.w2, f.b1, f.b2):
            p.mul_(20)
    x = torch.randn(2, 32, 8, 6)
    expected = _numpy_filter(f, x.double().numpy())
    got = f(x).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


# --- checkpoints -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_et() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """affnet-et with randomised weights and BN statistics, as a stand-in for an official checkpoint."""
    torch.manual_seed(2)
    model = build_model("affnet-et")
    state = {k: (torch.randn_like(v) * 0.1 + (1.0 if k.endswith("running_var") else 0.0)).abs()
             if v.is_floating_point() and "running_var" in k
             else (torch.randn_like(v) * 0.05 if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model, state


@pytest.mark.parametrize("fmt", ["plain", "state_dict", "model", "module_prefix", "model_module_prefix"])
def test_checkpoint_formats_load_and_reproduce_outputs(tmp_path, trained_et, fmt: str) -> None:
    model, state = trained_et
    wrapped: object = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": torch.tensor(3)},
        "model": {"model": state},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
        "model_module_prefix": {"model": {f"module.{k}": v for k, v in state.items()}},
    }[fmt]
    path = tmp_path / "ckpt.pt"
    torch.save(wrapped, path)
    loaded = build_model("affnet-et", weights=path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a torch checkpoint at all")
    with pytest.raises(CheckpointError, match="is not a readable torch checkpoint"):
        build_model("affnet-et", weights=path)
    truncated = tmp_path / "truncated.pt"
    torch.save(build_model("affnet-et").state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        build_model("affnet-et", weights=truncated)


def test_missing_checkpoint_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        build_model("affnet-et", weights=tmp_path / "nope.pt")


def test_mismatched_keys_are_named(tmp_path, trained_et) -> None:
    _, state = trained_et
    bad = dict(state)
    bad.pop("layer_4.1.global_rep.3.filter.w1")
    bad["head.extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pt"
    torch.save(bad, path)
    with pytest.raises(CheckpointError) as err:
        build_model("affnet-et", weights=path)
    msg = str(err.value)
    assert "does not match affnet-et" in msg
    assert "1 missing: layer_4.1.global_rep.3.filter.w1" in msg
    assert "1 unexpected: head.extra.weight" in msg


def test_wrong_variant_names_the_variant_it_looks_like(tmp_path, trained_et) -> None:
    _, state = trained_et
    path = tmp_path / "et.pt"
    torch.save({"state_dict": state}, path)
    assert guess_variant(read_state_dict(path)) == "affnet-et"
    with pytest.raises(CheckpointError) as err:
        build_model("affnet-t", weights=path)
    assert "shape-mismatched" in str(err.value)
    assert err.value.hint == "the file looks like affnet-et; use --model affnet-et"


def test_state_dict_without_tensors_is_rejected(tmp_path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(CheckpointError, match="no state dict of tensors"):
        build_model("affnet-et", weights=path)


def test_checkpoint_holding_code_is_refused_without_running_it(tmp_path) -> None:
    import os

    class RunsCode:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pt"
    torch.save({"conv_1.block.conv.weight": torch.zeros(1), "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match=r"holds Python objects \(posix.system\) that a weights-only load refuses"):
        read_state_dict(path)
    assert not (tmp_path / "pwned").exists()
