"""Regenerate every published figure, then the blocks of README.md and docs/*.md that quote them.

Each benchmarks/bench_*.py declares ``NAME``, ``MEASURES``, ``PUBLISHED_ARGS`` and ``MINUTES``
(benchmarks/_results.py says how); this script reads them without importing the benchmark, runs each
as ``python benchmarks/bench_X.py PUBLISHED_ARGS`` (one process each, one after another, shortest
first: they time things and must not share the cores), prints each one's wall time and the total,
then rewrites every ``<!-- results: NAME/PART -->`` ... ``<!-- /results -->`` block of README.md and
docs/*.md from the part PART of benchmarks/results/NAME.md.

    python benchmarks/run_all.py                # every benchmark, then the docs (--list: how long)
    python benchmarks/run_all.py --stale        # only results that are missing or predate their code
    python benchmarks/run_all.py --only fft_onnx,mil_reference
    python benchmarks/run_all.py --list         # each benchmark's arguments, time and state; runs nothing
    python benchmarks/run_all.py --docs         # no benchmark: only rewrite the blocks from the results

Exit status 1 when a benchmark failed or a block quotes a result or part that does not exist.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _results import NAME_PATTERN, REPO, RESULTS, changed_files, parts

BENCHMARKS = REPO / "benchmarks"
DECLARED = ("NAME", "PUBLISHED_ARGS", "MINUTES")
BLOCK = re.compile(rf"<!-- results: (?P<name>{NAME_PATTERN})/(?P<part>{NAME_PATTERN}) -->(?P<body>.*?)<!-- /results -->",
                   re.S)


@dataclass(frozen=True)
class Script:
    """One benchmark as run_all runs it: what it writes, with which arguments, about how long."""

    name: str
    path: Path
    args: tuple[str, ...]
    minutes: float

    @property
    def command(self) -> list[str]:
        return [sys.executable, str(self.path), *self.args]


def declared(path: Path) -> Script:
    """The script's NAME, PUBLISHED_ARGS and MINUTES, read as literals from its source (no import: no torch)."""
    values = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in DECLARED:
                values[node.targets[0].id] = ast.literal_eval(node.value)
    missing = [key for key in DECLARED if key not in values]
    if missing:
        raise ValueError(f"{path.name} declares no {', '.join(missing)} (benchmarks/_results.py says what each is)")
    return Script(values["NAME"], path, tuple(values["PUBLISHED_ARGS"]), float(values["MINUTES"]))


def scripts(folder: Path = BENCHMARKS) -> list[Script]:
    """Every benchmark script, shortest first."""
    return sorted((declared(path) for path in folder.glob("bench_*.py")), key=lambda s: (s.minutes, s.name))


def problem(script: Script, results: Path = RESULTS, root: Path = REPO) -> str | None:
    """Why ``script``'s committed result cannot be published as it is, or None when it is current."""
    path = results / f"{script.name}.json"
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    rerun = f"run python benchmarks/run_all.py --only {script.name}"
    if not path.exists():
        return f"{shown} is missing; {rerun}"
    stamp = json.loads(path.read_text()).get("code")
    if not stamp:
        return f"{shown} has no code stamp (it was measured before results were stamped); {rerun}"
    own = script.path.relative_to(root).as_posix()
    if stamp["script"] != own:
        return f"{shown} was written by {stamp['script']}, not {own}; {rerun}"
    changed = changed_files(stamp, root)
    if changed:
        return f"{shown} predates a change of {', '.join(changed)}; {rerun}"
    return None


def documents(root: Path = REPO) -> list[Path]:
    """The files whose figures are generated: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(text: str, quoted: Callable[[str], dict[str, str] | None], where: str) -> tuple[str, list[str]]:
    """``text`` with every results block refilled from its part, and what could not be filled (left as it was)."""
    problems: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name, wanted = match["name"], match["part"]
        found = quoted(name)
        if found is None:
            problems.append(f"{where}: block {name}/{wanted} quotes a result no benchmark has written "
                            f"(no benchmarks/results/{name}.md from a script with NAME = {name!r})")
            return match[0]
        if wanted not in found:
            problems.append(f"{where}: block {name}/{wanted}: benchmarks/results/{name}.md has no part {wanted!r} "
                            f"(it has: {', '.join(sorted(found)) or 'none'})")
            return match[0]
        body = found[wanted]
        if "\n" in body:  # a table or paragraph: on lines of its own between the markers
            body = f"\n{body}\n"
        return f"<!-- results: {name}/{wanted} -->{body}<!-- /results -->"

    return BLOCK.sub(fill, text), problems


def rendered_documents(names: Sequence[str], results: Path = RESULTS,
                       root: Path = REPO) -> tuple[dict[Path, tuple[str, str]], list[str]]:
    """Each document's (current, regenerated) text, and every block that refers to a missing result or part."""
    cache: dict[str, dict[str, str] | None] = {}

    def quoted(name: str) -> dict[str, str] | None:
        if name not in cache:
            path = results / f"{name}.md"
            cache[name] = parts(path.read_text()) if name in names and path.exists() else None
        return cache[name]

    texts, problems = {}, []
    for path in documents(root):
        current = path.read_text()
        new, found = render(current, quoted, path.relative_to(root).as_posix())
        texts[path] = (current, new)
        problems += found
    return texts, problems


def rewrite_documents(names: Sequence[str]) -> list[str]:
    """Rewrite the blocks that changed; returns the problems."""
    texts, problems = rendered_documents(names)
    for path, (current, new) in texts.items():
        if new != current:
            path.write_text(new)
            print(f"rewrote the generated blocks of {path.relative_to(REPO)}")
    return problems


def last_wall_minutes(script: Script) -> float | None:
    """How long the committed result's run took (None: it recorded no wall time)."""
    path = RESULTS / f"{script.name}.json"
    seconds = json.loads(path.read_text()).get("wall_seconds") if path.exists() else None
    return seconds / 60 if seconds is not None else None


def show(selected: list[Script]) -> None:
    """The plan: each benchmark, its arguments, how long its last run took (or the estimate), its state."""
    total = 0.0
    for script in selected:
        last = last_wall_minutes(script)
        minutes = last if last is not None else script.minutes
        total += minutes
        when = f"{minutes:5.1f} min ({'last run' if last is not None else 'estimate'})"
        state = problem(script) or "current"
        print(f"{script.name:16s} {when}  {script.path.name} {' '.join(script.args)}\n{'':16s} {state}")
    print(f"total: about {total:.0f} min")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated result names (see --list)")
    parser.add_argument("--stale", action="store_true", help="only results that are missing or predate their code")
    parser.add_argument("--list", action="store_true", help="show the benchmarks and their state; run nothing")
    parser.add_argument("--docs", action="store_true", help="run no benchmark; only rewrite the generated blocks")
    args = parser.parse_args(argv)
    every = scripts()
    names = [s.name for s in every]
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in names]
    if unknown:
        parser.error(f"unknown result name(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    selected = [s for s in every if (not only or s.name in only) and (not args.stale or problem(s))]
    if args.list:
        show(selected)
        return 0
    timings = []
    for script in [] if args.docs else selected:
        print(f"== {script.name}: {' '.join(script.command[1:])} (about {script.minutes:g} min)", flush=True)
        started = time.monotonic()
        code = subprocess.run(script.command, cwd=REPO, check=False).returncode
        timings.append((script.name, time.monotonic() - started, code))
        print(f"== {script.name}: {timings[-1][1]:.0f} s wall, exit status {code}", flush=True)
    failed = [name for name, _, code in timings if code]
    for name, seconds, code in timings:
        print(f"{name:16s} {seconds / 60:6.1f} min  exit {code}")
    if timings:
        print(f"total: {sum(t[1] for t in timings) / 60:.1f} min")
    problems = rewrite_documents(names)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if failed:
        print(f"error: {', '.join(failed)} failed (their output is above)", file=sys.stderr)
    return 1 if failed or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
