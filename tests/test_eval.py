"""``affdeploy eval`` (every artifact on a folder of images) and ``affdeploy run`` (one artifact, one input).

Both run on the shared exports of AFFNet-ET (one AFF block per stage, 64 px, every core target): found
in their manifest, nothing exported again.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli
from PIL import Image
from reduced_affnet import SHARED_MODEL

from affdeploy.data.photos import bundled
from affdeploy.errors import UsageError
from affdeploy.evaluation.images import (
    CLASS_FOLDERS,
    FLAT,
    class_index,
    open_image_set,
    read_labels,
)
from affdeploy.evaluation.run import EvalRequest, Tally, evaluate
from affdeploy.export.request import ExportRequest

SIZE = "64"
PHOTOS = dict(bundled())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, affnet_et_64_models: Path) -> Path:
    """A copy of the shared exports (eval may cache a missing artifact there; the shared folder stays as it is)."""
    folder = tmp_path_factory.mktemp("eval") / "models"
    shutil.copytree(affnet_et_64_models, folder)
    return folder


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ImageFolder layout: a WordNet id, a label name, a class index, a folder no class matches, two bad files."""
    root = tmp_path_factory.mktemp("images")
    layout = {"n02123045": ["skimage/chelsea.png", "skimage/coffee.png"], "tench": ["skimage/astronaut.png"],
              "3": ["skimage/rocket.jpg"], "holiday": ["skimage/camera.png"]}
    for folder, names in layout.items():
        (root / folder).mkdir()
        for name in names:
            shutil.copy(PHOTOS[name], root / folder / Path(name).name)
    (root / "tench" / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)).save(root / "holiday" / "depth.png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_eval_scores_every_artifact_on_class_folders(models: Path, image_folder: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "eval", "-m", SHARED_MODEL, "--image-size", SIZE, "--images", str(image_folder),
                         "-t", "onnx,executorch,coreml", "--models-dir", str(models), "--worst", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["layout"] == CLASS_FOLDERS and report["found"] == 7 and report["evaluated"] == 5
    assert {s["image"] for s in report["skipped"]} == {"tench/broken.jpg", "holiday/depth.png"}
    assert "skipped: tench/broken.jpg: cannot be read as an image" in err and "I;16" in err
    assert report["unmapped_folders"] == ["holiday"]
    rows = {row["artifact"]: row for row in report["artifacts"]}
    assert set(rows) == {"PyTorch", "onnx fp32", "executorch fp32", "coreml fp16"}
    assert rows["PyTorch"]["labelled"] == 4 and rows["PyTorch"]["top1_agreement"] is None
    for name, row in rows.items():
        assert row["images"] == 5 and 0.0 <= row["top1_accuracy"] <= row["top5_accuracy"] <= 1.0
        if name != "PyTorch":
            assert row["top1_agreement"] == 1.0 and len(row["worst"]) == 2 and Path(row["path"]).parent == models
            assert row["worst"][0]["cosine"] <= row["worst"][1]["cosine"]
    assert rows["onnx fp32"]["min_cosine"] > 0.99999 and rows["coreml fp16"]["engine"] == "mil-reference"
    assert rows["onnx fp32"]["top1_accuracy"] == rows["PyTorch"]["top1_accuracy"]
    assert not (models / "cache").exists()  # the exported artifacts were used as they are


def test_eval_of_a_flat_folder_is_agreement_only_and_the_table_reads(models: Path, image_folder: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "eval", "-m", SHARED_MODEL, "--image-size", SIZE, "--images",
                         str(image_folder / "n02123045"), "-t", "onnx", "--models-dir", str(models))
    assert code == 0, err
    assert "flat" in out and "onnx fp32 (ort-cpu)" in out and "100.0%" in out and "chelsea.png" in out


@pytest.mark.parametrize(("case", "message"), [
    ("empty", "holds no images"), ("missing", "is not a directory"), ("pt2", "eval measures image classifiers"),
    ("labels", "expected 'folder<TAB or comma>class'"),
])
def test_eval_bad_input_is_one_line(case: str, message: str, tmp_path: Path, models: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    args = ["-m", SHARED_MODEL, "--image-size", SIZE, "-t", "onnx", "--models-dir", str(models)]
    if case == "missing":
        images = tmp_path / "nowhere"
    elif case == "pt2":
        (tmp_path / "m.pt2").write_bytes(b"")
        args[1] = str(tmp_path / "m.pt2")
    elif case == "labels":
        (images / "cats").mkdir()
        shutil.copy(PHOTOS["skimage/chelsea.png"], images / "cats")
        (tmp_path / "labels.txt").write_text("cats,not a class\n")
        args += ["--labels", str(tmp_path / "labels.txt")]
    code, out, err = cli(capsys, "eval", *args, "--images", str(images))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


def test_folder_names_and_label_files_map_to_imagenet_classes(tmp_path: Path) -> None:
    assert class_index("n01440764") == 0 == class_index("tench") == class_index("0")
    assert class_index("great_white_shark") == 2 == class_index("Great-White-Shark")
    assert class_index("n99999999") is None and class_index("1000") is None and class_index("holiday") is None
    (tmp_path / "labels.txt").write_text("# mine\ncats\tn02123045\ndogs,207\n")
    assert read_labels(tmp_path / "labels.txt") == {"cats": 281, "dogs": 207}
    (tmp_path / "cats").mkdir()
    shutil.copy(PHOTOS["skimage/chelsea.png"], tmp_path / "cats")
    found = open_image_set(tmp_path, tmp_path / "labels.txt")
    assert found.layout == CLASS_FOLDERS and found.classes == {"cats": 281} and [i.label for i in found] == [281]
    flat = tmp_path / "cats"
    assert open_image_set(flat).layout == FLAT
    with pytest.raises(UsageError, match="--labels maps class folders"):
        open_image_set(flat, tmp_path / "labels.txt")


def test_a_tally_counts_top1_top5_agreement_and_keeps_only_the_worst() -> None:
    tally = Tally("x", keep=1)
    scores = np.arange(10.0)  # class 9 first, then 8, 7 ...
    tally.add(9, scores, scores, "same.png")
    tally.add(5, scores, scores[::-1].copy(), "reversed.png")  # class 5 is in the top 5, not first
    row = tally.to_dict()
    assert row["top1_accuracy"] == 0.5 and row["top5_accuracy"] == 1.0 and row["top1_agreement"] == 0.5
    assert [w["image"] for w in row["worst"]] == ["reversed.png"] and row["min_cosine"] < 0.5


def test_eval_streams_with_flat_memory(models: Path, tmp_path: Path) -> None:
    """Python memory peaks the same over 8 and 48 images: nothing accumulates per image."""
    request = ExportRequest.create(SHARED_MODEL, "onnx", image_size=int(SIZE), out=models)
    peaks = []
    for count in (8, 48):
        folder = tmp_path / str(count)
        folder.mkdir()
        for i in range(count):
            (folder / f"{i:03d}.jpg").symlink_to(PHOTOS["skimage/rocket.jpg"])
        evaluate(EvalRequest((request,), folder, models_dir=models, limit=4))  # warm: imports, sessions
        tracemalloc.start()
        report = evaluate(EvalRequest((request,), folder, models_dir=models))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report.evaluated == count
    assert peaks[1] < peaks[0] + 512 * 1024, peaks


def test_run_prints_a_classifiers_top_classes(affnet_et_64_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = next(affnet_et_64_models.glob("*.onnx"))
    code, out, err = cli(capsys, "run", str(onnx), "--input", str(PHOTOS["skimage/chelsea.png"]), "--top", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["top"]) == 3 and result["engine"] == "ort-cpu" and not result["outputs"]
    probabilities = [t["probability"] for t in result["top"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    package = next(affnet_et_64_models.glob("*.mlpackage"))
    code, out, err = cli(capsys, "run", str(package), "--input", str(PHOTOS["skimage/chelsea.png"]), "--json")
    assert code == 0, err
    assert json.loads(out)["top"][0]["class"] == result["top"][0]["class"]  # Core ML's fp16 program agrees
    code, out, err = cli(capsys, "run", str(onnx), "--input", str(onnx))
    assert code == 2 and "give an image" in err and len(err.strip().splitlines()) == 1
