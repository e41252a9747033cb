"""Stand-ins for ``xcrun`` and ``xcodebuild``, which cannot be installed on Linux.

They accept exactly the command lines Xcode's tools accept (and reject others the way they do),
answer from the recorded samples in tests/data/ios/, and log every call as a JSON line to
$FAKE_XCODE_LOG, so the tests check both the macOS flow of affdeploy.devices.ios and the
commands it sends. $FAKE_XCRESULTTOOL_VERSION picks the xcresulttool generation: 23500 is
Xcode 16.3 ("get test-results", "export attachments"), 22608 is Xcode 15 (legacy graph only).
Usage (through the wrapper scripts tests write): ``python ios_fake_xcode.py xcrun|xcodebuild ARGS...``
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "ios"
LEGACY_IDS = {
    None: "root.json",
    "0~TsPlanRunSummaries_7Qk2": "tests.json",
    "0~Sum_bench": "summary_bench.json",
    "0~Sum_load_ane": "summary_load_ane.json",
    "0~Sum_predict_ane": "summary_predict_ane.json",
    "0~Sum_predict_gpu": "summary_predict_gpu.json",
}
PAYLOADS = {"0~Payload_results_91x": "payload_results.json"}


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def _fail(message: str, code: int = 64) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return code


def xcresulttool(args: list[str]) -> int:
    version = int(os.environ.get("FAKE_XCRESULTTOOL_VERSION", "23500"))
    new = version >= 23000
    if args == ["version"]:
        print(f"xcresulttool version {version}, format version 3.53 (current)")
        return 0
    bundle = _option(args, "--path")
    if bundle is None or not Path(bundle).is_dir():
        return _fail(f"the result bundle at {bundle} does not exist")
    if args[:2] == ["export", "attachments"]:
        if not new:
            return _fail("Unknown option '--output-path'")
        out = Path(_option(args, "--output-path") or "")
        shutil.copytree(DATA / "xcresult16" / "attachments", out, dirs_exist_ok=True)
        return 0
    if args[:3] == ["get", "test-results", "metrics"]:
        if not new:
            return _fail("Unknown subcommand 'test-results'")
        print((DATA / "xcresult16" / "metrics.json").read_text())
        return 0
    if new and "--legacy" not in args:
        return _fail("This command is deprecated and will be removed in a future release, --legacy flag is "
                     "required to use it.")
    if args[0] == "get" and _option(args, "--format") == "json":
        name = LEGACY_IDS.get(_option(args, "--id"))
        if name is None:
            return _fail(f"no object with id {_option(args, '--id')}")
        print((DATA / "xcresult15" / name).read_text())
        return 0
    if args[0] == "export" and _option(args, "--type") == "file":
        name = PAYLOADS.get(_option(args, "--id"))
        if name is None:
            return _fail(f"no payload with id {_option(args, '--id')}")
        shutil.copy(DATA / "xcresult15" / name, _option(args, "--output-path") or "")
        return 0
    return _fail(f"unknown xcresulttool command {args}")


def xcrun(args: list[str]) -> int:
    if args[:3] == ["devicectl", "list", "devices"]:
        out = _option(args, "--json-output")
        if out is None:
            return _fail("--json-output is required by this stand-in")
        shutil.copy(DATA / "devicectl_devices.json", out)
        return 0
    if args and args[0] == "xcresulttool":
        return xcresulttool(args[1:])
    return _fail(f"unknown xcrun tool {args[:1]}", 72)


def xcodebuild(args: list[str]) -> int:
    if args[:1] != ["test"] or "-scheme" not in args or "-destination" not in args:
        return _fail("xcodebuild stand-in only runs 'test' with -scheme and -destination", 65)
    bundle = Path(_option(args, "-resultBundlePath") or "")
    if os.environ.get("FAKE_XCODEBUILD_SIGNING_ERROR"):
        print('error: Signing for "AFFBench" requires a development team. Select a development team in the Signing & '
              'Capabilities editor.')
        print("** TEST FAILED **")
        return 65
    if bundle.exists():
        return _fail(f"Existing file at -resultBundlePath \"{bundle}\"", 70)
    bundle.mkdir(parents=True)
    (bundle / "Info.plist").write_text("<plist/>")
    print("** TEST SUCCEEDED **")
    return 0


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    log = os.environ.get("FAKE_XCODE_LOG")
    if log:
        env = {k: v for k, v in os.environ.items() if k.startswith(("TEST_RUNNER_", "DEVELOPER_DIR"))}
        with open(log, "a") as fh:
            fh.write(json.dumps({"tool": tool, "args": args, "env": env}) + "\n")
    return {"xcrun": xcrun, "xcodebuild": xcodebuild}[tool](args)


if __name__ == "__main__":
    raise SystemExit(main())
