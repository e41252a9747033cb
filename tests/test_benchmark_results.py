"""Every published number has a producer (benchmarks/_results.py, benchmarks/run_all.py).

The committed results must be current with the code they measure, and README.md/docs/*.md must quote
them exactly as ``run_all.py`` would: these tests read committed files only and run no benchmark. The
others check the mechanism itself on a small repository made in tmp_path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
from _results import part, parts, save  # noqa: E402

SCRIPTS = run_all.scripts()
DEMO = 'NAME = "demo"\nMEASURES = ("src/pkg",)\nPUBLISHED_ARGS = ("--rounds", "2")\nMINUTES = 1\n'


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_the_committed_result_is_current_with_the_code_it_measures(script: run_all.Script) -> None:
    found = run_all.problem(script)
    if found:
        pytest.fail(found, pytrace=False)


def test_every_docs_block_quotes_a_committed_result() -> None:
    _, problems = run_all.rendered_documents([s.name for s in SCRIPTS])
    assert not problems, "\n".join(problems)


def test_the_docs_quote_the_committed_results_as_run_all_writes_them() -> None:
    texts, _ = run_all.rendered_documents([s.name for s in SCRIPTS])
    stale = [str(path) for path, (current, new) in texts.items() if current != new]
    assert not stale, (f"{', '.join(stale)}: generated blocks differ from benchmarks/results; "
                       "run python benchmarks/run_all.py --docs")


def _repo(root: Path) -> Path:
    """A repository with one benchmark measuring the folder src/pkg."""
    for folder in ("benchmarks", "src/pkg", "docs"):
        (root / folder).mkdir(parents=True)
    (root / "src/pkg/a.py").write_text("A = 1\n")
    (root / "src/pkg/b.py").write_text("B = 1\n")
    (root / "src/pkg/notes.md").write_text("not source\n")
    (root / "src/other.py").write_text("OTHER = 1\n")
    (root / "benchmarks/bench_demo.py").write_text(DEMO)
    return root


def _save(root: Path, markdown: str = "# demo\n") -> Path:
    results = root / "benchmarks/results"
    save("demo", {"x": 1}, markdown, script=str(root / "benchmarks/bench_demo.py"), measures=("src/pkg",), out=results,
         root=root)
    return results


def test_a_result_predating_a_change_names_the_measured_files_that_changed(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    results = _save(root)
    (script,) = run_all.scripts(root / "benchmarks")
    assert script == run_all.Script("demo", root / "benchmarks/bench_demo.py", ("--rounds", "2"), 1.0)
    assert run_all.problem(script, results, root) is None
    (root / "src/pkg/notes.md").write_text("edited\n")  # not a source file
    (root / "src/other.py").write_text("OTHER = 2\n")  # not measured
    assert run_all.problem(script, results, root) is None
    (root / "src/pkg/a.py").write_text("A = 2\n")
    (root / "src/pkg/b.py").unlink()
    (root / "src/pkg/c.py").write_text("C = 1\n")
    (root / "benchmarks/bench_demo.py").write_text(DEMO + "# its own code counts\n")
    assert run_all.problem(script, results, root) == (
        "benchmarks/results/demo.json predates a change of benchmarks/bench_demo.py, src/pkg/a.py, src/pkg/b.py, "
        "src/pkg/c.py; run python benchmarks/run_all.py --only demo")


def test_a_missing_or_unstamped_result_and_an_undeclared_benchmark_are_refused(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (script,) = run_all.scripts(root / "benchmarks")
    results = root / "benchmarks/results"
    assert run_all.problem(script, results, root) == (
        "benchmarks/results/demo.json is missing; run python benchmarks/run_all.py --only demo")
    results.mkdir()
    (results / "demo.json").write_text(json.dumps({"rows": []}))
    assert "has no code stamp" in str(run_all.problem(script, results, root))
    with pytest.raises(FileNotFoundError, match="src/gone"):
        save("demo", {}, "", script=str(script.path), measures=("src/gone",), out=results, root=root)
    (root / "benchmarks/bench_bare.py").write_text('NAME = "bare"\nPUBLISHED_ARGS = ()\n')
    with pytest.raises(ValueError, match="bench_bare.py declares no MINUTES"):
        run_all.scripts(root / "benchmarks")


def test_docs_blocks_are_refilled_from_the_named_parts_of_a_result(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    results = _save(root, "# demo\n\n" + part("table", "| a |\n|---|\n| 1 |") + "\n\n" + part("ratio", "2.00x faster"))
    assert parts((results / "demo.md").read_text()) == {"table": "| a |\n|---|\n| 1 |", "ratio": "2.00x faster"}
    (root / "README.md").write_text("It is <!-- results: demo/ratio -->1.50x faster<!-- /results --> now.\n")
    (root / "docs/x.md").write_text("<!-- results: demo/table -->\nold\n<!-- /results -->\n"
                                    "<!-- results: demo/nope -->kept<!-- /results -->, "
                                    "<!-- results: other/table -->kept<!-- /results -->\n")
    texts, problems = run_all.rendered_documents(["demo"], results, root)
    assert texts[root / "README.md"][1] == "It is <!-- results: demo/ratio -->2.00x faster<!-- /results --> now.\n"
    assert texts[root / "docs/x.md"][1] == ("<!-- results: demo/table -->\n| a |\n|---|\n| 1 |\n<!-- /results -->\n"
                                            "<!-- results: demo/nope -->kept<!-- /results -->, "
                                            "<!-- results: other/table -->kept<!-- /results -->\n")
    assert problems == [
        "docs/x.md: block demo/nope: benchmarks/results/demo.md has no part 'nope' (it has: ratio, table)",
        "docs/x.md: block other/table quotes a result no benchmark has written (no benchmarks/results/other.md "
        "from a script with NAME = 'other')"]
    (root / "docs/x.md").write_text(texts[root / "docs/x.md"][1])
    again, _ = run_all.rendered_documents(["demo"], results, root)
    assert again[root / "docs/x.md"][0] == again[root / "docs/x.md"][1]  # a filled block stays as it is
