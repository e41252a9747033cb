"""Export time per target: ``affdeploy export --model affnet-t --target all`` (the issue-4 goal: < 90 s on 2 cores).

Runs the real pipeline once (torch.export, FFT lowering, delegate-friendly rewrite, ONNX, Core ML
and ExecuTorch lowering, parity checks) into a temporary folder and records the time of every step
and every target, with the machine (cores, load average) and tool versions, because export time on
a shared box depends on what else runs.

Writes <out>/export_times.json and <out>/export_times.md (part ``summary``: the sentence README and
docs/export.md quote).

    .venv/bin/python benchmarks/bench_export.py [--model affnet-t] [--image-size 256] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

from _results import EXPORT_CODE, part, save

from affdeploy.bench.host import host_device_info
from affdeploy.export import export_artifacts, plan_exports
from affdeploy.versions import tool_versions

NAME = "export_times"
MEASURES = (*EXPORT_CODE, "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/coreml_reference",
            "src/affdeploy/data", "src/affdeploy/models/__init__.py", "src/affdeploy/models/affnet.py",
            "src/affdeploy/models/source.py", "src/affdeploy/graph.py", "src/affdeploy/preprocessing.py",
            "src/affdeploy/etruntime.py")
PUBLISHED_ARGS = ()
MINUTES = 2
GOAL_SECONDS = 90.0


def measure(model: str, image_size: int) -> dict[str, object]:
    """One ``--target all`` export with a timestamp at every progress step."""
    steps: list[tuple[float, str]] = []
    cpu_start = time.process_time()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        requests = plan_exports(model, "all", out=Path(folder), image_size=image_size)
        entries = export_artifacts(requests, lambda msg, fraction=None: steps.append((time.perf_counter() - start, msg)))
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    timeline = [{"step": msg, "start_s": round(t, 2), "seconds": round(nxt - t, 2)}
                for (t, msg), nxt in zip(steps, [s[0] for s in steps[1:]] + [total], strict=True)]
    return {
        "model": model,
        "image_size": image_size,
        "total_seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2),  # all threads of this process: what the export costs without competition
        "goal_seconds": GOAL_SECONDS,
        "goal_met": total < GOAL_SECONDS,
        "targets": [{"target": e.target, "backend": e.backend, "precision": e.precision, "fft": e.fft,
                     "seconds": e.export_seconds, "size_bytes": e.size_bytes, "parity": e.parity.status}
                    for e in entries],
        "steps": timeline,
        "machine": asdict(host_device_info()),
        "tools": tool_versions(),
    }


def markdown(result: dict[str, object]) -> str:
    machine = result["machine"]
    load = ", ".join(f"{v:.1f}" for v in machine["extra"]["load_average"])
    verdict = "met" if result["goal_met"] else "MISSED"
    title = f"# Export time: {result['model']} at {result['image_size']}x{result['image_size']}, --target all"
    summary = (f"Total **{result['total_seconds']:.1f} s** wall (goal < {GOAL_SECONDS:.0f} s: {verdict}), "
               f"{result['cpu_seconds']:.1f} s of CPU time, on {machine['cpu']}, {machine['cores']} cores, "
               f"load average at the end {load} (other jobs share the cores when the load exceeds the core count).")
    targets = ", ".join(f"{t['target']} {t['seconds']:.0f} s" for t in result["targets"])
    quoted = (f"`--target all` for {result['model']} at {result['image_size']} px took {result['total_seconds']:.0f} s "
              f"of wall time and {result['cpu_seconds']:.0f} s of CPU time on {machine['cores']} cores (load average "
              f"{machine['extra']['load_average'][0]:.1f} at the end; goal < {GOAL_SECONDS:.0f} s: {verdict}); "
              f"lowering + parity per target: {targets}")
    lines = [title, "", summary, "", part("summary", quoted), "",
             "| target | backend | precision | fft | seconds (lowering + parity) | size | parity |",
             "|---|---|---|---|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['backend']} | {t['precision']} | {t['fft']} | {t['seconds']:.1f} | "
                     f"{t['size_bytes'] / 1e6:.1f} MB | {t['parity']} |")
    lines += ["", "| step | starts at (s) | seconds |", "|---|---|---|"]
    lines += [f"| {s['step']} | {s['start_s']:.1f} | {s['seconds']:.1f} |" for s in result["steps"]]
    lines += ["", "Tools: " + ", ".join(f"{k} {v}" for k, v in result["tools"].items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="affnet-t")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    result = measure(args.model, args.image_size)
    save(NAME, result, markdown(result), script=__file__, measures=MEASURES, out=args.out)
    print(markdown(result))


if __name__ == "__main__":
    main()
