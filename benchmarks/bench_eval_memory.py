"""Memory of ``affdeploy eval`` over thousands of images: it must stay flat (images stream one at a time).

Evaluates AFFNet-ET (64 px; the size does not change what accumulates per image) through ONNX Runtime and
ExecuTorch on a flat folder of N images (links to the bundled photographs, cycling), sampling the
process's resident memory every 100 images. Flat means the growth from the first sample to the last
is a small fraction of the resident size, and does not scale with N.

Writes benchmarks/results/eval_memory.{json,md}.

    .venv/bin/python benchmarks/bench_eval_memory.py [--images 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import part, save  # noqa: E402

from affdeploy.data.photos import bundled  # noqa: E402
from affdeploy.evaluation.run import EvalRequest, evaluate  # noqa: E402
from affdeploy.export.request import plan_exports  # noqa: E402

NAME = "eval_memory"
MEASURES = ("src/affdeploy/evaluation", "src/affdeploy/data/photos.py")
PUBLISHED_ARGS = ("--images", "3000")
MINUTES = 4
SAMPLE_EVERY = 100
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 1e6


def measure(count: int, folder: Path) -> dict[str, object]:
    images = folder / "images"
    images.mkdir()
    photos = [path for _, path in bundled()]
    for i in range(count):
        (images / f"{i:05d}{photos[i % len(photos)].suffix}").symlink_to(photos[i % len(photos)])
    requests = tuple(plan_exports("affnet-et", "onnx,executorch", image_size=64, out=folder / "models"))
    samples: list[tuple[int, float]] = []
    seen = [0]

    def progress(message: str, fraction: float | None = None) -> None:
        if fraction is not None and message != "done":
            seen[0] += 1
            if seen[0] % SAMPLE_EVERY == 0:
                samples.append((seen[0], round(rss_mb(), 1)))

    evaluate(EvalRequest(requests, images, models_dir=folder / "models", limit=20))  # export and warm up first
    start = time.perf_counter()
    report = evaluate(EvalRequest(requests, images, models_dir=folder / "models"), progress)
    seconds = time.perf_counter() - start
    first, last = samples[0][1], samples[-1][1]
    return {"images": report.evaluated, "seconds": round(seconds, 1), "samples": samples, "rss_first_mb": first,
            "rss_last_mb": last, "growth_mb": round(last - first, 1), "growth_share": round((last - first) / first, 4)}


def markdown(result: dict[str, object]) -> str:
    return "\n".join([
        "# affdeploy eval: memory over many images", "",
        f"AFFNet-ET at 64 px through ONNX Runtime and ExecuTorch on {result['images']} images "
        f"({result['seconds']} s); resident memory sampled every {SAMPLE_EVERY} images:", "",
        "| images evaluated | resident MB |", "|---|---|",
        *(f"| {n} | {mb} |" for n, mb in result["samples"]),  # type: ignore[attr-defined]
        "", part("summary", f"resident memory changed by {result['growth_mb']} MB "
                            f"({float(result['growth_share']):.1%}) from {SAMPLE_EVERY} to {result['images']} images"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.images, Path(tmp))
    _, md = save(NAME, result, markdown(result), script=__file__, measures=MEASURES, out=args.out)
    print(md.read_text())


if __name__ == "__main__":
    main()
