"""What the user asked ``affdeploy bench`` to measure, independent of where it runs.

The host engine, the Android runner and the iOS runner all take a BenchRequest, so the CLI
parses options once and every device kind honours the same warm-up, iteration and cool-down rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NOISY_CV = 0.10  # a run whose coefficient of variation exceeds this is flagged as noisy


@dataclass
class BenchRequest:
    models: list[str] = field(default_factory=lambda: ["affnet-t"])
    targets: list[str] = field(default_factory=lambda: ["torch", "onnx", "executorch"])
    fft: str = "auto"  # auto | dft | native
    threads: list[int] = field(default_factory=lambda: [1])
    warmup: int | None = 5  # iterations; ignored when warmup_s is set
    warmup_s: float | None = None
    iters: int | None = 30  # iterations; ignored when min_s is set
    min_s: float | None = None
    cooldown_s: float = 0.0  # pause between configurations (host) / max wait for cool-down (phones)
    image_size: int = 256
    precision: str = "fp32"
    weights: Path | None = None
    models_dir: Path = Path("models")
    artifacts: list[Path] = field(default_factory=list)  # existing .onnx/.pte files to run instead of exporting

    def image_size_of(self, model: str) -> int | None:
        """The image size ``model`` is exported at: ``image_size`` for AFFNet, none for a user model (its program's
        shapes)."""
        from affdeploy.models.source import is_user_model

        return None if is_user_model(model) else self.image_size
