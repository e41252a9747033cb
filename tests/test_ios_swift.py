"""The Swift sources of ios_app/, checked on a machine without Xcode.

No Swift toolchain installs from Debian bookworm or PyPI, so ``swiftc -typecheck`` of BenchCore
runs only where swiftc is on PATH (a Mac, or Linux with swift.org's toolchain). Everywhere, the
sources are parsed with tree-sitter's Swift grammar (syntax errors fail), and the Swift result
schema, catalog and option parser are compared with the Python side they must match, field by
field, using the key conversion JSONEncoder.convertToSnakeCase applies.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tree_sitter_swift
from tree_sitter import Language, Node, Parser

from affdeploy.bench import appmodel
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import SCHEMA_ID, BenchRecord, DeviceInfo, Stats
from affdeploy.devices.ios import app as ios

APP = Path(__file__).parent.parent / "ios_app"
BENCHCORE = APP / "BenchCore" / "Sources" / "BenchCore"
PARSER = Parser(Language(tree_sitter_swift.language()))


def _tree(path: Path) -> Node:
    return PARSER.parse(path.read_bytes()).root_node


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _stored_properties(path: Path, struct: str) -> dict[str, bool]:
    """Stored instance properties of ``struct`` -> whether the JSON key may be absent (optional)."""
    for node in _walk(_tree(path)):
        name = next((c for c in node.children if c.type == "type_identifier"), None)
        if node.type == "class_declaration" and name is not None and name.text.decode() == struct:
            body = next(c for c in node.children if c.type == "class_body")
            props = {}
            for member in body.children:
                kinds = {c.type for c in member.children}
                modifiers = b" ".join(c.text for c in member.children if c.type == "modifiers")
                if member.type != "property_declaration" or "computed_property" in kinds or b"static" in modifiers:
                    continue
                ident = next(c for c in _walk(member) if c.type == "simple_identifier").text.decode()
                annotation = next(c for c in member.children if c.type == "type_annotation")
                props[ident] = any(c.type == "optional_type" for c in annotation.children)
            return props
    raise AssertionError(f"struct {struct} not found in {path}")


def snake_case(name: str) -> str:
    """Foundation's convertToSnakeCase for the names used here (no acronym runs)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def test_every_swift_file_parses() -> None:
    files = sorted(APP.rglob("*.swift"))
    assert len(files) >= 12
    broken = [str(f.relative_to(APP)) for f in files if _tree(f).has_error]
    assert broken == []
    assert PARSER.parse(b"public struct Stats { var count: Int = }").root_node.has_error  # the check can fail


@pytest.mark.parametrize(("struct", "python"), [("BenchRecord", BenchRecord), ("Stats", Stats), ("DeviceInfo", DeviceInfo)])
def test_swift_schema_matches_python(struct: str, python: type) -> None:
    swift = {snake_case(k): optional for k, optional in _stored_properties(BENCHCORE / "Schema.swift", struct).items()}
    fields = {f.name: f for f in dataclasses.fields(python)}
    assert sorted(swift) == sorted(fields)
    for name, optional in swift.items():
        no_default = fields[name].default is dataclasses.MISSING and fields[name].default_factory is dataclasses.MISSING
        assert not (optional and no_default), f"{struct}.{name} may be omitted by Swift but is required in Python"
    assert f'"{SCHEMA_ID}"' in (BENCHCORE / "Schema.swift").read_text()


@pytest.mark.parametrize(("struct", "python"), [("AppModel", appmodel.AppModel), ("InputMeta", appmodel.InputMeta),
                                                ("TensorMeta", appmodel.TensorMeta), ("ImageMeta", appmodel.ImageMeta)])
def test_swift_model_metadata_matches_python(struct: str, python: type) -> None:
    """BenchCore decodes every field ios-assets writes into FILE.model.json; optional exactly where Python allows None."""
    swift = {snake_case(k): optional for k, optional in _stored_properties(BENCHCORE / "ModelMeta.swift", struct).items()}
    fields = {f.name: f for f in dataclasses.fields(python)}
    assert sorted(swift) == sorted(fields)
    for name, optional in swift.items():
        assert optional == ("None" in str(fields[name].type)), f"{struct}.{name}"
    assert f'"{appmodel.APP_MODEL_SCHEMA}"' in (BENCHCORE / "ModelMeta.swift").read_text()


def test_swift_catalog_reads_what_ios_assets_writes() -> None:
    swift = {snake_case(k) for k in _stored_properties(BENCHCORE / "Catalog.swift", "CatalogFile")}
    assert swift == {"schema", "labels", "models"}  # write_catalog's keys
    assert f'"{appmodel.APP_CATALOG_SCHEMA}"' in (BENCHCORE / "Catalog.swift").read_text()


def test_swift_bench_input_literals_are_affdeploys() -> None:
    """The generator values BenchCore's tests expect are bench_input's, so `swift test` proves the Swift generator."""
    source = (APP / "BenchCore" / "Tests" / "BenchCoreTests" / "BenchCoreTests.swift").read_text()
    checks = re.findall(r"benchInput\(shape: \[([\d, ]+)\], seed: (\d+)\)(\.reduce[^,]+,|,)\s*\[?([-\d., ]+)\]?\)", source)
    assert len(checks) == 3
    for shape, seed, reduce, literal in checks:
        values = appmodel.bench_input([int(d) for d in shape.split(",")], int(seed))
        expected = [float(values.sum(dtype="float64"))] if reduce.startswith(".reduce") else values.tolist()
        assert [float(v) for v in literal.split(",")] == expected


def test_swift_options_understand_every_cli_flag() -> None:
    source = (BENCHCORE / "Options.swift").read_text()
    flags = [a for a in ios.app_arguments(BenchRequest(cooldown_s=1)) if a.startswith("--")]
    assert flags and all(f'case "{flag}"' in source for flag in flags)
    runner_files = (APP / "AFFBench" / "BenchmarkRunner.swift").read_text()
    assert f'"{ios.RESULTS_NAME}"' in runner_files and f'"{Path(ios.CONTAINER_ERROR).name}"' in runner_files
    assert f'branch: {ios_branch()}' in (APP / "project.yml").read_text()


def ios_branch() -> str:
    """The ExecuTorch Swift package branch the app's DeviceFacts reports, which project.yml must pin."""
    match = re.search(r'executorchPackageBranch = "([^"]+)"', (APP / "AFFBench" / "DeviceFacts.swift").read_text())
    assert match
    return match.group(1)


@pytest.mark.skipif(shutil.which("swiftc") is None, reason="no Swift toolchain here (none in Debian bookworm or PyPI)")
def test_benchcore_typechecks() -> None:
    sources = sorted(str(p) for p in BENCHCORE.glob("*.swift"))
    proc = subprocess.run(["swiftc", "-typecheck", "-module-name", "BenchCore", *sources], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
