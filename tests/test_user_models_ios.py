"""A user model on an iPhone: the app runs it by its id (test_app_user_models.py); a model the app has
not bundled is one clear line before Xcode builds anything; the records the app writes get the
model's sha256 stamped on the host, as Android and host records carry it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import fft_zoo
import pytest
from test_ios import UDID, _app_dir, fake_xcode  # noqa: F401  (fake_xcode: fixture)

from affdeploy.bench.appmodel import TENSOR, AppModel, TensorMeta, write_app_model, write_catalog
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import DeviceInfo, load_results
from affdeploy.devices import ios
from affdeploy.devices.ios import app
from affdeploy.devices.ios.device import IosDevice
from affdeploy.errors import UsageError

APP_RESULTS = Path(__file__).parent / "data" / "ios" / "app_results.json"


def test_records_of_a_user_model_get_its_sha256(tmp_path: Path) -> None:
    pt2 = tmp_path / "gone.pt2"
    affnet, factory, moved = load_results(APP_RESULTS)[:3]
    records = [affnet, dataclasses.replace(factory, model="fft_zoo:multi_input"),
               dataclasses.replace(moved, model=str(pt2))]  # a .pt2 moved away since it was bundled
    phone = IosDevice("00008130-001A2B3C4D5E6F70", DeviceInfo(kind="ios", name="iphone15pro"))
    stamped = app.stamp_records(records, phone)
    assert [r.model_sha256 for r in stamped] == [
        "", hashlib.sha256(Path(fft_zoo.__file__).read_bytes()).hexdigest(), ""]
    pt2.write_bytes(b"not really a program")  # hashed as it is, never loaded
    (again,) = app.stamp_records(records[2:], phone)
    assert again.model_sha256 == hashlib.sha256(b"not really a program").hexdigest()
    assert all(r.device.name == "iphone15pro" for r in stamped)


def _bundle(app_folder: Path, model_id: str) -> None:
    """What `affdeploy ios-assets --model` leaves in the app for one user model (its metadata and the catalog)."""
    folder = app_folder / "AFFBench" / "Models"
    meta = AppModel(model="fft_zoo:multi_input", id=model_id, source_sha256=None, file="m.mlpackage", sha256="0",
                    target="coreml", backend="coreml", fft="dft", precision="fp32", image_size=256, mode=TENSOR,
                    inputs=[], outputs=[TensorMeta("out", [2, 15], "float32")])
    write_app_model(folder, meta)
    write_catalog(folder / "models.json", [meta], "labels.txt")


def test_a_user_model_the_app_has_not_bundled_is_refused_before_building(
        fake_xcode: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    folder = _app_dir(tmp_path)
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(folder))
    _bundle(folder, "some_other_model")
    request = BenchRequest(models=["fft_zoo:multi_input"], targets=["coreml"], iters=3)
    with pytest.raises(UsageError, match=r"no bundled artifact of fft_zoo:multi_input \(it has: some_other_model\)") as err:
        ios.find_device(UDID).run(request)
    assert "affdeploy ios-assets --model fft_zoo:multi_input" in str(err.value)
    assert not any(json.loads(line)["tool"] == "xcodebuild" for line in fake_xcode.read_text().splitlines())

    _bundle(folder, "fft_zoo-multi_input")  # bundled: xcodebuild runs the app with the model's id
    ios.find_device(UDID).run(request)
    (build,) = [c for c in map(json.loads, fake_xcode.read_text().splitlines()) if c["tool"] == "xcodebuild"]
    assert "--models fft_zoo-multi_input --targets coreml" in build["env"]["TEST_RUNNER_AFFDEPLOY_ARGS"]
