"""The one interface of every place a benchmark can run: this machine, an Android phone, an iPhone.

A device says what it is (``describe``), which fields of a :class:`BenchRequest` it honours, and
measures a request (``run``). The CLI resolves ``--device`` to a Device and calls these three, so
it never branches on the kind of device. A field a device cannot honour is refused before anything
runs, with the reason, rather than silently ignored.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, DeviceInfo
from affdeploy.devices.profiles import DeviceProfile
from affdeploy.errors import UsageError
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind

# The ``affdeploy bench`` option of each request field, so a refusal names what the user typed.
REQUEST_FLAGS: dict[str, str] = {
    "models": "--model",
    "targets": "--target",
    "fft": "--fft",
    "threads": "--threads",
    "warmup": "--warmup",
    "warmup_s": "--warmup-s",
    "iters": "--iters",
    "min_s": "--min-s",
    "cooldown_s": "--cooldown-s",
    "image_size": "--image-size",
    "precision": "--precision",
    "weights": "--weights",
    "models_dir": "--models-dir",
    "artifacts": "--artifact",
}
REQUEST_FIELDS = frozenset(f.name for f in fields(BenchRequest))


@runtime_checkable
class Device(Protocol):
    """What the CLI needs of a device."""

    kind: ClassVar[DeviceKind]
    id: str
    info: DeviceInfo
    profile: DeviceProfile | None

    @property
    def honours(self) -> frozenset[str]:
        """The BenchRequest fields this device acts on; any other field must keep its default."""
        ...

    def describe(self) -> dict[str, Any]:
        """The device as ``affdeploy devices --json`` shows it."""
        ...

    def use_runners(self, runners: Mapping[str, Path]) -> None:
        """Measure with these native runner binaries (by target); refused where no such runner runs."""
        ...

    def run(self, request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
        """Measure ``request`` here; refuses fields it cannot honour before starting."""
        ...


@dataclass
class DeviceBase(ABC):
    """Shared state and behaviour of the three devices; ``refused`` maps field -> why it cannot be honoured."""

    kind: ClassVar[DeviceKind]
    refused: ClassVar[Mapping[str, str]] = {}
    id: str
    info: DeviceInfo
    profile: DeviceProfile | None = None

    @property
    def honours(self) -> frozenset[str]:
        return REQUEST_FIELDS - set(self.refused)

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {
            "kind": self.kind,
            "serial": self.id,
            "state": info.extra.get("state", "device"),
            "model": info.model,
            "manufacturer": info.manufacturer,
            "profile": self.profile.name if self.profile else None,
            "soc": info.soc,
            "abi": info.abi,
            "os": info.os,
            "sdk": info.extra.get("sdk"),
            "cores": info.cores,
            "clusters": info.extra.get("clusters", []),
            "battery": info.extra.get("battery", {}),
            "thermal": info.extra.get("thermal", []),
        }

    @abstractmethod
    def run(self, request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
        """Measure ``request`` here (see Device.run)."""

    def use_runners(self, runners: Mapping[str, Path]) -> None:
        """Only Android phones run native runner binaries: anywhere else, naming one is an error."""
        from affdeploy.devices.android.runners import RUNNERS

        if runners:
            options = ", ".join(RUNNERS[t].option for t in runners)
            raise UsageError(f"{options} names an Android runner binary, but {self.kind} device {self.info.name or self.id} "
                             "does not run them")

    def prepare(self, request: BenchRequest) -> BenchRequest:
        """``request`` checked against what this device honours, with ``all`` expanded to the targets it runs."""
        from affdeploy.bench.engine import parse_targets

        self.check_request(request)
        return replace(request, targets=parse_targets(request.targets, self.kind, f"{self.kind} devices"))

    def check_request(self, request: BenchRequest) -> None:
        """UsageError naming every field set away from its default that this device cannot honour."""
        default = BenchRequest()
        problems = [
            f"{REQUEST_FLAGS.get(name, name)} ({reason})"
            for name, reason in self.refused.items()
            if getattr(request, name) != getattr(default, name)
        ]
        if problems:
            raise UsageError(f"{self.kind} device {self.info.name or self.id} cannot honour {'; '.join(problems)}")
