"""Parity and int8 accuracy on real photographs, with trained-like weights in the official key layout.

For each AFFNet variant at 256 px, as a user runs it:

1. a trained-like checkpoint (benchmarks/trained_like.py) saved as cvnets saves one;
2. ``affdeploy export --model M --weights ckpt.pt --target all`` with every default (ONNX fp32,
   Core ML fp16 image classifier, ExecuTorch XNNPACK fp32, LiteRT fp32): each artifact must pass its
   parity rule on the bundled photographs, or the export fails;
3. ``--precision int8`` for ONNX, ExecuTorch and LiteRT, with the trained-like checkpoint and with
   the seeded initialisation, judged on 20 photographs the calibration never saw. These run with
   the floor at 0 so the numbers are recorded even below it; ``default floor`` says whether the
   shipped floor (75% top-1 agreement, cosine 0.95) is met.

Writes benchmarks/results/parity.{json,md}; README.md and docs/export.md quote its parts ``default``,
``int8`` and ``int8-summary``. Exit 1 when a default export fails its parity.

    .venv/bin/python benchmarks/bench_parity.py [--models affnet-et,affnet-t,affnet] [--image-size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import EXPORT_CODE, MODEL_CODE, part, save  # noqa: E402
from trained_like import save_checkpoint, trained_like  # noqa: E402

from affdeploy.export.quantize import FLOOR_ENV, INT8_FLOOR  # noqa: E402

NAME = "parity"
MEASURES = (*EXPORT_CODE, "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/data", *MODEL_CODE,
            "src/affdeploy/coreml_reference", "src/affdeploy/graph.py", "src/affdeploy/preprocessing.py",
            "src/affdeploy/etruntime.py", "benchmarks/trained_like.py")
PUBLISHED_ARGS = ()
MINUTES = 30
INT8_TARGETS = ("onnx", "executorch", "tflite")


def export(args: list[str], folder: Path, env: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str]:
    """One ``affdeploy export`` process: its JSON entries, or ([], its error line)."""
    command = [sys.executable, "-m", "affdeploy", "export", *args, "--out", str(folder), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        return [], lines[-1] if lines else proc.stderr.strip()[-300:]
    return json.loads(proc.stdout), ""


def row(model: str, weights: str, entry: dict[str, Any], seconds: float) -> dict[str, Any]:
    parity = entry["parity"]
    return {"model": model, "weights": weights, "target": entry["target"], "backend": entry["backend"],
            "precision": entry["precision"], "status": parity["status"], "rule": parity["tolerance"],
            "inputs": parity["inputs"], "inputs_from": parity["inputs_from"], "max_abs_err": parity["max_abs_err"],
            "min_cosine": parity["cosine"], "mean_cosine": parity["mean_cosine"],
            "top1_agreement": parity["top1_agreement"], "decided_agreement": parity["decided_agreement"],
            "ties": parity["ties"], "top5_overlap": parity["top5_overlap"],
            "min_snr_db": parity["min_snr_db"], "worst": parity["worst"], "engine": parity["engine"],
            "export_seconds": round(seconds, 1)}


def measure(model: str, image_size: int, folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = save_checkpoint(trained_like(model, image_size), folder / f"{model}-trained-like.pt",
                                 wrapped=model == "affnet-t")  # one file in the {"state_dict": {"module.*"}} form
    rows, failures = [], []
    common = ["--model", model, "--image-size", str(image_size)]
    start = time.perf_counter()
    entries, error = export([*common, "--weights", str(checkpoint), "--target", "all"], folder / "default")
    for entry in entries:
        rows.append(row(model, "trained-like", entry, entry["export_seconds"]))
    if error:
        failures.append(f"{model} --target all: {error}")
    print(f"{model}: default targets {time.perf_counter() - start:.0f} s {error}", flush=True)
    for weights, extra in (("trained-like", ["--weights", str(checkpoint)]), ("seeded init", [])):
        for target in INT8_TARGETS:
            start = time.perf_counter()
            entries, error = export([*common, *extra, "--target", target, "--precision", "int8"],
                                    folder / f"int8-{weights}", env={FLOOR_ENV: "0,0"})
            for entry in entries:
                record = row(model, weights, entry, time.perf_counter() - start)
                record["default_floor_met"] = (record["decided_agreement"] >= INT8_FLOOR.top1_agreement
                                               and record["min_cosine"] >= INT8_FLOOR.min_cosine)
                rows.append(record)
            if error:
                failures.append(f"{model} {weights} int8 {target}: {error}")
            print(f"{model}: int8 {target} ({weights}) {time.perf_counter() - start:.0f} s {error}", flush=True)
    return rows, failures


def markdown(rows: list[dict[str, Any]], image_size: int) -> str:
    default = ["| model | target | precision | status | max abs error | min cosine | top-1 (ties) | top-5 overlap | "
               "min SNR | worst input |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["precision"] == "int8":
            continue
        default.append(f"| {r['model']} | {r['target']} | {r['precision']} | {r['status']} | {r['max_abs_err']:.2e} | "
                       f"{r['min_cosine']:.5f} | {r['top1_agreement']:.0%} ({r['ties']}) | {r['top5_overlap']:.0%} | "
                       f"{r['min_snr_db']:.1f} dB | {r['worst'].split(':')[0]} |")
    int8 = ["| model | weights | target | top-1 agreement: decided (all, ties) | min cosine | mean cosine | "
            "top-5 overlap | default floor |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["precision"] != "int8":
            continue
        int8.append(f"| {r['model']} | {r['weights']} | {r['target']} | {r['decided_agreement']:.0%} "
                    f"({r['top1_agreement']:.0%}, {r['ties']}) | {r['min_cosine']:.3f} | {r['mean_cosine']:.4f} | "
                    f"{r['top5_overlap']:.0%} | {'met' if r['default_floor_met'] else 'MISSED'} |")
    trained = [r for r in rows if r["precision"] == "int8" and r["weights"] == "trained-like"]
    summary = "; ".join(f"{model}: " + ", ".join(f"{r['target']} {r['decided_agreement']:.0%} / {r['min_cosine']:.3f}"
                                                 for r in trained if r["model"] == model)
                        for model in dict.fromkeys(r["model"] for r in trained))
    lines = [f"# Parity on photographs: AFFNet at {image_size} px with trained-like weights", "",
             "Every default export (`affdeploy export --weights <trained-like checkpoint> --target all`), judged on "
             "8 bundled photographs + 2 seeded noise images:", "", part("default", "\n".join(default)), "",
             f"int8 (`--precision int8`), judged on 40 inputs from 20 photographs the calibration never saw "
             f"(default floor: top-1 agreement >= {INT8_FLOOR.top1_agreement:.0%} on the inputs the reference decides, "
             f"near-ties reported; cosine >= {INT8_FLOOR.min_cosine} on every input):", "",
             part("int8", "\n".join(int8)), "",
             "With trained-like weights, int8 top-1 agreement (decided inputs) / min cosine against fp32 per target:",
             "", part("int8-summary", summary)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="affnet-et,affnet-t,affnet")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            found, failed = measure(model, args.image_size, Path(tmp) / model)
            rows += found
            failures += failed
    data = {"image_size": args.image_size, "rows": rows, "failures": failures,
            "int8_floor": {"top1_agreement": INT8_FLOOR.top1_agreement, "min_cosine": INT8_FLOOR.min_cosine}}
    json_path, md_path = save(NAME, data, markdown(rows, args.image_size), script=__file__, measures=MEASURES,
                              out=args.out)
    print(md_path.read_text())
    if failures:
        print("\n".join(["FAILED:", *failures]), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
