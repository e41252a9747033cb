"""Known phones: which model strings a device reports for them, their SoC and cores.

A profile matches the model a device reports (Android's ``ro.product.model``, iOS's ProductType),
case-insensitively. Pixels and iPhones report one string in every region ("Pixel 7", "iPhone16,1");
Samsung and OnePlus report a regional model number, so a profile lists them all: Samsung's by the
family prefix every regional variant shares (SM-S911B, SM-S911U, SM-S911U1, SM-S911W, SM-S911N,
SM-S9110... all start with SM-S911), OnePlus's one by one. Core layouts are (count, max MHz) per
cluster, big cluster last.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    platform: str  # "android" | "ios"
    marketing_name: str
    match: tuple[str, ...]  # model strings / product types the device reports; "X*" matches any model starting with X
    soc: str
    clusters: tuple[tuple[int, int], ...]  # (cores, max MHz), little -> big

    @property
    def big_cores(self) -> int:
        return self.clusters[-1][0]

    def matches(self, model: str) -> bool:
        """True when ``model`` (as a device reports it; adb's listing writes spaces as _) is this phone."""
        wanted = model.strip().replace("_", " ").lower()
        return any(wanted.startswith(m[:-1].lower()) if m.endswith("*") else wanted == m.lower() for m in self.match)


_S8G2 = ((3, 2016), (4, 2803), (1, 3360))  # Snapdragon 8 Gen 2 "for Galaxy": 3 little, 2+2 mid, 1 prime

PROFILES: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        DeviceProfile("pixel6", "android", "Google Pixel 6", ("Pixel 6",), "Google Tensor",
                      ((4, 1803), (2, 2253), (2, 2802))),
        DeviceProfile("pixel7", "android", "Google Pixel 7", ("Pixel 7",), "Google Tensor G2",
                      ((4, 1803), (2, 2348), (2, 2850))),
        DeviceProfile("pixel7pro", "android", "Google Pixel 7 Pro", ("Pixel 7 Pro",), "Google Tensor G2",
                      ((4, 1803), (2, 2348), (2, 2850))),
        DeviceProfile("pixel8", "android", "Google Pixel 8", ("Pixel 8",), "Google Tensor G3",
                      ((4, 1704), (4, 2367), (1, 2915))),
        DeviceProfile("pixel8pro", "android", "Google Pixel 8 Pro", ("Pixel 8 Pro",), "Google Tensor G3",
                      ((4, 1704), (4, 2367), (1, 2915))),
        DeviceProfile("pixel9", "android", "Google Pixel 9", ("Pixel 9",), "Google Tensor G4",
                      ((4, 1950), (3, 2600), (1, 3100))),
        DeviceProfile("galaxy-s23", "android", "Samsung Galaxy S23", ("SM-S911*",), "Snapdragon 8 Gen 2", _S8G2),
        # Exynos 2400 in most regions, Snapdragon 8 Gen 3 in the US, Canada and China (U, U1, W, 0): the clusters
        # read from cpufreq at discovery are the phone's own; these are the Exynos layout.
        DeviceProfile("galaxy-s24", "android", "Samsung Galaxy S24", ("SM-S921*",), "Exynos 2400 / Snapdragon 8 Gen 3",
                      ((4, 1959), (3, 2592), (2, 2900), (1, 3207))),
        # CPH2447 Europe, CPH2449 India and global, CPH2451 North America, PHB110 China.
        DeviceProfile("oneplus11", "android", "OnePlus 11", ("CPH2447", "CPH2449", "CPH2451", "PHB110"),
                      "Snapdragon 8 Gen 2",
                      ((3, 2016), (4, 2803), (1, 3187))),
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
    return next((prof for prof in PROFILES.values() if prof.matches(model)), None)
