"""LiteRT exports of user models: a dynamic dim is fixed at its example size, with a warning that says so.

litert-torch 0.10 cannot lower the DFT-lowered program with a symbolic dim (its JAX lowering needs
concrete shapes), so the .tflite takes the example shapes; the warning names each fixed dim. A
.tflite that does have a dynamic dim (another converter's) gets benchmark_model's --input_layer /
--input_layer_shape at the example sizes, or is refused when nothing sizes it. Several inputs and
outputs are checked in tests/test_user_models_android.py (one export of the two-input model to
every target, shared with the phone runners).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fft_zoo
import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from affdeploy.devices.android.runners import Job, ModelInput
from affdeploy.devices.android.tflite_runner import input_layer_flags
from affdeploy.errors import UsageError
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest

DYNAMIC = "fft_zoo:dynamic_batch"
FAKE = Path(__file__).parent / "runners" / "benchmark_model.py"
WARNING = ("LiteRT takes static shapes: converted at the example size, dynamic dim 0 of input 0 (x) fixed at 2; "
           "other sizes need an export at another example size")


@pytest.fixture(scope="module")
def exported(tflite_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """The dynamic-batch model exported to LiteRT: (artifact, manifest entry, stderr)."""
    out = tmp_path_factory.mktemp("dynamic_tflite")
    code, stdout, stderr = run_cli("export", "--model", DYNAMIC, "--target", "tflite", "--out", str(out), "--json")
    assert code == 0, stderr
    (entry,) = json.loads(stdout)
    return out / entry["path"], entry, stderr


def test_dynamic_batch_is_converted_at_its_example_size_with_a_warning(exported: tuple[Path, dict, str]) -> None:
    artifact, entry, stderr = exported
    assert stderr.strip() == f"warning: {entry['path']}: {WARNING}"
    assert entry["op_counts"]["warnings"] == [WARNING]
    assert entry["parity"]["status"] == "passed" and entry["parity"]["max_abs_err"] <= 1e-4

    session = get_target("tflite").open(artifact, ExportRequest.create(DYNAMIC, "tflite"), threads=1)
    model, (example,), _ = fft_zoo.build("dynamic-batch")
    (out_tensor,) = session.infer(session.prepare(example.numpy()))
    assert out_tensor.shape == (2, 3, 16)
    np.testing.assert_allclose(out_tensor, model(example).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="cannot reshape|dimension|shape|size"):
        session.infer(session.prepare(torch.zeros(3, 3, 16).numpy()))  # the static .tflite takes batch 2 only


def _with_dynamic_batch(artifact: Path, dest: Path) -> Path:
    """The same .tflite with input 0's shape signature [-1, 3, 16], as a converter keeping the dim writes it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(artifact.read_bytes(), 0))
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].shapeSignature = np.array([-1, 3, 16], dtype=np.int32)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dest.write_bytes(builder.Output())
    return dest


def _fake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(FAKE), "--num_runs=1", "--min_secs=0", "--warmup_runs=0", *args],
                          capture_output=True, text=True, timeout=120)


def test_benchmark_model_gets_the_example_shape_of_a_dynamic_tflite(exported: tuple[Path, dict, str],
                                                                    tmp_path: Path) -> None:
    dynamic = _with_dynamic_batch(exported[0], tmp_path / "dynamic.tflite")
    export = ExportRequest.create(DYNAMIC, "tflite")
    job = Job(export, dynamic, "dft", 1, 1, 1, (ModelInput("x", (2, 3, 16), "float32", (0,)),))
    flags, notes = input_layer_flags(job)
    assert flags == ["--input_layer=serving_default_x", "--input_layer_shape=2,3,16"]
    assert notes[0].startswith("benchmark_model resized the dynamic inputs (serving_default_x [-1, 3, 16])")
    run = _fake(f"--graph={dynamic}", *flags)
    assert run.returncode == 0 and "INFO: Inference timings in us:" in run.stdout, run.stderr
    # The real tool's checks, which the stand-in applies: no -1, as many shapes as names.
    refused = _fake(f"--graph={dynamic}", "--input_layer=serving_default_x", "--input_layer_shape=-1,3,16")
    assert refused.returncode == 1 and "Any unknown sizes in the shapes (-1's)" in refused.stderr
    refused = _fake(f"--graph={dynamic}", "--input_layer=a,b", "--input_layer_shape=2,3,16")
    assert refused.returncode == 1 and "must match the number of items in --input_layer" in refused.stderr
    # Nothing to size the dim with (a bare file): one clear error instead of a run at the stored size.
    with pytest.raises(UsageError, match="dynamic.tflite has dynamic input dims .* that no example input sizes"):
        input_layer_flags(Job(export, dynamic, "dft", 1, 1, 1))
    assert input_layer_flags(Job(export, exported[0], "dft", 1, 1, 1)) == ([], [])  # static, AFFNet-like: nothing
