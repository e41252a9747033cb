"""The reference interpreter on real converted models, and the faults its parity check must catch.

- AFFNet-ET (one AFF block per stage) 64 px, fp16 image classifier: the session's shared export (tests/conftest.py). Faults
  are written into copies of the package (a swapped weight blob, a dropped cast, a changed image
  scale) and the Core ML target's reference parity (and `verify_artifact`) must report "failed".
- A tiny torch classifier converted here with a BGR image input, per-channel bias and a transpose:
  image preprocessing and classifier outputs against PyTorch, then a flipped transpose
  permutation and a changed image bias must fail the same comparison.
- An FFT zoo model with a dynamic batch dim, and an audio model (stft log-mel front end through
  affdeploy's FFT pass, a bidirectional LSTM and an RNN body) in fp32 and fp16 against eager PyTorch;
  a torch GRU, which coremltools turns into a while_loop, is named as not interpretable.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

ct = pytest.importorskip("coremltools")

from affdeploy.coreml_reference import MilProgram, MilReferenceError, ReferenceModel, UnsupportedOpError  # noqa: E402
from affdeploy.data.inputs import image_parity_inputs  # noqa: E402
from affdeploy.export import MANIFEST_NAME, verify_artifact  # noqa: E402
from affdeploy.export.manifest import find_entry, upsert_entries  # noqa: E402
from affdeploy.export.parity import Tolerance, compare, image_checkset  # noqa: E402
from affdeploy.export.pipeline import INIT_SEED  # noqa: E402
from affdeploy.export.registry import get_target  # noqa: E402
from affdeploy.export.verify import entry_request  # noqa: E402
from affdeploy.fsutil import sha256_path  # noqa: E402
from affdeploy.models import build_model  # noqa: E402

SPEC_FILE = Path("Data/com.apple.CoreML/model.mlmodel")


def edited_copy(package: Path, dest_dir: Path, edit: Callable[[Any], None]) -> Path:
    """A copy of ``package`` (same name, manifest alongside) whose model spec ``edit`` changed in place."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / package.name
    shutil.copytree(package, dest)
    if (package.parent / MANIFEST_NAME).exists():
        shutil.copy(package.parent / MANIFEST_NAME, dest_dir / MANIFEST_NAME)
    spec = ct.proto.Model_pb2.Model()
    spec.ParseFromString((dest / SPEC_FILE).read_bytes())
    edit(spec)
    (dest / SPEC_FILE).write_bytes(spec.SerializeToString())
    return dest


def main_ops(spec: Any) -> Any:
    function = spec.mlProgram.functions["main"]
    return function.block_specializations[function.opset].operations


def const_named(spec: Any, name: str) -> Any:
    return next(op for op in main_ops(spec) if op.type == "const" and op.outputs[0].name == name)


def consumer_input(spec: Any, op_type: str, input_name: str) -> str:
    """The variable that the first ``op_type`` op reads as ``input_name``."""
    op = next(op for op in main_ops(spec) if op.type == op_type)
    return op.inputs[input_name].arguments[0].name


# ---------------------------------------------------------------- AFFNet-ET 64 px (fp16 image classifier)


@pytest.fixture(scope="module")
def affnet_package(affnet_et_64_export: tuple[Path, list[dict[str, Any]]]) -> Path:
    folder, entries = affnet_et_64_export
    entry = next(e for e in entries if e["target"] == "coreml")
    return folder / entry["path"]


def test_affnet_classifier_outputs_labels_and_probabilities(affnet_package: Path) -> None:
    model = ReferenceModel(affnet_package)
    assert model.is_classifier and model.program.opset == "CoreML6"
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    out = model.predict({"image": pixels})
    probs = model.class_probabilities({"image": pixels})
    assert probs.shape == (1000,) and abs(probs.sum() - 1) < 1e-2
    assert out["classLabel"] == max(out["classLabel_probs"], key=out["classLabel_probs"].get)
    assert out["classLabel_probs"][out["classLabel"]] == pytest.approx(probs.max(), rel=1e-6)


def _swap_two_conv_weights(spec: Any) -> None:
    """Point the first two convolutions with same-typed weight blobs at each other's blob."""
    ops = main_ops(spec)
    consts = {op.outputs[0].name: op for op in ops if op.type == "const"}
    weights = [consts[op.inputs["weight"].arguments[0].name] for op in ops if op.type == "conv"]
    seen: dict[bytes, Any] = {}
    for const in weights:
        key = const.outputs[0].type.SerializeToString()
        if key in seen:
            first, second = seen[key].attributes["val"].blobFileValue, const.attributes["val"].blobFileValue
            first.offset, second.offset = second.offset, first.offset
            return
        seen[key] = const
    raise AssertionError("no two conv weights of the same type")


def _drop_input_cast(spec: Any) -> None:
    """Remove the fp32 -> fp16 cast of the image and feed its fp32 source to the consumers."""
    ops = main_ops(spec)
    index, cast = next((i, op) for i, op in enumerate(ops) if op.type == "cast")
    source, target = cast.inputs["x"].arguments[0].name, cast.outputs[0].name
    for op in ops:
        for arg in op.inputs.values():
            for binding in arg.arguments:
                if binding.name == target:
                    binding.name = source
    del ops[index]


def _change_image_scale(spec: Any) -> None:
    """The image preprocessing's 1/255 becomes 1/200 (a wrong scale in the converter's input ops)."""
    const_named(spec, consumer_input(spec, "mul", "y")).attributes["val"].immediateValue.tensor.floats.values[0] = 1 / 200


@pytest.fixture(scope="module")
def reference_check(affnet_package: Path) -> Callable[[Path], dict[str, Any]]:
    """The Core ML target's reference-interpreter parity for a package, against the export's PyTorch model."""
    folder, entry = find_entry(affnet_package)
    request = entry_request(entry, folder)
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        net = build_model(entry.model)
    check = image_checkset(net, image_parity_inputs(entry.image_size))
    target = get_target("coreml")
    return lambda path: target.reference_parity(path, request, check).to_dict()


@pytest.mark.parametrize("fault", [_swap_two_conv_weights, _drop_input_cast, _change_image_scale],
                         ids=["swap-weight-blob", "drop-cast", "change-image-scale"])
def test_affnet_faults_fail_parity(affnet_package: Path, tmp_path: Path, fault: Callable[[Any], None],
                                   reference_check: Callable[[Path], dict[str, Any]]) -> None:
    broken = edited_copy(affnet_package, tmp_path, fault)
    parity = reference_check(broken)
    assert parity["status"] == "failed" and parity["engine"] == "mil-reference", parity


def test_verify_reports_a_broken_package_failed(affnet_package: Path, tmp_path: Path) -> None:
    broken = edited_copy(affnet_package, tmp_path, _drop_input_cast)
    _, entry = find_entry(broken)
    upsert_entries(tmp_path, [replace(entry, sha256=sha256_path(broken))])  # recorded as is: only parity can tell
    parity = verify_artifact(broken).parity
    assert parity.status == "failed" and "declares float16" in parity.reason, parity


def test_unknown_op_is_named_never_skipped(affnet_package: Path, tmp_path: Path,
                                          reference_check: Callable[[Path], dict[str, Any]]) -> None:
    def rename_silu(spec: Any) -> None:
        next(op for op in main_ops(spec) if op.type == "silu").type = "frobnicate"

    broken = edited_copy(affnet_package, tmp_path, rename_silu)
    with pytest.raises(UnsupportedOpError, match="'frobnicate'"):
        MilProgram.load(broken)
    parity = reference_check(broken)
    assert parity["status"] == "not verified" and "frobnicate" in parity["reason"]


def test_what_is_not_an_ml_program_is_one_clear_error(tmp_path: Path) -> None:
    neural_network = ct.proto.Model_pb2.Model()
    neural_network.specificationVersion = 4
    neural_network.neuralNetwork.SetInParent()
    (tmp_path / "old.mlmodel").write_bytes(neural_network.SerializeToString())
    with pytest.raises(MilReferenceError, match="'neuralNetwork', not an ML Program"):
        ReferenceModel(tmp_path / "old.mlmodel")
    (tmp_path / "empty.mlpackage").mkdir()
    with pytest.raises(MilReferenceError, match="not a readable .mlpackage"):
        ReferenceModel(tmp_path / "empty.mlpackage")
    (tmp_path / "junk.mlmodel").write_bytes(b"\xff" * 64)
    with pytest.raises(MilReferenceError, match="not a Core ML model spec"):
        ReferenceModel(tmp_path / "junk.mlmodel")


# ---------------------------------------------------------------- tiny BGR classifier with a transpose

LABELS = ["cat", "dog", "fox", "owl", "yak"]
SCALE, BIAS = 1 / 127.5, [-1.0, -0.5, 0.25]  # the bias is per channel, in the model's (BGR) channel order


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(4 * 8 * 8, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.gelu(self.conv(x)).transpose(2, 3)  # a square transpose: a bad perm keeps the shape
        return torch.softmax(self.head(y.flatten(1)) * 4, dim=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tiny, Path]:
    torch.manual_seed(3)
    net = Tiny().eval()
    traced = torch.jit.trace(net, torch.rand(1, 3, 16, 16))
    model = ct.convert(traced, inputs=[ct.ImageType(name="image", shape=(1, 3, 16, 16), scale=SCALE, bias=BIAS,
                                                    color_layout=ct.colorlayout.BGR)],
                       classifier_config=ct.ClassifierConfig(LABELS), convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS16)
    path = tmp_path_factory.mktemp("tiny") / "tiny.mlpackage"
    model.save(str(path))
    return net, path


PIXELS = [np.random.default_rng(s).integers(0, 256, size=(16, 16, 3), dtype=np.uint8) for s in range(3)]


def _torch_probs(net: Tiny, rgb: np.ndarray) -> np.ndarray:
    bgr = rgb[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    x = bgr * SCALE + np.array(BIAS, np.float32)[:, None, None]
    with torch.no_grad():
        return net(torch.from_numpy(x[None].copy())).numpy().reshape(-1)


def _parity(net: Tiny, path: Path) -> str:
    model = ReferenceModel(path)
    outputs = [model.class_probabilities({"image": p}) for p in PIXELS]
    return compare([_torch_probs(net, p) for p in PIXELS], outputs, Tolerance(max_abs_err=1e-4)).status


def test_bgr_image_with_bias_matches_torch(tiny: tuple[Tiny, Path]) -> None:
    net, path = tiny
    model = ReferenceModel(path)
    for pixels in PIXELS:
        expected = _torch_probs(net, pixels)
        out = model.predict({"image": pixels})
        assert out["classLabel"] == LABELS[int(np.argmax(expected))]
        np.testing.assert_allclose([out["classLabel_probs"][label] for label in LABELS], expected, atol=1e-6)
    assert _parity(net, path) == "passed"
    from PIL import Image

    pil = Image.fromarray(PIXELS[0], "RGB")  # a PIL image gives the same result as its pixel array
    np.testing.assert_array_equal(model.class_probabilities({"image": pil}), model.class_probabilities({"image": PIXELS[0]}))


def _flip_transpose(spec: Any) -> None:
    perm = const_named(spec, consumer_input(spec, "transpose", "perm")).attributes["val"].immediateValue.tensor.ints.values
    assert list(perm) == [0, 1, 3, 2]
    perm[2], perm[3] = perm[3], perm[2]


def _change_image_bias(spec: Any) -> None:
    """The blue channel's bias -1.0 becomes -0.5."""
    floats = const_named(spec, consumer_input(spec, "add", "y")).attributes["val"].immediateValue.tensor.floats.values
    assert list(floats) == pytest.approx(BIAS)
    floats[0] += 0.5


@pytest.mark.parametrize("fault", [_flip_transpose, _change_image_bias], ids=["flip-transpose", "change-image-bias"])
def test_tiny_faults_fail_parity(tiny: tuple[Tiny, Path], tmp_path: Path, fault: Callable[[Any], None]) -> None:
    net, path = tiny
    assert _parity(net, edited_copy(path, tmp_path, fault)) == "failed"


# ---------------------------------------------------------------- an FFT zoo model with a dynamic batch dim


def test_fft_zoo_dynamic_batch_model_matches_torch(tmp_path: Path) -> None:
    """The FFT pass's output converted like test_fft_zoo does: unknown dims, shapes built from scalars, fp16."""
    import copy

    from fft_zoo import build

    from affdeploy.fft import lower_fft
    from affdeploy.passes import delegate_friendly

    model, args, dynamic = build("dynamic-batch")
    program = delegate_friendly(lower_fft(torch.export.export(model, args, dynamic_shapes=dynamic)))
    mlmodel = ct.convert(copy.deepcopy(program).run_decompositions({}), minimum_deployment_target=ct.target.iOS16,
                         convert_to="mlprogram", skip_model_load=True)
    mlmodel.save(str(tmp_path / "zoo.mlpackage"))
    reference = MilProgram.load(tmp_path / "zoo.mlpackage")
    assert reference.input_types["args_0"].shape == (None, 3, 16)
    for batch in (2, 5):  # the package takes any batch size, like the exported program
        x = torch.randn(batch, 3, 16, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            want = model(x).numpy()
        (got,) = reference.run({"args_0": x.numpy()}).values()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=3e-3 * float(np.abs(want).max()))


# ---------------------------------------------------------------- an audio model: STFT log-mel front end, recurrent body


class AudioTagger(torch.nn.Module):
    """fft_zoo's torchaudio-style log-mel front end (stft), a bidirectional LSTM and a ReLU RNN over its frames,
    a per-frame head; the LSTM's final hidden states are a second output."""

    def __init__(self) -> None:
        super().__init__()
        from fft_zoo import LogMel

        self.front = LogMel(n_fft=64, hop=16, n_mels=12)
        self.lstm = torch.nn.LSTM(12, 8, batch_first=True, bidirectional=True)
        self.rnn = torch.nn.RNN(16, 6, batch_first=True, nonlinearity="relu")
        self.head = torch.nn.Linear(6, 3)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames, (h, _) = self.lstm(self.front(wave))
        out, _ = self.rnn(frames)
        return self.head(out), h


WAVE = torch.randn(2, 400, generator=torch.Generator().manual_seed(5))


def _traced_after_fft_pass(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """affdeploy's FFT pass (stft -> DFT matrix products) on the exported program, then TorchScript.

    coremltools 9 converts nn.LSTM / nn.RNN only from TorchScript: its torch.export frontend has no
    translation for aten.lstm.input, gru.input or rnn_tanh/rnn_relu.input ("Unsupported fx node"), so
    `affdeploy export --target coreml` cannot convert a recurrent model yet.
    """
    from affdeploy.fft import lower_fft
    from affdeploy.passes import delegate_friendly

    with torch.no_grad():
        program = delegate_friendly(lower_fft(torch.export.export(model, (example,)).run_decompositions({})))
        return torch.jit.trace(program.module(), (example,), check_trace=False)


@pytest.fixture(scope="module")
def audio_tagger(tmp_path_factory: pytest.TempPathFactory) -> tuple[AudioTagger, dict[str, Path]]:
    """The model and its fp32 and fp16 packages (iOS 17: the recurrent ops run in fp16 there)."""
    torch.manual_seed(11)
    model = AudioTagger().eval()
    traced = _traced_after_fft_pass(model, WAVE)
    folder = tmp_path_factory.mktemp("audio")
    paths = {}
    for name, precision in (("fp32", ct.precision.FLOAT32), ("fp16", ct.precision.FLOAT16)):
        mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="wave", shape=WAVE.shape)], convert_to="mlprogram",
                             compute_precision=precision, minimum_deployment_target=ct.target.iOS17,
                             skip_model_load=True)
        paths[name] = folder / f"audio-{name}.mlpackage"
        mlmodel.save(str(paths[name]))
    return model, paths


@pytest.mark.parametrize(("precision", "atol"), [("fp32", 1e-5), ("fp16", 5e-3)])
def test_stft_recurrent_audio_model_matches_torch(audio_tagger: tuple[AudioTagger, dict[str, Path]], precision: str,
                                                  atol: float) -> None:
    """The converter's own lstm (bidirectional: torch weights rearranged, states split [forward | backward]) and rnn,
    after the DFT front end, give eager PyTorch's frame logits and final LSTM states."""
    model, paths = audio_tagger
    reference = ReferenceModel(paths[precision])
    counts = reference.op_counts
    assert counts.get("lstm") == 1 and counts.get("rnn") == 1, counts
    assert not any("fft" in op for op in counts)
    dtype = np.float16 if precision == "fp16" else np.float32
    assert reference.program.run({"wave": WAVE.numpy()})[reference.program.output_names[0]].dtype == dtype
    got = list(reference.predict({"wave": WAVE.numpy()}).values())
    with torch.no_grad():
        want = [w.numpy() for w in model(WAVE)]
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=atol * max(1.0, float(np.abs(w).max())))


def test_torch_gru_becomes_a_loop_the_interpreter_names(tmp_path: Path) -> None:
    """coremltools converts nn.GRU not to MIL gru (Core ML's GRU applies the reset gate before the recurrent
    product, PyTorch's after) but to a while_loop of elementary ops. The interpreter runs no control flow: it
    stops at load naming while_loop, so the Core ML target's parity says "not verified", never "passed"."""
    class GruBody(torch.nn.Module):  # inside a module, as a model holds it (a bare traced nn.GRU trips the converter)
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(12, 8, batch_first=True)

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            return self.gru(frames)[0]

    frames = torch.randn(2, 6, 12)
    traced = torch.jit.trace(GruBody().eval(), (frames,), check_trace=False)
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="frames", shape=frames.shape)], convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT32, minimum_deployment_target=ct.target.iOS17,
                         skip_model_load=True)
    ops = {op.type for op in main_ops(mlmodel.get_spec())}
    assert "while_loop" in ops and "gru" not in ops, ops
    mlmodel.save(str(tmp_path / "gru.mlpackage"))
    with pytest.raises(UnsupportedOpError, match="'while_loop'"):
        MilProgram.load(tmp_path / "gru.mlpackage")


def test_an_lstm_audio_model_exports_to_core_ml_through_the_cli(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """torch.export spells nn.LSTM aten.lstm.input, which coremltools 9 does not translate; the Core ML target
    aliases it to the TorchScript translation, and the interpreter checks the two MIL lstm ops it emits."""
    from cli_helpers import cli

    code, out, err = cli(capsys, "export", "--model", "recurrent_models:lstm_tagger", "--target", "coreml",
                         "--out", str(tmp_path), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["op_counts"]["ops"]["lstm"] == 2 and entry["parity"]["status"] == "passed"
    assert entry["parity"]["engine"] == "mil-reference" and entry["parity"]["cosine"] > 0.999
