"""Every runtime of AFFNet on this machine, side by side in one process, against an honest GEMM yardstick.

Runtimes: eager PyTorch (native FFT), torch.compile (native FFT), ONNX Runtime with the native DFT
op, ONNX Runtime with affdeploy's DFT lowering (fp32 and static int8), ExecuTorch XNNPACK (fp32 and
int8), LiteRT (TFLite) with its XNNPACK delegate running the same lowered program converted by
litert-torch (left out, with a note, when requirements-tflite.txt is not installed). Per thread
count, every configuration is loaded first, then timed in interleaved rounds (each round runs
every configuration a few times, rotating who goes first) together with two
fp32 GEMMs (1024^3, torch/MKL and numpy/OpenBLAS) whose faster median is the yardstick. Thread
counts of torch, the OpenMP/BLAS pools and ExecuTorch's XNNPACK pool are read back and must all
equal the count under test (LiteRT's XNNPACK delegate takes the interpreter's num_threads, which it
does not report back). Throughput is reported against both MAC counts: the nominal one
(the model as written, FFTs at n log n) and the one the DFT-lowered artifact executes.

Writes <out>/runtimes.json, runtimes.md and runtimes.png (ratios vs ExecuTorch fp32 and vs the yardstick).

    .venv/bin/python benchmarks/bench_runtimes.py [--models affnet-et,affnet-t,affnet] [--threads 1,2] [--rounds 12]
        [--runtimes executorch-xnnpack-fp32,ort-dft,tflite] (the fp32 race only)
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Before torch loads OpenMP: its idle threads sleep instead of spinning, so eager PyTorch does not take
# the cores from the runtime timed after it in the interleaved rounds (ONNX Runtime's sessions do the
# same through session_options).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import interleaved  # noqa: E402

from affdeploy.bench.yardstick import check_threads, gemm_calls, gemm_macs, gmacs_per_s, pin_threads, thread_setting, yardstick
from affdeploy.data.calibration import calibration_sets
from affdeploy.etruntime import load_forward, set_threads
from affdeploy.export.quantize import int8_parity, quantize_onnx, quantize_pt2e, recalibrate_batchnorm
from affdeploy.fft import lower_fft
from affdeploy.graph import example_input, export_program
from affdeploy.models import build_model
from affdeploy.models.executed import executed_macs
from affdeploy.models.profile import profile_model
from affdeploy.passes import delegate_friendly

REFERENCE = "executorch-xnnpack-fp32"
RUNTIMES = ("eager", "torch.compile", "ort-native-dft", "ort-dft", "ort-dft-int8", REFERENCE, "executorch-xnnpack-int8",
            "tflite")


@dataclass
class Artifacts:
    """One model's files and modules, built once and opened at every thread count."""

    model: str
    net: torch.nn.Module
    nominal_macs: int
    executed_macs: int
    files: dict[str, Path] = field(default_factory=dict)
    compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
    accuracy: dict[str, dict[str, object]] = field(default_factory=dict)  # int8 vs fp32 on validation photos


def _lower_pte(ep: torch.export.ExportedProgram, dest: Path) -> Path:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    dest.write_bytes(to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer)
    return dest


def _onnx(module: torch.nn.Module, dest: Path, size: int) -> Path:
    torch.onnx.export(module, (example_input(size),), str(dest), dynamo=True, external_data=False, verbose=False)
    return dest


def build(model: str, size: int, folder: Path, runtimes: set[str]) -> Artifacts:
    """Export everything ``runtimes`` needs for ``model``; int8 uses BN statistics recalibrated on photos."""
    torch.manual_seed(0)
    net = build_model(model).eval()
    calibration, validation, source = calibration_sets(size)
    if any("int8" in r for r in runtimes):
        recalibrate_batchnorm(net, calibration)  # untrained weights: realistic ranges for every runtime alike
    friendly = delegate_friendly(lower_fft(export_program(net, size)))
    art = Artifacts(model, net, profile_model(net, size).macs, sum(executed_macs(friendly).values()))
    stem = folder / f"{model}-{size}"
    if "ort-native-dft" in runtimes:
        art.files["ort-native-dft"] = _onnx(net, stem.with_suffix(".native.onnx"), size)
    if runtimes & {"ort-dft", "ort-dft-int8"}:
        art.files["ort-dft"] = _onnx(friendly.module(), stem.with_suffix(".dft.onnx"), size)
    if "ort-dft-int8" in runtimes:
        art.files["ort-dft-int8"] = stem.with_suffix(".int8.onnx")
        quantize_onnx(art.files["ort-dft"], art.files["ort-dft-int8"], calibration)
    if "tflite" in runtimes:
        from affdeploy.export.tflite import convert

        art.files["tflite"] = stem.with_suffix(".tflite")
        art.files["tflite"].write_bytes(convert(friendly, (example_input(size),)))
    if REFERENCE in runtimes:
        art.files[REFERENCE] = _lower_pte(copy.deepcopy(friendly), stem.with_suffix(".fp32.pte"))
    if "executorch-xnnpack-int8" in runtimes:
        art.files["executorch-xnnpack-int8"] = _lower_pte(quantize_pt2e(friendly, calibration), stem.with_suffix(".int8.pte"))
    if "torch.compile" in runtimes:
        art.compiled = torch.compile(net)
    with torch.no_grad():
        reference = [net(torch.from_numpy(x)).numpy() for x in validation]
    for runtime in ("ort-dft-int8", "executorch-xnnpack-int8"):
        if runtime in art.files:
            run = open_runtime(art, runtime, 1, size, inputs=True)
            art.accuracy[runtime] = int8_parity(run, reference, validation, source)
    return art


def open_runtime(art: Artifacts, runtime: str, threads: int, size: int, inputs: bool = False) -> Callable[..., object]:
    """One inference of ``runtime`` on a fixed input (ExecuTorch's pool must already have ``threads``).

    With ``inputs`` the call takes an image (1, 3, S, S) float32 array and returns the logits instead.
    """
    x = example_input(size)
    if inputs and runtime.startswith("executorch"):
        forward = load_forward(art.files[runtime])
        return lambda image: forward([torch.from_numpy(image)])[0].numpy()
    if runtime in ("eager", "torch.compile"):
        module = art.net if runtime == "eager" else art.compiled

        def run() -> object:
            with torch.inference_mode():
                return module(x)

        return run
    if runtime.startswith("executorch"):
        forward = load_forward(art.files[runtime])
        return lambda: forward([x])
    if runtime == "tflite":
        from affdeploy.export.tflite import interpreter

        runner = interpreter(art.files[runtime], threads)
        slot, sink = runner.get_input_details()[0]["index"], runner.get_output_details()[0]["index"]

        def invoke() -> object:
            runner.set_tensor(slot, x.numpy())
            runner.invoke()
            return runner.get_tensor(sink)

        return invoke
    import onnxruntime as ort

    from affdeploy.export.onnx import session_options

    session = ort.InferenceSession(str(art.files[runtime]), session_options(threads), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if inputs:
        return lambda image: session.run(None, {name: image})[0]
    feed = {name: x.numpy()}
    return lambda: session.run(None, feed)


def measure(arts: list[Artifacts], runtimes: list[str], threads: int, args: argparse.Namespace) -> list[dict[str, object]]:
    """All configurations at one thread count, with the yardstick, in one interleaved run."""
    set_threads(threads)  # before any ExecuTorch method loads (see etruntime.set_threads)
    setting = pin_threads(threads)  # and every other pool; all read back and checked
    calls: dict[str, Callable[[], object]] = {}
    for art in arts:
        for runtime in runtimes:
            if runtime in art.files or runtime == "eager" or (runtime == "torch.compile" and art.compiled):
                calls[f"{art.model}|{runtime}"] = open_runtime(art, runtime, threads, args.image_size)
    calls.update(gemm_calls())
    samples = interleaved(calls, args.rounds, args.per_round, args.warmup)
    check_threads(thread_setting(), threads)
    medians = {name: statistics.median(s) / 1e3 for name, s in samples.items()}  # seconds
    gemm_name, gemm = yardstick({k: v for k, v in medians.items() if k.startswith("gemm-")})
    rows: list[dict[str, object]] = []
    for name, median in medians.items():
        if name.startswith("gemm-"):
            rows.append({"model": "", "runtime": name, "threads": threads, "median_ms": median * 1e3,
                         "gmacs_per_s": gmacs_per_s(gemm_macs(), median), "yardstick": name == gemm_name})
            continue
        model, runtime = name.split("|")
        art = next(a for a in arts if a.model == model)
        nominal, executed = gmacs_per_s(art.nominal_macs, median), gmacs_per_s(art.executed_macs, median)
        ref = medians.get(f"{model}|{REFERENCE}")
        rows.append({
            "model": model, "runtime": runtime, "threads": threads, "median_ms": median * 1e3,
            "p10_ms": float(np.percentile(samples[name], 10)), "p90_ms": float(np.percentile(samples[name], 90)),
            "samples": len(samples[name]), "nominal_gmacs_per_s": nominal, "executed_gmacs_per_s": executed,
            "nominal_of_yardstick": nominal / gemm, "executed_of_yardstick": executed / gemm,
            "speed_vs_executorch_fp32": ref / median if ref else None, "int8_accuracy": art.accuracy.get(runtime),
        })  # fmt: skip
    for row in rows:
        row["yardstick_gmacs_per_s"] = gemm
        row["thread_setting"] = setting.counts()
    del calls
    gc.collect()
    return rows


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "torch": torch.__version__, "load_average_1_5_15": os.getloadavg()}


def markdown(rows: list[dict[str, object]], meta: dict[str, object]) -> str:
    lines = [
        "# Runtimes side by side: AFFNet on this machine",
        "",
        f"Reproduce: `.venv/bin/python benchmarks/bench_runtimes.py {meta['command']}` (one process, interleaved rounds, medians).",
        "",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['system']}; "
        f"load average at start {meta['load_start']}, at end {meta['load_end']} (shared machine: judge by ratios).",
        "",
        "Yardstick: fp32 GEMM 1024^3, faster median of torch.mm (MKL) and numpy.matmul (OpenBLAS), timed in the same "
        "interleaved rounds at the same thread count (every pool read back). MACs: nominal = the model as written "
        "(FFTs at n log n); executed = what the DFT-lowered artifact computes.",
        "",
    ]
    if any("int8" in r["runtime"] for r in rows):
        lines += ["Untrained weights: BatchNorm statistics were recalibrated on the calibration photos before export, "
                  "for every runtime alike, so that int8 sees realistic activation ranges.", ""]
    for threads in sorted({r["threads"] for r in rows}):
        group = [r for r in rows if r["threads"] == threads]
        gemm = group[0]["yardstick_gmacs_per_s"]
        lines += [f"## {threads} thread(s): yardstick {gemm:.1f} GMAC/s", "",
                  "| model | runtime | median ms | vs ET fp32 | GMAC/s nominal (% of GEMM) | GMAC/s executed (% of GEMM) |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in group:
            if not r["model"]:
                continue
            vs = f"{r['speed_vs_executorch_fp32']:.2f}x" if r["speed_vs_executorch_fp32"] else "-"
            lines.append(f"| {r['model']} | {r['runtime']} | {r['median_ms']:.2f} | {vs} | "
                         f"{r['nominal_gmacs_per_s']:.1f} ({r['nominal_of_yardstick']:.0%}) | "
                         f"{r['executed_gmacs_per_s']:.1f} ({r['executed_of_yardstick']:.0%}) |")
        lines.append("")
    accuracy = [r for r in rows if r.get("int8_accuracy") and r["threads"] == rows[0]["threads"]]
    if accuracy:
        lines += ["## int8 against fp32 (validation photos the calibration did not see)", "",
                  "| model | runtime | top-1 agreement | min cosine | mean cosine | floor met |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {r['model']} | {r['runtime']} | {a['top1_agreement']:.0%} | {a['min_cosine']:.4f} | "
                  f"{a['mean_cosine']:.4f} | {'yes' if a['passed'] else 'NO'} |" for r in accuracy for a in [r["int8_accuracy"]]]
        lines.append("")
    scaling = scaling_lines(rows)
    if scaling:
        lines += ["## Thread scaling (median at 1 thread / median at 2 threads)", "", *scaling, ""]
    lines += ["`vs ET fp32` > 1 means faster than the ExecuTorch XNNPACK fp32 .pte.", "", "![runtimes](runtimes.png)", ""]
    return "\n".join(lines)


def scaling_lines(rows: list[dict[str, object]]) -> list[str]:
    one = {(r["model"], r["runtime"]): r["median_ms"] for r in rows if r["threads"] == 1}
    two = {(r["model"], r["runtime"]): r["median_ms"] for r in rows if r["threads"] == 2}
    return [f"- {m or 'GEMM'} {rt}: {one[(m, rt)] / two[(m, rt)]:.2f}x" for (m, rt) in one if (m, rt) in two]


def plot(rows: list[dict[str, object]], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows if r["model"]))
    thread_counts = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.5), squeeze=False)
    for ax, threads in zip(axes[0], thread_counts):
        runtimes = list(dict.fromkeys(r["runtime"] for r in rows if r["model"] and r["threads"] == threads))
        width = 0.8 / len(runtimes)
        for i, runtime in enumerate(runtimes):
            values = [next((r["median_ms"] for r in rows if r["model"] == m and r["runtime"] == runtime and r["threads"] == threads), 0.0)
                      for m in models]
            ax.bar(np.arange(len(models)) + i * width, values, width, label=runtime)
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models)
        ax.set_ylabel("median latency, ms (lower is better)")
        ax.set_title(f"{threads} thread(s)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)


def _atomic_write(dest: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=dest.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="affnet-et,affnet-t,affnet")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--per-round", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    runtimes = [r for r in args.runtimes.split(",") if r]
    if "tflite" in runtimes and importlib.util.find_spec("litert_torch") is None:
        print("tflite left out: litert-torch is not installed (pip install -r requirements-tflite.txt)")
        runtimes.remove("tflite")
    meta: dict[str, object] = {"machine": machine(), "load_start": os.getloadavg()}
    meta["command"] = (f"--models {args.models} --runtimes {args.runtimes} --threads {args.threads} "
                       f"--rounds {args.rounds} --per-round {args.per_round}")
    with tempfile.TemporaryDirectory() as tmp:
        arts = [build(m, args.image_size, Path(tmp), set(runtimes)) for m in args.models.split(",")]
        rows = [row for t in map(int, args.threads.split(",")) for row in measure(arts, runtimes, t, args)]
    meta["load_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, meta)
    _atomic_write(args.out / "runtimes.json", lambda p: p.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str)))
    _atomic_write(args.out / "runtimes.md", lambda p: p.write_text(text))
    _atomic_write(args.out / "runtimes.png", lambda p: plot(rows, p))
    print(text)


if __name__ == "__main__":
    main()
