"""Every runtime of AFFNet on this machine, side by side in one process, against honest GEMM yardsticks.

Runtimes: eager PyTorch (native FFT), torch.compile (native FFT), ONNX Runtime with the native DFT
op, ONNX Runtime with affdeploy's DFT lowering (fp32 and static int8), ExecuTorch XNNPACK (fp32,
fp16 and int8), LiteRT (TFLite) with its XNNPACK delegate running the same lowered program converted by
litert-torch (left out, with a note, when requirements-tflite.txt is not installed). Per thread
count, every configuration is loaded first, then timed in interleaved rounds (each round runs
every configuration a few times, rotating who goes first) together with the GEMM yardsticks
(affdeploy.bench.yardstick): two fp32 GEMMs (1024^3, torch/MKL and numpy/OpenBLAS) and, when an
int8 runtime is measured, two int8 GEMMs (2048^3, ExecuTorch XNNPACK and ONNX Runtime); per
precision the faster median is the yardstick, and int8 rows are given against the int8 one. Thread
counts of torch, the OpenMP/BLAS pools and ExecuTorch's XNNPACK pool are read back and must all
equal the count under test (LiteRT's XNNPACK delegate takes the interpreter's num_threads, which it
does not report back). Throughput is reported against both MAC counts: the nominal one
(the model as written, FFTs at n log n) and the one the DFT-lowered artifact executes. A model row
at or above its yardstick means the yardstick is wrong: the script says so and exits with status 1.

Writes <out>/runtimes.json, runtimes.md and runtimes.png (ratios vs ExecuTorch fp32 and vs the yardsticks);
README.md and docs/ quote the markdown's parts ``conditions``, ``table``, ``summary``, ``int8-speedup``, ``macs``.

    .venv/bin/python benchmarks/bench_runtimes.py [--models affnet-et,affnet-t,affnet] [--threads 1,2] [--rounds 12]
        [--runtimes executorch-xnnpack-fp32,ort-dft,tflite] (the fp32 race only)
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from affdeploy.bench.openmp import sleep_idle_openmp_threads

sleep_idle_openmp_threads()  # before torch loads OpenMP (the same setting as the affdeploy CLI)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import MODEL_CODE, part, save  # noqa: E402
from _timing import interleaved  # noqa: E402

from affdeploy.bench.yardstick import (  # noqa: E402
    GEMM_SIZES,
    Int8Gemms,
    build_int8_gemms,
    check_threads,
    gemm_calls,
    gemm_macs,
    gemm_precision,
    gmacs_per_s,
    int8_gemm_calls,
    pin_threads,
    thread_setting,
    yardsticks,
)
from affdeploy.data.calibration import load_calibration  # noqa: E402
from affdeploy.etruntime import load_forward, set_threads  # noqa: E402
from affdeploy.export.quantize import half_program, int8_parity, quantize_onnx, quantize_pt2e, recalibrate_batchnorm  # noqa: E402
from affdeploy.fft import lower_fft  # noqa: E402
from affdeploy.graph import example_input, export_program  # noqa: E402
from affdeploy.models import build_model  # noqa: E402
from affdeploy.models.executed import executed_macs  # noqa: E402
from affdeploy.models.profile import profile_model  # noqa: E402
from affdeploy.passes import delegate_friendly  # noqa: E402

NAME = "runtimes"
MEASURES = ("benchmarks/_timing.py", "src/affdeploy/bench/yardstick.py", "src/affdeploy/bench/openmp.py",
            "src/affdeploy/data", "src/affdeploy/etruntime.py", "src/affdeploy/export/quantize.py",
            "src/affdeploy/export/parity.py", "src/affdeploy/export/onnx.py", "src/affdeploy/export/tflite.py",
            "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/graph.py", *MODEL_CODE)
PUBLISHED_ARGS = ()
MINUTES = 25
REFERENCE = "executorch-xnnpack-fp32"
RUNTIMES = ("eager", "torch.compile", "ort-native-dft", "ort-dft", "ort-dft-int8", REFERENCE, "executorch-xnnpack-fp16",
            "executorch-xnnpack-int8", "tflite")


def yardstick_precision(runtime: str) -> str:
    """Which yardstick a runtime's row is held against: int8 rows the int8 GEMM, all others fp32.

    fp16 rows too: this x86 CPU has no fp16 arithmetic, so XNNPACK computes fp16 graphs in fp32 lanes.
    """
    return "int8" if runtime.endswith("int8") else "fp32"


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
    sets = load_calibration(size)
    calibration, validation, source = sets.calibration, sets.validation, sets.source
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
    if "executorch-xnnpack-fp16" in runtimes:
        art.files["executorch-xnnpack-fp16"] = _lower_pte(half_program(friendly), stem.with_suffix(".fp16.pte"))
    if "executorch-xnnpack-int8" in runtimes:
        art.files["executorch-xnnpack-int8"] = _lower_pte(quantize_pt2e(friendly, calibration),
                                                          stem.with_suffix(".int8.pte"))
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


def measure(arts: list[Artifacts], runtimes: list[str], threads: int, args: argparse.Namespace,
            int8_gemms: Int8Gemms | None) -> list[dict[str, object]]:
    """All configurations at one thread count, with the yardsticks, in one interleaved run."""
    set_threads(threads)  # before any ExecuTorch method loads (see etruntime.set_threads)
    setting = pin_threads(threads)  # and every other pool; all read back and checked
    calls: dict[str, Callable[[], object]] = {}
    for art in arts:
        for runtime in runtimes:
            if runtime in art.files or runtime == "eager" or (runtime == "torch.compile" and art.compiled is not None):
                calls[f"{art.model}|{runtime}"] = open_runtime(art, runtime, threads, args.image_size)
    calls.update(gemm_calls())
    if int8_gemms is not None:
        calls.update(int8_gemm_calls(int8_gemms, threads))
    samples = interleaved(calls, args.rounds, args.per_round, args.warmup)
    check_threads(thread_setting(), threads)
    medians = {name: statistics.median(s) / 1e3 for name, s in samples.items()}  # seconds
    sticks = yardsticks({k: v for k, v in medians.items() if k.startswith("gemm-")})
    rows: list[dict[str, object]] = []
    for name, median in medians.items():
        if name.startswith("gemm-"):
            precision = gemm_precision(name)
            rows.append({"model": "", "runtime": name, "threads": threads, "yardstick_precision": precision,
                         "median_ms": median * 1e3, "gmacs_per_s": gmacs_per_s(gemm_macs(GEMM_SIZES[precision]), median),
                         "yardstick": name == sticks[precision][0]})
            continue
        model, runtime = name.split("|")
        art = next(a for a in arts if a.model == model)
        precision = yardstick_precision(runtime)
        gemm = sticks[precision][1]
        nominal, executed = gmacs_per_s(art.nominal_macs, median), gmacs_per_s(art.executed_macs, median)
        ref = medians.get(f"{model}|{REFERENCE}")
        rows.append({
            "model": model, "runtime": runtime, "threads": threads, "yardstick_precision": precision,
            "median_ms": median * 1e3,
            "p10_ms": float(np.percentile(samples[name], 10)), "p90_ms": float(np.percentile(samples[name], 90)),
            "samples": len(samples[name]), "nominal_gmacs_per_s": nominal, "executed_gmacs_per_s": executed,
            "nominal_of_yardstick": nominal / gemm, "executed_of_yardstick": executed / gemm,
            "speed_vs_executorch_fp32": ref / median if ref else None, "int8_accuracy": art.accuracy.get(runtime),
        })  # fmt: skip
    for row in rows:  # every percentage names the GEMM it is a percentage of
        row["yardstick_name"], row["yardstick_gmacs_per_s"] = sticks[str(row["yardstick_precision"])]
        row["thread_setting"] = setting.counts()
    del calls
    gc.collect()
    return rows


def beaten(rows: list[dict[str, object]]) -> list[str]:
    """Model rows at or above their yardstick: such a yardstick is no ceiling, and its percentages mean nothing."""
    return [f"{r['model']} {r['runtime']} at {r['threads']} thread(s): {share:.0%} of {r['yardstick_name']}"
            for r in rows if r["model"]
            for share in [max(float(r["nominal_of_yardstick"]), float(r["executed_of_yardstick"]))]
            if share >= 1.0]


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "torch": torch.__version__, "load_average_1_5_15": os.getloadavg()}


COLUMNS = {"eager": "eager PyTorch (native FFT)", "ort-native-dft": "ONNX Runtime, native DFT",
           "ort-dft": "ONNX Runtime, DFT lowering", "tflite": "LiteRT (XNNPACK)",
           REFERENCE: "ExecuTorch XNNPACK .pte", "executorch-xnnpack-int8": "ExecuTorch XNNPACK int8"}
"""The runtimes of the README's table, in its column order."""


def span(values: list[float], fmt: str) -> str:
    """``values`` as one figure or a range "low-high" in ``fmt`` (e.g. ``{:.2f}x``)."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low.rstrip('x%')}-{high}"


def medians(rows: list[dict[str, object]], threads: int) -> dict[tuple[str, str], float]:
    return {(str(r["model"]), str(r["runtime"])): float(r["median_ms"])
            for r in rows if r["model"] and r["threads"] == threads}


def speed(rows: list[dict[str, object]], threads: int | tuple[int, int], fast: str, slow: str) -> str | None:
    """How many times as fast ``fast`` runs as ``slow`` over the models (or ``fast`` at threads[1] vs threads[0])."""
    one, two = (threads, threads) if isinstance(threads, int) else threads
    a, b = medians(rows, one), medians(rows, two)
    ratios = [a[(m, slow)] / b[(m, fast)] for (m, rt) in b if rt == fast and (m, slow) in a]
    return span(ratios, "{:.2f}x") if ratios else None


def summary(rows: list[dict[str, object]], macs: dict[str, dict[str, int]]) -> str:
    """The paragraph README.md quotes: the ratios that matter, computed from the rows."""
    sentences = []
    ort, ort2 = speed(rows, 1, REFERENCE, "ort-dft"), speed(rows, 2, REFERENCE, "ort-dft")
    if ort:
        sentences.append(f"At 1 thread the fp32 .pte runs {ort} as fast as ONNX Runtime on the same lowered graph"
                         + (f", at 2 threads {ort2}; it gains {speed(rows, (1, 2), REFERENCE, REFERENCE)} from the "
                            "second thread." if ort2 else "."))
    lite, lite2 = speed(rows, 1, "tflite", REFERENCE), speed(rows, 2, "tflite", REFERENCE)
    if lite:
        sentences.append(f"LiteRT (the same lowered program converted with litert-torch) runs {lite} as fast as the .pte "
                         f"at 1 thread" + (f" and {lite2} at 2." if lite2 else "."))
    single = [r for r in rows if r["threads"] == 1 and r["runtime"] == REFERENCE]
    if single:
        r = next((r for r in single if r["model"] == "affnet-t"), single[0])
        m = macs[str(r["model"])]
        sentences.append(f"{r['model']}'s .pte runs at {r['nominal_gmacs_per_s']:.1f} GMAC/s against its nominal "
                         f"{m['nominal'] / 1e6:.1f} M MACs at 1 thread, **{r['nominal_of_yardstick']:.0%} of the fp32 GEMM "
                         f"yardstick** ({r['executed_of_yardstick']:.0%} against the {m['executed'] / 1e6:.1f} M MACs the "
                         "DFT-lowered graph executes).")
    int8 = [float(r["nominal_of_yardstick"]) for r in rows
            if r["threads"] == 1 and r["runtime"] == "executorch-xnnpack-int8"]
    if int8:
        sentences.append(f"ExecuTorch int8 runs {speed(rows, 1, 'executorch-xnnpack-int8', REFERENCE)} as fast as fp32 at "
                         f"1 thread, at {span(int8, '{:.0%}')} of the int8 GEMM yardstick.")
    eager = speed(rows, (1, 2), "eager", "eager")
    if eager:
        sentences.append(f"Eager PyTorch runs {eager} as fast at 2 threads as at 1.")
    return " ".join(sentences)


def headline(rows: list[dict[str, object]], meta: dict[str, object], macs: dict[str, dict[str, int]]) -> list[str]:
    """The parts README.md and docs/ quote."""
    machine = meta["machine"]
    conditions = (f"{machine['cpu']}, {machine['cores']} cores, load average {meta['load_start'][0]:.1f} at the start "
                  f"and {meta['load_end'][0]:.1f} at the end; {meta['image_size']}x{meta['image_size']}, medians of one "
                  f"interleaved run")
    present = [c for c in COLUMNS if any(r["runtime"] == c for r in rows)]
    table = [f"| model | {' | '.join(COLUMNS[c] for c in present)} |", f"|---|{'---|' * len(present)}"]
    for threads in sorted({int(r["threads"]) for r in rows}):
        times = medians(rows, threads)
        for model in dict.fromkeys(m for m, _ in times):
            cells = [f"{times[(model, c)]:.1f} ms" if (model, c) in times else "-" for c in present]
            table.append(f"| {model}, {threads} thread{'s' * (threads > 1)} | {' | '.join(cells)} |")
    int8 = [(r["model"], float(r["speed_vs_executorch_fp32"])) for r in rows
            if r["threads"] == 1 and r["runtime"] == "executorch-xnnpack-int8"]
    parts = [part("conditions", conditions), part("table", "\n".join(table)), part("summary", summary(rows, macs)),
             part("macs", ", ".join(f"{m} {v['executed'] / 1e6:.1f} M executed vs {v['nominal'] / 1e6:.1f} M nominal"
                                    for m, v in macs.items()))]
    if int8:
        ends = dict.fromkeys(f"{speedup:.2f}x ({model})" for model, speedup in (min(int8, key=lambda x: x[1]),
                                                                              max(int8, key=lambda x: x[1])))
        parts.append(part("int8-speedup", f"ExecuTorch int8 runs at {' to '.join(ends)} the speed of fp32 at 1 thread"))
    return [line for p in parts for line in (p, "")]


def markdown(rows: list[dict[str, object]], meta: dict[str, object], macs: dict[str, dict[str, int]]) -> str:
    lines = [
        "# Runtimes side by side: AFFNet on this machine",
        "",
        f"Reproduce: `.venv/bin/python benchmarks/bench_runtimes.py {meta['command']}` (one "
        "process, interleaved rounds, medians).",
        "",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, {meta['machine']['system']}; "
        f"load average at start {meta['load_start']}, at end {meta['load_end']} (shared machine: judge by ratios).",
        "",
        *headline(rows, meta, macs),
        "Yardsticks, timed in the same interleaved rounds at the same thread count (every pool read back), the faster "
        "median per precision: fp32 rows against an fp32 GEMM 1024^3, torch.mm (MKL) and numpy.matmul (OpenBLAS); "
        "int8 rows against an int8 GEMM 2048^3 (int8 activations, per-channel int8 weights), ExecuTorch XNNPACK "
        "(an int8 Linear in PT2E's quantize/dequantize form, one delegate) and ONNX Runtime (a QDQ 1x1 Conv, run as "
        "QLinearConv). fp16 rows are held against fp32: this CPU has no fp16 arithmetic. MACs: "
        "nominal = the model as written (FFTs at n log n); executed = what the DFT-lowered artifact computes.",
        "",
    ]
    if any("int8" in r["runtime"] for r in rows):
        lines += ["Untrained weights: BatchNorm statistics were recalibrated on the calibration photos before export, "
                  "for every runtime alike, so that int8 sees realistic activation ranges.", ""]
    for threads in sorted({r["threads"] for r in rows}):
        group = [r for r in rows if r["threads"] == threads]
        gemms = ", ".join(f"{r['runtime']} {r['gmacs_per_s']:.1f}" for r in group if not r["model"])
        sticks = ", ".join(f"{r['yardstick_precision']} {r['gmacs_per_s']:.1f} GMAC/s ({r['runtime']})"
                           for r in group if not r["model"] and r["yardstick"])
        lines += [f"## {threads} thread(s): yardsticks {sticks}", "", f"GEMMs timed (GMAC/s): {gemms}.", "",
                  "| model | runtime | median ms | vs ET fp32 | yardstick | GMAC/s nominal (% of yardstick) "
                  "| GMAC/s executed (% of yardstick) |",
                  "|---|---|---:|---:|---|---:|---:|"]
        for r in group:
            if not r["model"]:
                continue
            vs = f"{r['speed_vs_executorch_fp32']:.2f}x" if r["speed_vs_executorch_fp32"] else "-"
            lines.append(f"| {r['model']} | {r['runtime']} | {r['median_ms']:.2f} | {vs} | {r['yardstick_precision']} | "
                         f"{r['nominal_gmacs_per_s']:.1f} ({r['nominal_of_yardstick']:.0%}) | "
                         f"{r['executed_gmacs_per_s']:.1f} ({r['executed_of_yardstick']:.0%}) |")
        lines.append("")
    accuracy = [r for r in rows if r.get("int8_accuracy") and r["threads"] == rows[0]["threads"]]
    if accuracy:
        lines += ["## int8 against fp32 (validation photos the calibration did not see)", "",
                  "| model | runtime | top-1 agreement | min cosine | mean cosine | floor met |",
                  "|---|---|---:|---:|---:|---|"]
        lines += [f"| {r['model']} | {r['runtime']} | {a['top1_agreement']:.0%} | {a['min_cosine']:.4f} | "
                  f"{a['mean_cosine']:.4f} | {'yes' if a['passed'] else 'NO'} |"
                  for r in accuracy for a in [r["int8_accuracy"]]]
        lines.append("")
    scaling = scaling_lines(rows)
    if scaling:
        lines += ["## Thread scaling (median at 1 thread / median at 2 threads)", "", *scaling, ""]
    wrong = beaten(rows)
    if wrong:
        lines += ["## YARDSTICK BEATEN: its percentages are wrong", "",
                  "A yardstick must be a ceiling; these rows reach or pass theirs:", "", *(f"- {w}" for w in wrong), ""]
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
    for ax, threads in zip(axes[0], thread_counts, strict=True):
        runtimes = list(dict.fromkeys(r["runtime"] for r in rows if r["model"] and r["threads"] == threads))
        width = 0.8 / len(runtimes)
        for i, runtime in enumerate(runtimes):
            values = [next((r["median_ms"] for r in rows
                            if r["model"] == m and r["runtime"] == runtime and r["threads"] == threads), 0.0)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default="affnet-et,affnet-t,affnet", help="comma-separated AFFNet variants")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated, from: " + ", ".join(RUNTIMES))
    parser.add_argument("--threads", default="1,2", help="thread counts, each measured in its own interleaved run")
    parser.add_argument("--image-size", type=int, default=256, help="input height and width")
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds per thread count")
    parser.add_argument("--per-round", type=int, default=3, help="timed calls of each configuration per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each configuration first")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="where the results go")
    args = parser.parse_args()
    unknown = [r for r in args.runtimes.split(",") if r and r not in RUNTIMES]
    if unknown:
        parser.error(f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}")
    warnings.filterwarnings("ignore")
    runtimes = [r for r in args.runtimes.split(",") if r]
    if "tflite" in runtimes and importlib.util.find_spec("litert_torch") is None:
        print("tflite left out: litert-torch is not installed (pip install -r requirements-tflite.txt)")
        runtimes.remove("tflite")
    meta: dict[str, object] = {"machine": machine(), "load_start": os.getloadavg(), "image_size": args.image_size}
    meta["command"] = (f"--models {args.models} --runtimes {args.runtimes} --threads {args.threads} "
                       f"--image-size {args.image_size} --rounds {args.rounds} --per-round {args.per_round} "
                       f"--warmup {args.warmup}")
    with tempfile.TemporaryDirectory() as tmp:
        arts = [build(m, args.image_size, Path(tmp), set(runtimes)) for m in args.models.split(",")]
        int8_gemms = build_int8_gemms(Path(tmp)) if any(yardstick_precision(r) == "int8" for r in runtimes) else None
        rows = [row for t in map(int, args.threads.split(",")) for row in measure(arts, runtimes, t, args, int8_gemms)]
    meta["load_end"] = os.getloadavg()
    macs = {a.model: {"nominal": a.nominal_macs, "executed": a.executed_macs} for a in arts}
    text = markdown(rows, meta, macs)
    save(NAME, {"meta": meta, "macs": macs, "rows": rows}, text, script=__file__, measures=MEASURES, out=args.out)
    _atomic_write(args.out / "runtimes.png", lambda p: plot(rows, p))
    print(text)
    if beaten(rows):
        print("error: a model row reached its GEMM yardstick, so that yardstick is no ceiling (see the end of "
              f"{args.out / 'runtimes.md'})", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
