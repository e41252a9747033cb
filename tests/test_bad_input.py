"""The bad-input suite: a hostile user against every command.

Each case asserts the exit code, that stderr is one clear 'error:' line naming the problem (no
traceback, no native log line), and that the output folder holds exactly what it held before. All
run the real CLI in-process on the session's 64 px export; nothing here exports a model. Signals,
two exports at once and a killed run are in test_bad_input_signals.py (real subprocesses).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bad_input_helpers import assert_one_clear_line, snapshot, tmpfs  # noqa: F401  (tmpfs: a fixture)
from cli_helpers import cli
from PIL import Image

from affdeploy.bench.schema import SCHEMA_ID
from affdeploy.errors import UsageError
from affdeploy.limits import max_threads
from affdeploy.models import build_model

Setup = Callable[[Path], list[str]]  # builds files under a scratch folder, returns the CLI arguments


class _RunsCode:
    """A pickle that would create ``marker`` when unpickled: proof that loading stays weights-only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def models(affnet_et_64_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the session's 64 px export (cases damage their own copies of it)."""
    folder = tmp_path_factory.mktemp("bad-input-models") / "models"
    shutil.copytree(affnet_et_64_models, folder)
    return folder


def artifact(models: Path, suffix: str) -> Path:
    (path,) = models.glob(f"*{suffix}")
    return path


def copy_export(models: Path, scratch: Path) -> Path:
    folder = scratch / "copy"
    shutil.copytree(models, folder)
    return folder


def results_doc(models: Path) -> dict[str, Any]:
    """A valid results document with one record (made from the schema's own example values)."""
    from affdeploy.bench.host import host_device_info
    from affdeploy.bench.schema import BenchRecord, dump_results
    from affdeploy.bench.stats import compute_stats

    samples = [5.0, 5.1, 4.9, 5.2, 5.0]
    record = BenchRecord(model="affnet-et", target="onnx", backend="ort-cpu", fft="dft", threads=1, precision="fp32",
                         image_size=64, device=host_device_info(), runner="affdeploy-host", samples_ms=samples,
                         stats=compute_stats(samples), warmup=1)
    return dump_results([record])


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def seeded_out(scratch: Path) -> Path:
    """An --out folder that already holds a manifest and a file, which a failed run must leave alone."""
    out = scratch / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"schema": "affdeploy.manifest/v1", "artifacts": []}) + "\n")
    (out / "keep.txt").write_text("the user's own file\n")
    return out


def export_args(scratch: Path, *extra: str, model: str = "affnet-et") -> list[str]:
    size = ["--image-size", "64"] if model == "affnet-et" else []  # other models take no image size (or are unknown)
    return ["export", "--model", model, "--target", "onnx", *size, *extra, "--out", str(seeded_out(scratch))]


def weights_file(scratch: Path, name: str, data: bytes) -> str:
    path = scratch / name
    path.write_bytes(data)
    return str(path)


def _noise(size: int) -> bytes:
    """Random-looking bytes, seeded: unseeded ones open with a format's magic now and then (0x08 ONNX, 0x80 pickle)."""
    return random.Random(size).randbytes(size)


def _pickled(obj: object) -> bytes:
    return pickle.dumps(obj, protocol=2)


def _zip_without_pickle(scratch: Path) -> str:
    path = scratch / "archive.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "hello")
    return str(path)


def _damaged(models: Path, scratch: Path, suffix: str, damage: Callable[[Path], None]) -> list[str]:
    folder = copy_export(models, scratch)
    target = artifact(folder, suffix)
    damage(target)
    return [str(target)]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:4000])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _touch_package(path: Path) -> None:
    (path / "Manifest.json").write_text((path / "Manifest.json").read_text() + " ")


def _manifest(models: Path, scratch: Path, text: str, suffix: str = ".pte") -> list[str]:
    folder = copy_export(models, scratch)
    (folder / "manifest.json").write_text(text)
    return [str(artifact(folder, suffix))]


def _results(models: Path, scratch: Path, change: Callable[[dict[str, Any]], None], name: str = "results.json") -> str:
    doc = results_doc(models)
    change(doc)
    return str(write_json(scratch / name, doc))


def _record(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        record = doc["records"][0]
        if value is _DELETE:
            del record[key]
        else:
            record[key] = value

    return change


_DELETE = object()
BIG = "100000"


def png_header(folder: Path, name: str, width: int, height: int) -> str:
    """A PNG that declares ``width`` x ``height`` grey pixels but holds 64 zero bytes: Pillow reads its size from
    the header alone (and refuses it past its pixel limit); decoding it finds the data cut short."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path = folder / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64)))
                     + chunk(b"IEND", b""))
    return str(path)


def picture(folder: Path, name: str, pixels: np.ndarray) -> str:
    """``pixels`` saved as an image file (its mode from the array: uint16 grey is 16-bit, uint8 RGB a photo)."""
    folder.mkdir(exist_ok=True)
    Image.fromarray(pixels).save(folder / name)
    return str(folder / name)


def photos(folder: Path, count: int) -> Path:
    """``count`` small noise photographs, enough for a --calibration folder."""
    rng = np.random.default_rng(0)
    for i in range(count):
        picture(folder, f"img{i:02d}.png", rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    return folder


def image_folder(scratch: Path, make: Callable[[Path], object]) -> str:
    """A folder ``images`` in ``scratch`` holding what ``make`` writes there."""
    folder = scratch / "images"
    folder.mkdir(exist_ok=True)
    make(folder)
    return str(folder)


HUGE = "is 20000x20000 (400,000,000 pixels), beyond Pillow's limit of 89,478,485 pixels"
DEEP = np.zeros((64, 64), dtype=np.uint16)
TINY_PHOTO = np.zeros((8, 8, 3), dtype=np.uint8)


def run_args(models: Path, image: str) -> list[str]:
    return ["run", str(artifact(models, ".onnx")), "-i", image]


def int8_args(scratch: Path, calibration: str) -> list[str]:
    return export_args(scratch, "--precision", "int8", "--calibration", calibration)



# (id, setup(models, scratch) -> argv, exit code, what the line must say)
CASES: list[tuple[str, Callable[[Path, Path], list[str]], int, str]] = [
    # --- names and sizes -------------------------------------------------------------------------
    # -t is repeatable and comma-separated in every command, parsed one way: an unknown name is named,
    # whatever else was asked for (also beside "all")
    ("export-unknown-target-beside-all", lambda m, s: ["export", "-m", "affnet-et", "-t", "all,bogus", "--out",
                                                      str(seeded_out(s))], 2, "unknown target 'bogus'"),
    ("export-unknown-target-repeated", lambda m, s: ["export", "-m", "affnet-et", "-t", "onnx", "-t", "nope", "--out",
                                                    str(seeded_out(s))], 2, "unknown target 'nope'"),
    ("eval-unknown-target", lambda m, s: ["eval", "-m", "affnet-et", "--images", str(s), "-t", "onnx,bogus"], 2,
     "unknown target 'bogus'"),
    ("bench-unknown-target-beside-all", lambda m, s: ["bench", "-m", "affnet-et", "-t", "all,bogus"], 2,
     "unknown target 'bogus'"),
    ("info-unknown-model", lambda m, s: ["info", "-m", "resnet50"], 2, "resnet50"),
    ("info-size-not-multiple", lambda m, s: ["info", "-m", "affnet-et", "--image-size", "100"], 2, "multiple of 32"),
    ("info-size-zero", lambda m, s: ["info", "-m", "affnet-et", "--image-size", "0"], 2, "multiple of 32"),
    ("info-size-negative", lambda m, s: ["info", "-m", "affnet-et", "--image-size", "-64"], 2, "multiple of 32"),
    ("info-size-huge", lambda m, s: ["info", "-m", "affnet-t", "--image-size", BIG], 2, "at most --image-size"),
    ("info-size-text", lambda m, s: ["info", "-m", "affnet-et", "--image-size", "big"], 2, "--image-size"),
    ("info-no-model", lambda m, s: ["info"], 2, "--model"),
    ("unknown-command", lambda m, s: ["deploy"], 2, "deploy"),
    ("unknown-option", lambda m, s: ["export", "--model", "affnet-et", "--target", "onnx", "--turbo"], 2, "--turbo"),
    ("export-unknown-model", lambda m, s: export_args(s, model="resnet50"), 2, "resnet50"),
    ("export-unknown-target", lambda m, s: export_args(s, "--target", "banana"), 2, "banana"),
    ("export-unknown-fft", lambda m, s: export_args(s, "--fft", "fast"), 2, "fast"),
    ("export-unknown-precision", lambda m, s: export_args(s, "--precision", "fp8"), 2, "fp8"),
    ("export-unknown-backend", lambda m, s: export_args(s, "--target", "executorch", "--backend", "cuda"), 2, "cuda"),
    ("export-coreml-native-fft", lambda m, s: export_args(s, "--target", "coreml", "--fft", "native"), 2, "--fft dft"),
    ("export-size-huge", lambda m, s: export_args(s, "--image-size", BIG), 2, "at most --image-size"),
    ("export-size-odd", lambda m, s: export_args(s, "--image-size", "33"), 2, "multiple of 32"),
    ("export-bad-coreml-input", lambda m, s: export_args(s, "--target", "coreml", "--coreml-input", "jpeg"), 2, "jpeg"),
    # --- checkpoints (weights_only stays on: the malicious one must not run) ----------------------
    ("weights-missing", lambda m, s: export_args(s, "--weights", str(s / "nope.pt")), 2, "nope.pt does not exist"),
    ("weights-folder", lambda m, s: export_args(s, "--weights", str(s)), 2, "does not exist"),
    ("weights-random-bytes", lambda m, s: export_args(s, "--weights", weights_file(s, "r.pt", _noise(512))), 1,
     "binary data"),
    ("weights-onnx-model", lambda m, s: export_args(s, "--weights", str(artifact(m, ".onnx"))), 1,
     "is an ONNX model, not a checkpoint"),
    ("weights-text", lambda m, s: export_args(s, "--weights", weights_file(s, "t.pt", b"epoch 3 loss 0.1\n")), 1,
     "is a text file"),
    ("weights-plain-pickle", lambda m, s: export_args(s, "--weights", weights_file(s, "p.pt", pickle.dumps({"a": 1}))),
     1, "plain Python pickle"),
    ("weights-malicious-pickle",
     lambda m, s: export_args(s, "--weights", weights_file(s, "evil.pt", _pickled(_RunsCode(s / "pwned")))), 1,
     "would run code on loading (posix.system)"),
    ("weights-empty", lambda m, s: export_args(s, "--weights", weights_file(s, "e.pt", b"")), 1, "is empty"),
    ("weights-zip-not-torch", lambda m, s: export_args(s, "--weights", _zip_without_pickle(s)), 1, "zip archive"),
    ("weights-safetensors",
     lambda m, s: export_args(s, "--weights", weights_file(s, "w.safetensors", (2).to_bytes(8, "little") + b"{}")), 1,
     "safetensors"),
    # --- output paths -----------------------------------------------------------------------------
    ("out-is-a-file", lambda m, s: [*export_args(s)[:-1], weights_file(s, "file.txt", b"x")], 1, "file.txt"),
    ("out-under-a-file", lambda m, s: [*export_args(s)[:-1], weights_file(s, "f.txt", b"x") + "/sub"], 1,
     "cannot create output folder"),
    ("out-corrupt-manifest", lambda m, s: _with_manifest(s, '{"schema": '), 1, "not a readable affdeploy manifest"),
    ("out-manifest-unknown-schema",
     lambda m, s: _with_manifest(s, json.dumps({"schema": "affdeploy.manifest/v9", "artifacts": []})), 1,
     "has schema 'affdeploy.manifest/v9'"),
    ("out-manifest-is-a-list", lambda m, s: _with_manifest(s, "[]"), 1, "manifest"),
    ("report-name-escapes", lambda m, s: ["report", _results(m, s, lambda d: None), "--out", str(s / "out"),
                                          "--name", "../escaped"], 2, "plain file name"),
    ("report-out-is-a-file", lambda m, s: ["report", _results(m, s, lambda d: None), "--out",
                                           weights_file(s, "out", b"x")], 1, "output folder"),
    # --- artifacts: corrupt, truncated, changed ---------------------------------------------------
    ("verify-missing", lambda m, s: ["verify", str(s / "gone.pte")], 2, "does not exist"),
    ("verify-not-an-artifact", lambda m, s: ["verify", weights_file(s, "notes.txt", b"hi")], 2, "notes.txt"),
    ("verify-no-manifest", lambda m, s: ["verify", str(shutil.copy(artifact(m, ".pte"), s))], 1, "no entry"),
    ("verify-truncated-pte", lambda m, s: ["verify", *_damaged(m, s, ".pte", _truncate)], 1, "changed since export"),
    ("verify-flipped-onnx", lambda m, s: ["verify", *_damaged(m, s, ".onnx", _flip_a_byte)], 1, "changed since export"),
    ("verify-changed-mlpackage", lambda m, s: ["verify", *_damaged(m, s, ".mlpackage", _touch_package)], 1,
     "changed since export"),
    ("verify-manifest-unknown-schema",
     lambda m, s: ["verify", *_manifest(m, s, json.dumps({"schema": "affdeploy.manifest/v2", "artifacts": []}))], 1,
     "has schema 'affdeploy.manifest/v2'"),
    ("verify-manifest-corrupt", lambda m, s: ["verify", *_manifest(m, s, "{not json")], 1,
     "not a readable affdeploy manifest"),
    ("inspect-truncated-pte", lambda m, s: ["inspect", *_damaged(m, s, ".pte", _truncate)], 1, "not a readable .pte"),
    ("inspect-random-onnx", lambda m, s: ["inspect", weights_file(s, "x.onnx", _noise(300))], 1, "x.onnx"),
    ("inspect-empty-pte", lambda m, s: ["inspect", weights_file(s, "x.pte", b"")], 1, "x.pte"),
    ("inspect-missing", lambda m, s: ["inspect", str(s / "gone.onnx")], 2, "does not exist"),
    ("inspect-wrong-suffix", lambda m, s: ["inspect", weights_file(s, "model.h5", b"\x89HDF")], 2, "model.h5"),
    # --- bench ------------------------------------------------------------------------------------
    ("bench-threads-huge", lambda m, s: ["bench", "--threads", "1000"], 2, f"at most {max_threads()}"),
    ("bench-threads-zero", lambda m, s: ["bench", "--threads", "0"], 2, "--threads"),
    ("bench-threads-text", lambda m, s: ["bench", "--threads", "one,two"], 2, "--threads"),
    ("bench-iters-zero", lambda m, s: ["bench", "--iters", "0"], 2, "--iters"),
    ("bench-warmup-negative", lambda m, s: ["bench", "--warmup", "-1"], 2, "--warmup"),
    ("bench-iters-and-min-s", lambda m, s: ["bench", "--iters", "3", "--min-s", "1"], 2, "not both"),
    ("bench-cooldown-negative", lambda m, s: ["bench", "--cooldown-s", "-5"], 2, "--cooldown-s"),
    ("bench-unknown-model", lambda m, s: ["bench", "-m", "vit"], 2, "vit"),
    ("bench-unknown-target", lambda m, s: ["bench", "-t", "tensorrt"], 2, "tensorrt"),
    ("bench-size-huge", lambda m, s: ["bench", "--image-size", BIG], 2, "at most --image-size"),
    ("bench-artifact-missing", lambda m, s: ["bench", "--artifact", str(s / "gone.pte")], 2, "does not exist"),
    ("bench-artifact-other-model", lambda m, s: ["bench", "--artifact", str(artifact(m, ".pte")), "-m", "affnet-t"], 2,
     "is affnet-et-1block (its manifest entry says so)"),
    ("bench-artifact-other-size", lambda m, s: ["bench", "--artifact", str(artifact(m, ".onnx")), "--image-size", "256"],
     2, "exported at --image-size 64"),
    ("bench-json-is-a-folder", lambda m, s: ["bench", "--json", str(s)], 2, "--json"),
    ("bench-csv-under-a-file", lambda m, s: ["bench", "--csv", weights_file(s, "f.txt", b"x") + "/r.csv"], 2,
     "is a file, not a folder"),
    ("bench-weights-missing", lambda m, s: ["bench", "--weights", str(s / "w.pt")], 2, "w.pt"),
    ("bench-bare-onnx-other-size",
     lambda m, s: ["bench", "--artifact", str(shutil.copy(artifact(m, ".onnx"), s)), "--image-size", "128"], 2,
     "takes 64x64 inputs, not --image-size 128"),
    ("bench-bare-pte-other-size",
     lambda m, s: ["bench", "--artifact", str(shutil.copy(artifact(m, ".pte"), s)), "--image-size", "256"], 2,
     "takes 64x64 inputs, not --image-size 256"),
    ("bench-bare-garbage-pte", lambda m, s: ["bench", "--artifact", weights_file(s, "bare.pte", b"\0" * 4 + _noise(3000)),
                                             "-m", "affnet-et", "--image-size", "64", "--iters", "1", "-t", "executorch"],
     1, "bare.pte is not an ExecuTorch program (no 'ET' identifier at byte 4)"),
    ("bench-bare-truncated-pte",
     lambda m, s: ["bench", "--artifact", weights_file(s, "cut.pte", artifact(m, ".pte").read_bytes()[:4000]),
                   "-m", "affnet-et", "--image-size", "64", "--iters", "1", "-t", "executorch"],
     1, "InvalidProgram (0x23): the file is not a valid ExecuTorch program"),
    # --- results files ----------------------------------------------------------------------------
    ("report-missing", lambda m, s: ["report", str(s / "gone.json")], 1, "does not exist"),
    ("report-not-json", lambda m, s: ["report", weights_file(s, "r.json", b"\x00\x01garbage")], 1, "not a readable JSON"),
    ("report-other-schema", lambda m, s: ["report", str(write_json(s / "r.json", {"schema": "mlperf/v4", "records": []}))],
     1, "is not a benchmark results file: its schema is 'mlperf/v4'"),
    ("report-a-manifest", lambda m, s: ["report", str(m / "manifest.json")], 1, "its schema is 'affdeploy.manifest/v1'"),
    ("report-no-stats", lambda m, s: ["report", _results(m, s, _record("stats", _DELETE))], 1,
     "record 0 (affnet-et onnx ort-cpu): field 'stats' is missing"),
    ("report-string-sample", lambda m, s: ["report", _results(m, s, lambda d: d["records"][0]["samples_ms"].append("x"))],
     1, "field 'samples_ms[5]' is the string 'x', expected a number"),
    ("report-record-not-object", lambda m, s: ["report", _results(m, s, lambda d: d["records"].append(7))], 1,
     "record 1 is the number 7, expected an object"),
    ("report-no-records", lambda m, s: ["report", _results(m, s, lambda d: d["records"].clear()), "--out",
                                        str(s / "out")], 2, "no records"),
    ("report-deep-json", lambda m, s: ["report", weights_file(s, "deep.json", b"[" * 200_000)], 1, "deep.json"),
    ("compare-nothing-matched",
     lambda m, s: ["compare", _results(m, s, lambda d: None),
                   str(write_json(s / "other.json", {**results_doc(m), "records": [
                       {**results_doc(m)["records"][0], "image_size": 256}]}))], 1, "image_size (64 vs 256)"),
    ("compare-empty", lambda m, s: ["compare", _results(m, s, lambda d: None),
                                    str(write_json(s / "e.json", {"schema": SCHEMA_ID, "records": []}))], 1,
     "holds no benchmark records"),
    ("compare-null-p50", lambda m, s: ["compare", _results(m, s, lambda d: d["records"][0]["stats"].update(p50=None)),
                                       _results(m, s, lambda d: None, "new.json")], 1, "field 'stats.p50' is null"),
    ("compare-negative-threshold", lambda m, s: ["compare", _results(m, s, lambda d: None), _results(m, s, lambda d: None),
                                                 "--threshold", "-0.1"], 2, "--threshold"),
    ("compare-nan-threshold", lambda m, s: ["compare", _results(m, s, lambda d: None), _results(m, s, lambda d: None),
                                            "--threshold", "nan"], 2, "--threshold"),
    ("compare-folder", lambda m, s: ["compare", str(s), str(s)], 1, "is a folder, not a regular file"),
    # --- images: past Pillow's pixel limit, 16-bit, tiny, not images (run, eval, --parity-images, --calibration) --
    ("run-image-past-pillow-limit", lambda m, s: run_args(m, png_header(s, "huge.png", 20000, 20000)), 2, HUGE),
    ("run-image-within-twice-pillow-limit", lambda m, s: run_args(m, png_header(s, "big.png", 10000, 10000)), 2,
     "is 10000x10000 (100,000,000 pixels), beyond Pillow's limit"),  # Pillow itself only warns below twice it
    ("run-image-cut-short", lambda m, s: run_args(m, png_header(s, "cut.png", 64, 64)), 2,
     "cut.png cannot be read as an image"),
    ("run-image-16-bit", lambda m, s: run_args(m, picture(s, "deep.png", DEEP)), 2, "is a I;16 image"),
    ("run-image-too-small", lambda m, s: run_args(m, picture(s, "tiny.png", TINY_PHOTO)), 2,
     "is 8x8; photos of at least 32 px"),
    ("run-image-is-text", lambda m, s: run_args(m, weights_file(s, "notes.png", b"hello")), 2,
     "notes.png cannot be read as an image"),
    ("run-image-is-a-folder", lambda m, s: run_args(m, _folder(s, "photo.png")), 2, "photo.png is not a file"),
    ("export-parity-images-past-pillow-limit",
     lambda m, s: export_args(s, "--parity-images", image_folder(s, lambda f: png_header(f, "huge.png", 20000, 20000))),
     2, HUGE),
    ("export-parity-images-none", lambda m, s: export_args(s, "--parity-images", image_folder(s, lambda f: None)), 2,
     "holds no images"),
    ("export-parity-images-16-bit",
     lambda m, s: export_args(s, "--parity-images", image_folder(s, lambda f: picture(f, "deep.png", DEEP))), 2,
     "is a I;16 image"),
    ("export-parity-images-not-images",
     lambda m, s: export_args(s, "--parity-images", image_folder(s, lambda f: weights_file(f, "a.jpg", b"text"))),
     2, "a.jpg cannot be read as an image"),
    ("export-calibration-past-pillow-limit",
     lambda m, s: int8_args(s, image_folder(s, lambda f: (photos(f, 23), png_header(f, "huge.png", 20000, 20000)))),
     2, HUGE),
    ("export-calibration-too-few", lambda m, s: int8_args(s, image_folder(s, lambda f: photos(f, 1))), 2,
     "holds 1 image; int8 needs at least 24"),
    ("export-calibration-missing", lambda m, s: int8_args(s, str(s / "nowhere")), 2, "is not a directory"),
    ("export-calibration-for-fp32",
     lambda m, s: export_args(s, "--calibration", image_folder(s, lambda f: photos(f, 24))), 2,
     "--calibration applies to --precision int8, not fp32"),
    ("export-int8-32px-untrained", lambda m, s: ["export", "-m", "affnet-et", "-t", "onnx", "--image-size", "32",
                                                "--precision", "int8", "--out", str(seeded_out(s))], 2,
     "--precision int8 at --image-size 32 needs trained --weights"),
    # --- app assets -------------------------------------------------------------------------------
    ("android-assets-nothing-exported",
     lambda m, s: ["android-assets", "--models-dir", str(s / "none"), "--app", str(Path("android_app").resolve())], 1,
     "affdeploy export --model affnet-t --target executorch"),
    ("ios-assets-nothing-exported",
     lambda m, s: ["ios-assets", "--models-dir", str(s / "none"), "--app", str(Path("ios_app").resolve())], 1,
     "affdeploy export --model affnet-t"),
]


def _with_manifest(scratch: Path, text: str) -> list[str]:
    args = export_args(scratch)
    (Path(args[-1]) / "manifest.json").write_text(text)
    return args


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(Path(__file__).parents[1])  # android_app/ and ios_app/ resolve from the repository root
    yield tmp_path


def assert_refused(scratch: Path, capfd: pytest.CaptureFixture[str], args: list[str], code: int, needle: str) -> None:
    """``capfd``: stderr read from file descriptor 2, where native libraries write their log lines past sys.stderr."""
    before = snapshot(scratch)
    exit_code, _out, err = cli(capfd, *args)
    assert exit_code == code, err
    assert_one_clear_line(err, needle)
    assert snapshot(scratch) == before  # no temporary, no half-written file, no new empty folder
    assert not (scratch / "pwned").exists()


def test_eval_of_images_past_pillows_limit(models: Path, scratch: Path, capfd: pytest.CaptureFixture[str],
                                          affnet_et_1block: str) -> None:
    """eval streams its images after finding the artifacts, so it needs the exported model's own name."""
    images = image_folder(scratch, lambda f: png_header(f, "huge.png", 20000, 20000))
    args = ["eval", "-m", affnet_et_1block, "--image-size", "64", "-t", "onnx", "--models-dir", str(models),
            "--images", images]
    assert_refused(scratch, capfd, args, 2, f"none of its 1 images could be read (first: huge.png: {HUGE}")


def test_a_native_log_line_on_fd_2_fails_the_check(capfd: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Native libraries write to file descriptor 2 directly, past sys.stderr: capfd sees a line the CLI lets through."""
    import affdeploy.cli.info as info_cmd
    from affdeploy import runtime_guard

    def native_log(target: str) -> None:
        os.write(2, b"E0000 00:00:00.000000 1 graph.cc:42] native log line\n")
        raise UsageError(f"bad input {target}")

    monkeypatch.setattr(info_cmd, "_costing", native_log)
    assert_one_clear_line(cli(capfd, "info", "-m", "affnet-et")[2], "bad input executorch")  # the CLI keeps it off
    guard = runtime_guard.native_stderr_captured
    monkeypatch.setattr(runtime_guard, "native_stderr_captured", lambda enabled=True: guard(False))
    with pytest.raises(AssertionError, match="native log line"):
        assert_one_clear_line(cli(capfd, "info", "-m", "affnet-et")[2], "bad input executorch")


@pytest.mark.parametrize(("setup", "code", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_touches_nothing(
    models: Path, scratch: Path, capfd: pytest.CaptureFixture[str], setup: Callable[[Path, Path], list[str]],
    code: int, needle: str,
) -> None:
    assert_refused(scratch, capfd, setup(models, scratch), code, needle)


# --- user code and options that need no export: user models are tiny factories written into the scratch folder ---

FACTORY_HEAD = """import os
import sys

import torch


class Twice(torch.nn.Module):
    def forward(self, x):
        return x * 2

"""


def factory(scratch: Path, name: str, body: str) -> str:
    """A module ``uc_NAME`` in ``scratch`` (importable: see ``user_code``), returning its ``module:make`` spec."""
    (scratch / f"uc_{name}.py").write_text(FACTORY_HEAD + textwrap.dedent(body))
    return f"uc_{name}:make"


class Counting(torch.nn.Module):
    """Updates a buffer in forward: state an exported artifact cannot keep."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.add_(1)
        return x + self.count


def _newer_torch_pt2(scratch: Path) -> str:
    """A .pt2 as a future torch writes it: its model.json names torch 99.0 and a schema this torch cannot read."""
    plain = scratch / "plain.pt2"
    torch.export.save(torch.export.export(Counting(), (torch.randn(1, 4),)), str(plain))
    path = scratch / "future.pt2"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("models/model.json"):
                model = json.loads(data)
                model.update(torch_version="99.0", schema_version={"major": 99, "minor": 0})
                data = json.dumps(model).encode()
            dst.writestr(name, data)
    plain.unlink()
    return str(path)


def _empty_pt2(scratch: Path) -> str:
    """A .pt2 saved from an example input with no values (torch.export takes it)."""
    path = scratch / "empty.pt2"
    torch.export.save(torch.export.export(torch.nn.ReLU(), (torch.randn(0, 4),)), str(path))
    return str(path)


def _folder(scratch: Path, name: str) -> str:
    (scratch / name).mkdir()
    return str(scratch / name)


# (id, setup(scratch) -> argv, exit code, what the line must say)
NO_EXPORT_CASES: list[tuple[str, Callable[[Path], list[str]], int, str]] = [
    ("factory-sys-exit-0", lambda s: ["info", "-m", factory(s, "exit0", "def make():\n    sys.exit(0)\n")], 1,
     "the factory uc_exit0:make called sys.exit(0) while building the model"),
    ("factory-sys-exit-3", lambda s: ["info", "-m", factory(s, "exit3", "def make():\n    sys.exit(3)\n")], 1,
     "called sys.exit(3)"),
    ("factory-os-exit", lambda s: ["info", "-m", factory(s, "osexit", "def make():\n    os._exit(0)\n")], 1,
     "called os._exit(0)"),
    ("module-exits-on-import", lambda s: ["info", "-m", factory(s, "script", "sys.exit(3)\n")], 1,
     "importing uc_script for --model uc_script:make called sys.exit(3)"),
    ("forward-returns-a-dict",
     lambda s: export_args(s, model=factory(s, "dict", """
        class Named(torch.nn.Module):
            def forward(self, x):
                return {"y": x * 2}

        def make():
            return Named(), (torch.randn(1, 4),)
        """)), 2, "returns a dict; it must return a tensor or a tuple/list of tensors"),
    ("forward-updates-a-buffer",
     lambda s: ["info", "-m", factory(s, "state", f"from {__name__} import Counting\n\n"
                                      "def make():\n    return Counting(), (torch.randn(1, 4),)\n")], 2,
     "updates its buffer(s) count in place"),
    ("empty-example-input",
     lambda s: ["info", "-m", factory(s, "empty", "def make():\n    return Twice(), (torch.randn(0, 4),)\n")], 2,
     "example input 0 has shape [0, 4], which holds no values"),
    ("export-empty-example-input",
     lambda s: export_args(s, model=factory(s, "empty_export",
                                            "def make():\n    return Twice(), (torch.randn(1, 0, 8),)\n")),
     2, "example input 0 has shape [1, 0, 8], which holds no values"),
    ("second-example-input-empty",
     lambda s: ["info", "-m", factory(s, "empty2",
                                      "def make():\n    return Twice(), (torch.randn(1, 4), torch.randn(2, 0))\n")],
     2, "example input 1 has shape [2, 0], which holds no values"),
    ("pt2-with-an-empty-example-input", lambda s: ["info", "-m", _empty_pt2(s)], 2,
     "example input 0 has shape [0, 4], which holds no values"),
    ("pt2-from-a-newer-torch", lambda s: ["info", "-m", _newer_torch_pt2(s)], 2,
     "was saved by torch 99.0, which this torch"),
    ("pt2-is-a-folder", lambda s: ["info", "-m", _folder(s, "unzipped.pt2")], 2, "is a folder, not a file"),
    ("bench-warmup-s-nan", lambda s: ["bench", "--warmup-s", "nan"], 2, "'--warmup-s': nan is not a finite number"),
    ("bench-min-s-nan", lambda s: ["bench", "--min-s", "nan"], 2, "'--min-s': nan is not a finite number"),
    ("bench-min-s-minus-inf", lambda s: ["bench", "--min-s", "-inf"], 2, "'--min-s': -inf is not a finite number"),
    ("bench-cooldown-inf", lambda s: ["bench", "--cooldown-s", "inf"], 2, "'--cooldown-s': inf is not a finite number"),
]


@pytest.fixture
def user_code(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``scratch`` on sys.path (factories import from there), without __pycache__ folders that would change it."""
    monkeypatch.syspath_prepend(str(scratch))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return scratch


@pytest.mark.parametrize(("setup", "code", "needle"), [c[1:] for c in NO_EXPORT_CASES],
                         ids=[c[0] for c in NO_EXPORT_CASES])
def test_bad_user_code_and_options_are_one_clear_line_and_touch_nothing(
    user_code: Path, capfd: pytest.CaptureFixture[str], setup: Callable[[Path], list[str]], code: int, needle: str,
) -> None:
    assert_refused(user_code, capfd, setup(user_code), code, needle)


def test_a_factory_that_prints_and_changes_directory_changes_nothing(user_code: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Its print stays out of --json's stdout; the working directory it chose is undone."""
    spec = factory(user_code, "noisy", """
        def make():
            print("building the model...")
            os.chdir("/")
            return Twice(), (torch.randn(1, 4),)
        """)
    cwd = os.getcwd()
    code, out, err = cli(capsys, "info", "-m", spec, "--json")
    assert code == 0, err
    assert json.loads(out)["model"] == spec
    assert os.getcwd() == cwd


@pytest.mark.parametrize(("link", "needle"), [("nowhere", "points nowhere"), ("out", "loops back on itself")])
def test_out_on_a_broken_link_says_so(scratch: Path, capsys: pytest.CaptureFixture[str], link: str,
                                      needle: str) -> None:
    out = scratch / "out"
    out.symlink_to(scratch / link)
    code, _, err = cli(capsys, "export", "-m", "affnet-et", "-t", "onnx", "--image-size", "64", "--out", str(out))
    assert code == 1
    assert_one_clear_line(err, f"{out} is a symbolic link that {needle}")
    assert [p.name for p in scratch.iterdir()] == ["out"] and out.is_symlink()


def test_a_failed_export_leaves_no_folder_it_created(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = scratch / "new" / "nested" / "models"
    code, _, err = cli(capsys, "export", "--model", "affnet-et", "--target", "onnx", "--image-size", "64",
                       "--weights", weights_file(scratch, "bad.pt", b"not a checkpoint"), "--out", str(out))
    assert code == 1
    assert_one_clear_line(err, "bad.pt")
    assert not (scratch / "new").exists()


def test_mismatched_checkpoint_names_the_variant_it_fits(scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = scratch / "t.pt"
    torch.save(build_model("affnet-t").state_dict(), path)
    args = export_args(scratch, "--weights", str(path))
    before = snapshot(scratch)
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert_one_clear_line(err, "use --model affnet-t")
    assert snapshot(scratch) == before


# --- a full disk and a read-only folder (real tmpfs mounts, which need root) ---------------------------


def test_full_disk_is_one_line_and_leaves_nothing(models: Path, scratch: Path, tmpfs: Callable[[str], Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    disk = tmpfs("size=8k")  # one page left after keep.txt: not even the first plot fits
    (disk / "keep.txt").write_text("already here\n")
    results = _results(models, scratch, lambda d: None)
    before = snapshot(disk)
    code, _, err = cli(capsys, "report", results, "--out", str(disk))
    assert code == 1
    assert_one_clear_line(err, "No space left on device")
    assert snapshot(disk) == before


def test_read_only_output_folder(scratch: Path, tmpfs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    disk = tmpfs("ro,size=64k")
    code, _, err = cli(capsys, *export_args(scratch)[:-1], str(disk))
    assert code == 1
    assert_one_clear_line(err, "not writable")
    assert snapshot(disk) == {}


# --- devices ---------------------------------------------------------------------------------------------


def test_adb_missing(scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(scratch))  # no adb anywhere
    code, _, err = cli(capsys, "bench", "--device", "pixel7", "--model", "affnet-et")
    assert code == 1
    assert_one_clear_line(err, "adb is not installed")


def test_a_phone_that_vanishes(loopback_device: Any, models: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in loopback_device.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    serial = loopback_device.serial
    loopback_device.kill()  # unplugged after `adb connect`: adb still lists it for a moment, then not at all
    code, _, err = cli(capsys, "bench", "--device", serial, "--artifact", str(artifact(models, ".pte")),
                       "--iters", "2", "--warmup", "0", "--json", str(scratch / "r.json"))
    assert code == 1
    assert_one_clear_line(err, serial)
    assert not (scratch / "r.json").exists()


def test_executorch_error_codes_are_words() -> None:
    from affdeploy.runtime_guard import explain_executorch_error

    assert explain_executorch_error("Failed to load program, error: 0x:23") == (
        "InvalidProgram (0x23): the file is not a valid ExecuTorch program (damaged, truncated, or not a .pte)")
    assert explain_executorch_error("load_method failed with error 0x14").startswith("OperatorMissing (0x14)")
    assert "does not know" in (explain_executorch_error("error: 0x7f") or "")
    assert explain_executorch_error("no code here") is None


def test_native_stderr_is_captured_and_our_messages_still_reach_the_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    import ctypes
    import sys

    from affdeploy.runtime_guard import native_stderr_captured

    libc = ctypes.CDLL(None)
    with native_stderr_captured() as log:
        libc.write(2, b"[cpuinfo_utils.cpp:125] from C\n", 31)  # how cpuinfo and XNNPACK log
        print("[program.cpp:168] from the bindings", file=sys.stderr)  # how ExecuTorch's pybindings log
        subprocess.run(["sh", "-c", "echo from a child >&2"], check=True)
        print("ours", file=log.terminal)
    assert log.lines() == ["[cpuinfo_utils.cpp:125] from C", "[program.cpp:168] from the bindings", "from a child"]
    assert capsys.readouterr().err == "ours\n"


def test_third_party_progress_bars_are_silenced() -> None:
    import io

    import tqdm

    from affdeploy.runtime_guard import quiet_progress_bars

    quiet_progress_bars()
    sink = io.StringIO()
    assert list(tqdm.tqdm(range(3), desc="Running MIL passes", file=sink)) == [0, 1, 2]
    assert sink.getvalue() == ""
