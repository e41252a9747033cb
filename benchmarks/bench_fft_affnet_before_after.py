"""AFFNet-ET and AFFNet-T through the FFT pass before and after a change, side by side in one process.

"Before" is the affdeploy source of a git commit (``--before``, default: the commit this branch started
from), exported in a subprocess that imports that source; "after" is this tree. For each model and both
sources: the program after ``lower_fft`` + ``delegate_friendly`` at 256 px as an ONNX file (ONNX Runtime CPU
EP, 1 intra-op thread) and an ExecuTorch .pte (XNNPACK, threadpool reset to 1 before loading), all opened
in this process and timed in interleaved rounds (benchmarks/_timing.py). Also records whether the two
lowered programs are identical (hash of the op sequence and of every constant).

Writes <out>/fft_affnet_before_after.json and .md.

    .venv/bin/python benchmarks/bench_fft_affnet_before_after.py [--before 883b9e7] [--rounds 12] [--iters 3]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MODELS = ("affnet-et", "affnet-t")
DEFAULT_BEFORE = "883b9e7"
NAME = "fft_affnet_before_after"
MEASURES = ("benchmarks/_timing.py", "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/models/affnet.py",
            "src/affdeploy/graph.py", "src/affdeploy/etruntime.py")
PUBLISHED_ARGS = ()
MINUTES = 5
SIZE = 256


def build(folder: Path) -> dict[str, dict[str, str]]:
    """Export both models with whichever affdeploy this interpreter imports; returns the programs' hashes."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    from affdeploy.fft import lower_fft
    from affdeploy.graph import example_input, export_program
    from affdeploy.models import build_model
    from affdeploy.passes import delegate_friendly

    hashes = {}
    for name in MODELS:
        torch.manual_seed(0)
        net = build_model(name).eval()
        program = delegate_friendly(lower_fft(export_program(net, SIZE)))
        ops = "\n".join(str(n.target) for n in program.graph.nodes if n.op == "call_function")
        digest = hashlib.sha256()
        for store in (program.constants, program.state_dict):
            for key in sorted(store):
                digest.update(key.encode() + store[key].detach().numpy().tobytes())
        hashes[name] = {"ops": hashlib.sha256(ops.encode()).hexdigest(), "constants": digest.hexdigest(),
                        "nodes": str(ops.count("\n") + 1)}
        x = example_input(SIZE)
        torch.onnx.export(program, (x,), dynamo=True, verbose=False).save(str(folder / f"{name}.onnx"))
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        (folder / f"{name}.pte").write_bytes(edge.to_executorch().buffer)
    (folder / "hashes.json").write_text(json.dumps(hashes))
    return hashes


def source_of(commit: str, dest: Path) -> Path:
    """The ``src`` tree of ``commit`` (git archive), unpacked into ``dest``."""
    blob = subprocess.run(["git", "-C", str(ROOT.parent), "archive", commit, "src"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        archive.extractall(dest, filter="data")
    return dest / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.build_only:
        build(args.build_only)
        return
    sys.path.insert(0, str(ROOT))
    import onnxruntime as ort
    from _results import part, save
    from _timing import interleaved

    from affdeploy.bench.host import host_device_info
    from affdeploy.bench.yardstick import pin_threads
    from affdeploy.etruntime import load_forward, set_threads
    from affdeploy.export.onnx import session_options
    from affdeploy.graph import example_input
    from affdeploy.versions import tool_versions

    pin_threads(1)
    set_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        before_dir, after_dir = tmp_path / "before", tmp_path / "after"
        before_dir.mkdir()
        after_dir.mkdir()
        src = source_of(args.before, tmp_path / "tree")
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        subprocess.run([sys.executable, __file__, "--build-only", str(before_dir)], check=True, env=env)
        hashes = {"before": json.loads((before_dir / "hashes.json").read_text()), "after": build(after_dir)}
        x = example_input(SIZE)
        calls = {}
        keep = []
        for name in MODELS:
            for side, folder in (("before", before_dir), ("after", after_dir)):
                session = ort.InferenceSession(str(folder / f"{name}.onnx"), session_options(threads=1),
                                               providers=["CPUExecutionProvider"])
                feed = {session.get_inputs()[0].name: x.numpy()}
                calls[f"{name} ort {side}"] = lambda s=session, f=feed: s.run(None, f)
                forward = load_forward(folder / f"{name}.pte")
                keep.append(forward)
                calls[f"{name} executorch {side}"] = lambda fw=forward: fw([x])
        samples = interleaved(calls, args.rounds, args.iters, 3)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    rows = []
    for name in MODELS:
        for runtime in ("ort", "executorch"):
            before, after = medians[f"{name} {runtime} before"], medians[f"{name} {runtime} after"]
            rows.append({"model": name, "runtime": runtime, "before_ms": before, "after_ms": after,
                         "after_vs_before": after / before,
                         "identical_program": hashes["before"][name] == hashes["after"][name]})
            print(f"{name:10s} {runtime:10s} before {before:7.2f} ms  after {after:7.2f} ms  "
                  f"({after / before:.3f}x)  identical program: {rows[-1]['identical_program']}")
    summary = {"before": args.before, "image_size": SIZE, "threads": 1, "rounds": args.rounds, "iters": args.iters,
               "machine": host_device_info().__dict__, "versions": tool_versions(), "rows": rows, "hashes": hashes,
               "samples_ms": samples}
    lines = [
        "# AFFNet through the FFT pass: before vs after (issue 22)",
        "",
        f"Before: affdeploy at commit {args.before}; after: this tree. AFFNet at {SIZE} px, lower_fft + "
        "delegate_friendly, ONNX Runtime CPU EP and ExecuTorch XNNPACK, 1 thread, all four artifacts of a model "
        f"in one process, {args.rounds} interleaved rounds x {args.iters} calls, medians.",
        "",
    ]
    table = ["| model | runtime | before ms | after ms | after / before | identical lowered program |",
             "|---|---|---:|---:|---:|---|"]
    table += [f"| {r['model']} | {r['runtime']} | {r['before_ms']:.2f} | {r['after_ms']:.2f} | "
              f"{r['after_vs_before']:.3f} | {'yes' if r['identical_program'] else 'no'} |" for r in rows]
    lines.append(part("table", "\n".join(table)))
    save(NAME, summary, "\n".join(lines), script=__file__, measures=MEASURES, out=args.out)

if __name__ == "__main__":
    main()
