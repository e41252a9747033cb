"""The long-sequence FFT models through ``affdeploy export --target all``, as a user runs it (issue 22).

Hyena's FFT convolution at L=8192, FNet at 2048 tokens, LaMa's FFC at 512 px and Whisper's log-mel of 30 s
at 16 kHz (tests/fft_zoo.py LONG), side by side as one factory (``fft_zoo:long_models``), exported by the CLI
to every target with its parity check (Core ML through the MIL interpreter). The suite exports them to ONNX
and ExecuTorch only (tests/test_fft_long.py) and checks each model there on its own outputs; this records
every target: parity status and rule, the forms the transforms took, the DFT constants and the export time.

Writes <out>/fft_long.json and fft_long.md (part ``table``).

    .venv/bin/python benchmarks/bench_fft_long.py [--out benchmarks/results]
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

from _results import EXPORT_CODE, part, save

from affdeploy.export.registry import target_names

NAME = "fft_long"
MEASURES = (*EXPORT_CODE, "src/affdeploy/fft", "src/affdeploy/passes", "src/affdeploy/coreml_reference",
            "src/affdeploy/models/source.py", "tests/fft_zoo.py")
PUBLISHED_ARGS = ()
MINUTES = 3
ROOT = Path(__file__).resolve().parents[1]


def _forms(entry: dict[str, Any]) -> str:
    """Each transform's form(s) by axis length, as the manifest records them."""
    seen: dict[str, str] = {}
    for transform in entry.get("fft_transforms", []):
        if transform["op"] == "stft":
            seen["stft"] = transform["forms"][0]
        for axis in transform.get("axes", []):
            seen[f"n={axis['n']}"] = axis["form"]
    return "; ".join(f"{k}: {v}" for k, v in seen.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "affdeploy", "export", "--model", "fft_zoo:long_models",
                               "--target", "all", "--out", tmp, "--json"], capture_output=True, text=True, env=env)
        seconds = time.monotonic() - start
        # a target that refuses ends the run with one error line; the finished ones are kept and recorded
        manifest = Path(tmp) / "manifest.json"
        entries = json.loads(done.stdout) if done.returncode == 0 else (
            json.loads(manifest.read_text())["artifacts"] if manifest.is_file() else [])
    if not entries:
        sys.exit(f"export failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    rows = [{"target": e["target"], "precision": e["precision"], "parity": e["parity"]["status"],
             "reason": e["parity"]["reason"], "rule": e["parity"]["tolerance"],
             "constant_bytes": e.get("fft_constant_bytes"), "forms": _forms(e)} for e in entries]
    error = done.stderr.strip().splitlines()[-1] if done.returncode else ""
    for target in sorted(set(map(str, target_names())) - {r["target"] for r in rows}):
        rows.append({"target": target, "precision": "-", "parity": "REFUSED", "reason": error, "rule": "not exported",
                     "constant_bytes": None, "forms": "-"})
    table = ["| target | precision | parity | DFT constants | forms |", "|---|---|---|---:|---|"]
    table += [f"| {r['target']} | {r['precision']} | {r['parity']} | {(r['constant_bytes'] or 0) / 1e6:.2f} MB | "
              f"{r['forms']} |" for r in rows]
    markdown = "\n".join([
        "# Long-sequence FFT models through `affdeploy export --target all`", "",
        "Hyena L=8192, FNet 2048 tokens, LaMa FFC 512 px, Whisper log-mel 30 s, as one factory, every target with "
        "its parity check (the JSON keeps the wall time; it depends on what else the machine runs). A target that "
        "refused is listed as REFUSED with the CLI's error line.", "",
        part("table", "\n".join(table)), "",
        "Parity per target:", "", *(f"- {r['target']}: {r['reason']} ({r['rule']})" for r in rows)])
    save(NAME, {"seconds": round(seconds, 1), "rows": rows}, markdown, script=__file__, measures=MEASURES,
         out=args.out)
    print(markdown)


if __name__ == "__main__":
    main()
