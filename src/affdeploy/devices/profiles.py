"""Known phones: how a profile name maps to the model string a device reports, its SoC and cores.

``match`` strings are compared case-insensitively with Android's ``ro.product.model`` or
iOS's ProductType. Core layouts are (count, max MHz) per cluster, big cluster last.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    platform: str  # "android" | "ios"
    marketing_name: str
    match: tuple[str, ...]  # model strings / product types the device reports
    soc: str
    clusters: tuple[tuple[int, int], ...]  # (cores, max MHz), little -> big

    @property
    def big_cores(self) -> int:
        return self.clusters[-1][0]


PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile("pixel6", "android", "Google Pixel 6", ("Pixel 6",), "Google Tensor", ((4, 1803), (2, 2253), (2, 2802))),
        DeviceProfile("pixel7", "android", "Google Pixel 7", ("Pixel 7",), "Google Tensor G2", ((4, 1803), (2, 2348), (2, 2850))),
        DeviceProfile("pixel7pro", "android", "Google Pixel 7 Pro", ("Pixel 7 Pro",), "Google Tensor G2", ((4, 1803), (2, 2348), (2, 2850))),
        DeviceProfile("pixel8", "android", "Google Pixel 8", ("Pixel 8",), "Google Tensor G3", ((4, 1704), (4, 2367), (1, 2915))),
        DeviceProfile("pixel8pro", "android", "Google Pixel 8 Pro", ("Pixel 8 Pro",), "Google Tensor G3", ((4, 1704), (4, 2367), (1, 2915))),
        DeviceProfile("pixel9", "android", "Google Pixel 9", ("Pixel 9",), "Google Tensor G4", ((4, 1950), (3, 2600), (1, 3100))),
        DeviceProfile("galaxy-s23", "android", "Samsung Galaxy S23", ("SM-S911B", "SM-S911U", "SM-S9110"), "Snapdragon 8 Gen 2", ((3, 2016), (4, 2803), (1, 3360))),
        DeviceProfile("galaxy-s24", "android", "Samsung Galaxy S24", ("SM-S921B", "SM-S921U"), "Exynos 2400 / Snapdragon 8 Gen 3", ((4, 1959), (5, 2900), (1, 3207))),
        DeviceProfile("oneplus11", "android", "OnePlus 11", ("CPH2449", "PHB110"), "Snapdragon 8 Gen 2", ((3, 2016), (4, 2803), (1, 3187))),
        DeviceProfile("iphone13", "ios", "iPhone 13", ("iPhone14,5",), "Apple A15 Bionic", ((4, 2016), (2, 3230))),
        DeviceProfile("iphone14pro", "ios", "iPhone 14 Pro", ("iPhone15,2",), "Apple A16 Bionic", ((4, 2020), (2, 3460))),
        DeviceProfile("iphone15", "ios", "iPhone 15", ("iPhone15,4",), "Apple A16 Bionic", ((4, 2020), (2, 3460))),
        DeviceProfile("iphone15pro", "ios", "iPhone 15 Pro", ("iPhone16,1",), "Apple A17 Pro", ((4, 2110), (2, 3780))),
        DeviceProfile("iphone16pro", "ios", "iPhone 16 Pro", ("iPhone17,1",), "Apple A18 Pro", ((4, 2420), (2, 4050))),
    )
}


def profile(name: str) -> DeviceProfile | None:
    """The profile called ``name`` (case-insensitive), if any."""
    return PROFILES.get(name.lower())


def profile_for_model(model: str) -> DeviceProfile | None:
    """The profile whose ``match`` strings include the model a device reports."""
    wanted = model.strip().lower()
    for prof in PROFILES.values():
        if any(wanted == m.lower() for m in prof.match):
            return prof
    return None
