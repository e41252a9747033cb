"""How fast the Core ML reference interpreter checks a package: AFFNet-T interpreted vs PyTorch eager, one run.

affdeploy exports the model to Core ML twice (fp32 tensor input with logits, fp16 image classifier),
which already checks each package with the interpreter. This script then times, in interleaved
rounds on the same fixed input, (a) PyTorch eager fp32 forward of the same model and (b) the
interpreter's ``predict`` of each package, and reports the medians and the interpreter/eager ratio,
with each package's parity numbers against PyTorch. Load time (spec parse + weights) is separate.
Both sides run single-threaded (torch.set_num_threads(1), BLAS with one thread).
Goal: an AFFNet-T 256 px package is checked in seconds, not minutes.

Writes <out>/mil_reference.json and <out>/mil_reference.md with the machine and tool versions.

    .venv/bin/python benchmarks/bench_mil_reference.py [--model affnet-t] [--image-size 256] [--rounds 5]
        [--models-dir DIR (reused when it already holds the packages)] [--out benchmarks/results]
"""

from __future__ import annotations

import os

# One thread for both sides (set before NumPy's BLAS and torch load): the ratio then compares the work
# done, not two thread pools fighting over a shared 2-core machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _timing import interleaved  # noqa: E402

from affdeploy.bench.host import host_device_info  # noqa: E402
from affdeploy.bench.stats import compute_stats  # noqa: E402
from affdeploy.coreml_reference import ReferenceModel  # noqa: E402
from affdeploy.export import ExportRequest, export_artifacts  # noqa: E402
from affdeploy.export.parity import compare, log_softmax, parity_inputs, reference_outputs  # noqa: E402
from affdeploy.export.pipeline import INIT_SEED  # noqa: E402
from affdeploy.export.registry import get_target  # noqa: E402
from affdeploy.fsutil import atomic_write_text  # noqa: E402
from affdeploy.models import build_model  # noqa: E402
from affdeploy.versions import tool_versions  # noqa: E402

GOAL_SECONDS = 10.0
VARIANTS = (("fp32", "tensor"), ("fp16", "image"))


def packages(model: str, size: int, folder: Path) -> dict[str, Path]:
    """The two Core ML packages, exported by affdeploy unless ``folder`` already has them."""
    requests = {f"{p}-{k}": ExportRequest.create(model, "coreml", precision=p, input_kind=k, image_size=size, out=folder)
                for p, k in VARIANTS}
    paths = {name: folder / get_target("coreml").artifact_name(r) for name, r in requests.items()}
    missing = [r for name, r in requests.items() if not paths[name].exists()]
    if missing:
        export_artifacts(missing, on_progress=lambda msg: print(f"  export: {msg}", flush=True))
    return paths


def interpreter_predict(model: ReferenceModel, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """Scores as the parity check computes them: logits, or log class probabilities of the image classifier."""
    if kind == "tensor":
        name = model.description.output[0].name
        return lambda x: np.asarray(model.predict({"image": x})[name]).reshape(-1)
    return lambda x: np.log(np.maximum(model.class_probabilities(
        {"image": np.round(x[0].transpose(1, 2, 0) * 255).astype(np.uint8)}), 1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="affnet-t")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    folder = args.models_dir or Path(tempfile.mkdtemp(prefix="bench-mil-"))
    paths = packages(args.model, args.image_size, folder)
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        net = build_model(args.model).eval()
    inputs = parity_inputs(args.image_size)
    references = reference_outputs(net, inputs)

    from coremltools.proto import Model_pb2  # noqa: F401  (its one-time import is not the package's load time)

    loaded: dict[str, ReferenceModel] = {}
    load_seconds: dict[str, float] = {}
    for name, path in paths.items():
        started = time.perf_counter()
        loaded[name] = ReferenceModel(path)
        load_seconds[name] = time.perf_counter() - started
    predicts = {name: interpreter_predict(model, name.split("-")[1]) for name, model in loaded.items()}

    parity = {}
    for name, predict in predicts.items():
        transform = log_softmax if name.endswith("image") else (lambda v: v)
        tolerance = get_target("coreml").tolerance(name.split("-")[0])
        parity[name] = compare([transform(r) for r in references], [predict(x) for x in inputs], tolerance).to_dict()

    x = inputs[0]
    tensor = torch.from_numpy(x)
    calls: dict[str, Callable[[], object]] = {"pytorch-eager": lambda: net(tensor)}
    calls.update({name: (lambda predict=predict: predict(x)) for name, predict in predicts.items()})

    def report(r: int, samples: dict[str, list[float]]) -> None:
        print(f"  round {r}/{args.rounds}: " + ", ".join(f"{k} {v[-1] / 1e3:.2f} s" for k, v in samples.items()), flush=True)

    with torch.no_grad():
        net(tensor)  # warm-up (the interpreter has no lazy state to warm)
        samples = interleaved(calls, args.rounds, progress=report)

    stats = {name: compute_stats(values) for name, values in samples.items()}
    eager = stats["pytorch-eager"].p50
    results: dict[str, Any] = {
        name: {"median_s": s.p50 / 1e3, "cv": s.cv, "noisy": s.noisy, "x_eager": s.p50 / eager,
               "load_s": load_seconds.get(name), "parity": parity.get(name),
               "ops": {k: v for k, v in loaded[name].op_counts.items()} if name in loaded else None}
        for name, s in stats.items()
    }
    summary = {"benchmark": "mil_reference", "model": args.model, "image_size": args.image_size,
               "rounds": args.rounds, "goal_seconds": GOAL_SECONDS, "torch_threads": torch.get_num_threads(),
               "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
               "machine": asdict(host_device_info()), "versions": tool_versions(), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "mil_reference.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(args.out / "mil_reference.md", markdown(summary))
    print(markdown(summary))


def markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"# Core ML reference interpreter: {summary['model']} at {summary['image_size']} px",
        "",
        f"Machine: {machine.get('cpu', '')} ({machine.get('cores', '?')} cores), torch threads "
        f"{summary['torch_threads']}, NumPy BLAS threads {summary.get('blas_threads', '?')}; numpy {summary['versions'].get('numpy')}, torch {summary['versions'].get('torch')}, "
        f"coremltools {summary['versions'].get('coremltools')}. Median of {summary['rounds']} interleaved rounds, "
        "same input. Goal: a package checked in seconds "
        f"(< {summary['goal_seconds']:.0f} s per input).",
        "",
        "| what | median per input | x PyTorch eager | load (spec + weights) | parity vs PyTorch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in summary["results"].items():
        parity = row["parity"]
        parity_text = (f"{parity['status']}: max abs err {parity['max_abs_err']:.1e}, cosine {parity['cosine']:.6f}"
                       if parity else "(reference)")
        load = f"{row['load_s']:.2f} s" if row["load_s"] is not None else ""
        noisy = " (noisy)" if row["noisy"] else ""
        lines.append(f"| {name} | {row['median_s']:.2f} s{noisy} | {row['x_eager']:.1f}x | {load} | {parity_text} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
