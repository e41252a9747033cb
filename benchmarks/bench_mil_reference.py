"""How fast the Core ML reference interpreter checks a package: AFFNet-T interpreted vs PyTorch eager, one run.

affdeploy exports the model to Core ML twice (fp32 tensor input with logits, fp16 image classifier),
which already checks each package with the interpreter. This script then times, in interleaved
rounds on the same photograph, (a) PyTorch eager fp32 forward of the same model and (b) the
interpreter's prediction of each package as the export's parity check runs it, and reports the
medians and the interpreter/eager ratio, with each package's parity against PyTorch on the export's
parity inputs. Load time (spec parse + weights) is separate.
Both sides run single-threaded (torch.set_num_threads(1), BLAS with one thread).
Goal: an AFFNet-T 256 px package is checked in seconds, not minutes.

Writes <out>/mil_reference.json and <out>/mil_reference.md with the machine and tool versions (part
``summary``: the sentence README.md and docs/export.md quote).

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
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import EXPORT_CODE, part, save  # noqa: E402
from _timing import interleaved  # noqa: E402

from affdeploy.bench.host import host_device_info  # noqa: E402
from affdeploy.bench.stats import compute_stats  # noqa: E402
from affdeploy.coreml_reference import ENGINE  # noqa: E402
from affdeploy.data.inputs import image_parity_inputs  # noqa: E402
from affdeploy.export import ExportRequest, export_artifacts  # noqa: E402
from affdeploy.export.parity import image_checkset, run_parity  # noqa: E402
from affdeploy.export.pipeline import INIT_SEED  # noqa: E402
from affdeploy.export.registry import get_target  # noqa: E402
from affdeploy.models import build_model  # noqa: E402
from affdeploy.versions import tool_versions  # noqa: E402

NAME = "mil_reference"
MEASURES = ("benchmarks/_timing.py", *EXPORT_CODE, "src/affdeploy/coreml_reference", "src/affdeploy/fft",
            "src/affdeploy/passes", "src/affdeploy/data", "src/affdeploy/models/__init__.py",
            "src/affdeploy/models/affnet.py", "src/affdeploy/graph.py", "src/affdeploy/preprocessing.py",
            "src/affdeploy/bench/stats.py")
PUBLISHED_ARGS = ()
MINUTES = 2
GOAL_SECONDS = 10.0
VARIANTS = (("fp32", "tensor"), ("fp16", "image"))


def packages(model: str, size: int, folder: Path) -> dict[str, tuple[ExportRequest, Path]]:
    """The two Core ML packages, exported by affdeploy unless ``folder`` already has them."""
    requests = {f"{p}-{k}": ExportRequest.create(model, "coreml", precision=p, input_kind=k, image_size=size, out=folder)
                for p, k in VARIANTS}
    paths = {name: folder / get_target("coreml").artifact_name(r) for name, r in requests.items()}
    missing = [r for name, r in requests.items() if not paths[name].exists()]
    if missing:
        export_artifacts(missing, on_progress=lambda msg: print(f"  export: {msg}", flush=True))
    return {name: (request, paths[name]) for name, request in requests.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="affnet-t")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)

    folder = args.models_dir or Path(tempfile.mkdtemp(prefix="bench-mil-"))
    exported = packages(args.model, args.image_size, folder)
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        net = build_model(args.model).eval()
    check = image_checkset(net, image_parity_inputs(args.image_size))

    from coremltools.proto import Model_pb2  # noqa: F401  (its one-time import is not the package's load time)

    coreml = get_target("coreml")
    predicts: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    load_seconds: dict[str, float] = {}
    parity = {}
    for name, (request, path) in exported.items():
        started = time.perf_counter()
        predicts[name] = coreml.reference_predict(path, request)  # loads the spec and weights
        load_seconds[name] = time.perf_counter() - started
        parity[name] = run_parity(predicts[name], check, coreml.tolerance(request.precision),
                                  coreml.reference_transform(request), engine=ENGINE).to_dict()

    x = check.inputs[0]
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
               "load_s": load_seconds.get(name), "parity": parity.get(name)}
        for name, s in stats.items()
    }
    summary = {"benchmark": "mil_reference", "model": args.model, "image_size": args.image_size,
               "rounds": args.rounds, "goal_seconds": GOAL_SECONDS, "torch_threads": torch.get_num_threads(),
               "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
               "machine": asdict(host_device_info()), "versions": tool_versions(), "results": results}
    save(NAME, summary, markdown(summary), script=__file__, measures=MEASURES, out=args.out)
    print(markdown(summary))


def markdown(summary: dict[str, Any]) -> str:
    machine = summary["machine"]
    lines = [
        f"# Core ML reference interpreter: {summary['model']} at {summary['image_size']} px",
        "",
        f"Machine: {machine.get('cpu', '')} ({machine.get('cores', '?')} cores), torch threads "
        f"{summary['torch_threads']}, NumPy BLAS threads {summary.get('blas_threads', '?')}; numpy "
        f"{summary['versions'].get('numpy')}, torch {summary['versions'].get('torch')}, "
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
    fp16, fp32 = summary["results"]["fp16-image"], summary["results"]["fp32-tensor"]
    quoted = (f"{summary['model']} at {summary['image_size']} px is checked in {fp16['median_s']:.1f} s per input as "
              f"an fp16 image classifier and {fp32['median_s']:.1f} s in fp32 ({fp16['x_eager']:.0f}x and "
              f"{fp32['x_eager']:.0f}x the time of PyTorch eager, one thread each)")
    lines += ["", part("summary", quoted)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
