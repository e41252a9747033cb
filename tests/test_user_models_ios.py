"""A user model on an iPhone: the app runs it by its id (test_app_user_models.py), and the records the
app writes get the model's sha256 stamped on the host, as Android and host records carry it."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import fft_zoo
from affdeploy.bench.schema import DeviceInfo, load_results
from affdeploy.devices.ios import app
from affdeploy.devices.ios.device import IosDevice

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
