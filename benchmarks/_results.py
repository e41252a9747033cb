"""How every benchmark writes its results: JSON + markdown, stamped with the code they measured.

A benchmark script ``benchmarks/bench_*.py`` declares, as module-level literals that run_all.py reads
without importing the script:

    NAME = "fft_onnx"                      # it writes benchmarks/results/fft_onnx.{json,md}
    MEASURES = ("src/affdeploy/fft", ...)  # files or folders whose changes change its numbers
    PUBLISHED_ARGS = ("--rounds", "15")    # the arguments of the run README.md and docs/ quote
    MINUTES = 3                            # that run's wall time on 2 idle cores, for planning

and ends with ``save(NAME, data, markdown, script=__file__, measures=MEASURES, out=args.out)``
(``--out`` defaults to benchmarks/results). Its own file is always measured too.

The JSON's ``code`` stamp keeps a sha256 of every measured file, so tests/test_benchmark_results.py
fails as soon as a committed result predates a change of the code it measures, and names the files;
``python benchmarks/run_all.py --stale`` re-measures exactly those results. README.md and docs/*.md
quote named parts of the markdown (``part("table", text)``) between ``<!-- results: NAME/PART -->``
and ``<!-- /results -->``, which run_all.py rewrites, so prose never carries a number without a producer.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affdeploy.fsutil import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SOURCE_SUFFIXES = frozenset({".py", ".txt", ".json", ".java", ".swift"})
GONE = "(missing)"
"""The hash of a measured path that no longer exists."""
NAME_PATTERN = r"[a-z0-9_.-]+"
"""Result and part names: lower case, so docs can show the template ``<!-- results: NAME/PART -->``."""
PART = re.compile(rf"<!-- part: (?P<name>{NAME_PATTERN}) -->\n(?P<text>.*?)\n<!-- /part -->", re.S)
EXPORT_CODE = tuple(f"src/affdeploy/export/{name}.py" for name in (
    "base", "coreml", "executorch", "onnx", "parity", "pipeline", "quantize", "registry", "request", "tflite"))
"""The export package's files that decide an artifact's numbers (manifest writing, the cache and the op report
do not), for the MEASURES of benchmarks that export."""
MODEL_CODE = tuple(f"src/affdeploy/models/{name}.py" for name in ("__init__", "affnet", "checkpoint", "executed", "profile"))
"""The AFFNet definition, its checkpoint loading and MAC counts (not models/source.py: how user models are found)."""
_STARTED = time.monotonic()  # a run's wall time counts from the script's import of this module


def file_hashes(measures: Sequence[str], root: Path = REPO) -> dict[str, str]:
    """sha256 of every source file under the given repository paths (files or folders), by path;
    a declared path that is gone maps to :data:`GONE`."""
    hashes: dict[str, str] = {}
    for entry in measures:
        path = root / entry
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts)
        if not path.exists():
            hashes[entry] = GONE
        for file in files:
            hashes[file.relative_to(root).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return hashes


def fingerprint(hashes: dict[str, str]) -> str:
    """One sha256 over the measured files' paths and hashes (the markdown header shows its start)."""
    return hashlib.sha256("".join(f"{path}\0{digest}\0" for path, digest in sorted(hashes.items())).encode()).hexdigest()


def code_stamp(script: str, measures: Sequence[str], root: Path = REPO) -> dict[str, Any]:
    """What a results file records about the code: the script, what it measures, and every file's hash."""
    own = Path(script).resolve().relative_to(root).as_posix()
    paths = sorted({own, *measures})
    hashes = file_hashes(paths, root)
    gone = [path for path, digest in hashes.items() if digest == GONE]
    if gone:  # a misspelt MEASURES entry fails the run, not a later check
        raise FileNotFoundError(f"{', '.join(gone)} (declared as measured) does not exist in {root}")
    return {"script": own, "measures": paths, "sha256": fingerprint(hashes), "files": hashes}


def changed_files(stamp: dict[str, Any], root: Path = REPO) -> list[str]:
    """The measured files that changed, appeared or disappeared since ``stamp`` was taken."""
    before, now = stamp.get("files", {}), file_hashes(stamp["measures"], root)
    return sorted(path for path in before.keys() | now.keys() if before.get(path) != now.get(path))


def part(name: str, text: str) -> str:
    """``text`` as the part ``name`` of a results markdown: README/docs quote it as ``<!-- results: FILE/name -->``.

    One line is quoted inline, in a sentence; several lines (a table) as a block of their own.
    """
    if not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"part name {name!r}: lower-case letters, digits, '_', '.' and '-' only")
    return f"<!-- part: {name} -->\n{text.strip()}\n<!-- /part -->"


def parts(markdown: str) -> dict[str, str]:
    """The named parts of a results markdown."""
    return {m["name"]: m["text"] for m in PART.finditer(markdown)}


def save(name: str, data: dict[str, Any], markdown: str, *, script: str, measures: Sequence[str],
         out: Path = RESULTS, root: Path = REPO) -> tuple[Path, Path]:
    """Write ``out/name.json`` (``data`` + the code stamp, when, how long) and ``out/name.md`` atomically."""
    stamp = code_stamp(script, measures, root)
    record = {"code": stamp, "generated": datetime.now(UTC).isoformat(timespec="seconds"),
              "wall_seconds": round(time.monotonic() - _STARTED, 1), "python": platform.python_version(), **data}
    header = (f"<!-- generated by {stamp['script']} at code {stamp['sha256'][:12]}; "
              f"regenerate with: python benchmarks/run_all.py --only {name} -->\n")
    out.mkdir(parents=True, exist_ok=True)
    json_path = atomic_write_text(out / f"{name}.json", json.dumps(record, indent=2, default=str) + "\n")
    md_path = atomic_write_text(out / f"{name}.md", header + markdown.rstrip() + "\n")
    return json_path, md_path
