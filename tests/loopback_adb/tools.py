"""Device tools on the loopback phone's PATH: getprop, df, dumpsys, am, pm, cmd, run-as, taskset.

Each is a launcher calling ``main(name, argv)``; they run inside the device shell (stdlib only) and
find their device through LOOPBACK_DEVICE_STATE. Output formats follow the real Android tools closely
enough for parsers written against a phone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loopback_adb.state import DeviceState

TOOL_NAMES = ("getprop", "df", "dumpsys", "am", "pm", "cmd", "run-as", "taskset")


def _err(message: str, rc: int = 1) -> int:
    print(message, file=sys.stderr)
    return rc


def getprop(dev: DeviceState, argv: list[str]) -> int:
    props = dev.config.props()
    if not argv:
        for key in sorted(props):
            print(f"[{key}]: [{props[key]}]")
    else:
        print(props.get(argv[0], argv[1] if len(argv) > 1 else ""))
    return 0


def df(dev: DeviceState, argv: list[str]) -> int:
    """Toybox df, one line per path, every path reporting the /data volume's numbers."""
    human = "-h" in argv
    paths = [a for a in argv if not a.startswith("-")] or [str(dev.root / "data")]
    capacity, used, free = dev.disk_usage()

    def size(n: int) -> str:
        if not human:
            return str(n // 1024)
        value, unit = float(n), ""
        for unit in ("", "K", "M", "G", "T"):  # noqa: B007  (read after the loop: where it stopped)
            if value < 1024:
                break
            value /= 1024
        return f"{value:.1f}{unit}" if unit else str(n)

    print("Filesystem       Size  Used Avail Use% Mounted on" if human
          else "Filesystem      1K-blocks    Used Available Use% Mounted on")
    for path in paths:
        if not Path(path).exists():
            print(f"df: {path.replace(str(dev.root), '')}: No such file or directory", file=sys.stderr)
            return 1
        rel = "/" + os.path.relpath(Path(path).resolve(), dev.root.resolve()).lstrip(".")
        mount = "/storage/emulated" if rel.startswith(("/sdcard", "/storage")) else "/data"
        pct = round(100 * used / capacity) if capacity else 100
        print(f"/dev/block/dm-46 {size(capacity)} {size(used)} {size(free)} {pct}% {mount}")
    return 0


def dumpsys(dev: DeviceState, argv: list[str]) -> int:
    if argv[:1] != ["battery"]:
        return _err(f"Can't find service: {argv[0] if argv else ''}")
    _, battery = dev.temperatures()
    print("Current Battery Service state:\n  AC powered: false\n  USB powered: true\n"
          "  Wireless powered: false\n  Max charging current: 500000\n  status: 2\n  health: 2\n"
          f"  present: true\n  level: {dev.config.battery_level}\n  scale: 100\n  voltage: 4201\n"
          f"  temperature: {round(battery * 10)}\n  technology: Li-ion")
    return 0


_EXTRA_TYPES: dict[str, Callable[[str], object]] = {
    "--es": str, "-e": str, "--ei": int, "--el": int, "--ef": float, "--ed": float,
    "--ez": lambda v: v.lower() in ("true", "t", "1"),
}


def am(dev: DeviceState, argv: list[str]) -> int:
    """`am start` records the intent (and runs a configured handler); `am force-stop` is recorded."""
    if not argv:
        return _err("usage: am [start|force-stop] ...")
    sub, args = argv[0], argv[1:]
    if sub == "force-stop" and args:
        dev.log("intents", {"command": "force-stop", "package": args[-1], "time": time.time()})
        return 0
    if sub not in ("start", "start-activity"):
        return _err(f"Error: Unknown command: {sub}")
    intent: dict[str, object] = {"command": "start", "component": None, "action": None, "time": time.time()}
    extras: dict[str, object] = {}
    flags: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _EXTRA_TYPES:
            try:
                extras[args[i + 1]] = _EXTRA_TYPES[arg](dev.device_text(args[i + 2]))
            except (ValueError, IndexError):
                return _err(f"Error: bad value for {arg}")
            i += 3
        elif arg in ("-n", "-a", "-d", "-c", "-f", "--user"):
            if i + 1 >= len(args):
                return _err(f"Error: option {arg} needs a value")
            key = {"-n": "component", "-a": "action", "-d": "data", "-c": "category", "-f": "intent_flags",
                   "--user": "user"}[arg]
            intent[key] = dev.device_text(args[i + 1])
            i += 2
        else:
            flags.append(dev.device_text(arg))
            i += 1
    intent.update(extras=extras, flags=flags)
    component = intent["component"]
    if not isinstance(component, str) or "/" not in component:
        return _err("Error: no component (-n pkg/.Activity) given")
    package, _, activity = component.partition("/")
    full = f"{package}/{package}{activity}" if activity.startswith(".") else component
    intent["component"] = full
    print(f"Starting: Intent {{ cmp={component}{' (has extras)' if extras else ''} }}", flush=True)
    if package not in dev.packages():
        return _err(f"Error type 3\nError: Activity class {{{full}}} does not exist.")
    dev.log("intents", intent)
    handlers = dev.intent_handlers()
    handler = handlers.get(full) or handlers.get(component) or handlers.get(package)
    if handler:
        _start_handler(dev, package, handler, intent)
    return 0


def _start_handler(dev: DeviceState, package: str, argv: list[str], intent: dict[str, object]) -> None:
    """The 'app': runs detached like an activity would, in the package's data dir."""
    data_dir = dev.package_dir(package)
    data_dir.mkdir(parents=True, exist_ok=True)
    import subprocess

    env = dict(os.environ, LOOPBACK_INTENT=json.dumps(intent), LOOPBACK_PACKAGE_DIR=str(data_dir))
    with open(dev.state_dir / "handler.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, start_new_session=True)
    dev.log("handlers", {"pid": proc.pid, "argv": argv})


def _apk_package(data: bytes) -> str:
    """Package name from a (test-made) APK: a zip whose AndroidManifest.xml is plain-text XML."""
    import io
    import zipfile  # imported here: every tool start pays for module imports

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as apk:
            manifest = apk.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"INSTALL_PARSE_FAILED_NOT_APK: {e}") from None
    match = re.search(rb'package\s*=\s*"([A-Za-z0-9_.]+)"', manifest)
    if not match:
        raise ValueError("INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: no package name")
    return match.group(1).decode()


def _install(dev: DeviceState, data: bytes) -> int:
    try:
        package = _apk_package(data)
    except ValueError as e:
        print(f"Failure [{e}]")
        return 1
    apk = dev.root / "data/app" / package / "base.apk"
    apk.parent.mkdir(parents=True, exist_ok=True)
    apk.write_bytes(data)
    dev.package_dir(package).mkdir(parents=True, exist_ok=True)
    packages = dev.packages()
    packages[package] = {"size": len(data), "time": time.time()}
    dev.save_packages(packages)
    print("Success")
    return 0


def pm(dev: DeviceState, argv: list[str]) -> int:
    """Package manager: install (a path or `-S SIZE` from stdin), list packages, path, uninstall, clear."""
    sub, args = (argv[0], argv[1:]) if argv else ("", [])
    packages = dev.packages()
    if sub == "install":
        if "-S" in args:
            size = int(args[args.index("-S") + 1])
            data = sys.stdin.buffer.read(size)
            if len(data) != size:
                print(f"Failure [INSTALL_FAILED_INVALID_APK: expected {size} bytes, got {len(data)}]")
                return 1
            return _install(dev, data)
        paths = [a for a in args if not a.startswith("-")]
        if not paths or not Path(paths[-1]).is_file():
            print(f"Failure [INSTALL_FAILED_INVALID_URI: {paths[-1] if paths else 'no path'}]")
            return 1
        return _install(dev, Path(paths[-1]).read_bytes())
    if sub == "list" and args[:1] == ["packages"]:
        filters = [a for a in args[1:] if not a.startswith("-")]
        for name in sorted(packages):
            if not filters or filters[0] in name:
                print(f"package:{name}")
        return 0
    if sub == "path" and args:
        if args[0] not in packages:
            return 1
        print(f"package:/data/app/{args[0]}/base.apk")
        return 0
    if sub in ("uninstall", "clear") and args:
        if args[-1] not in packages:
            print("Failure [DELETE_FAILED_INTERNAL_ERROR]" if sub == "uninstall" else "Failed")
            return 1
        shutil.rmtree(dev.package_dir(args[-1]), ignore_errors=True)
        if sub == "uninstall":
            shutil.rmtree(dev.root / "data/app" / args[-1], ignore_errors=True)
            del packages[args[-1]]
            dev.save_packages(packages)
        else:
            dev.package_dir(args[-1]).mkdir(parents=True)
        print("Success")
        return 0
    return _err(f"Unknown command: {sub}")


def cmd(dev: DeviceState, argv: list[str]) -> int:
    if argv[:1] == ["package"]:
        return pm(dev, argv[1:])
    return _err(f"Can't find service: {argv[0] if argv else ''}", 20)


def run_as(dev: DeviceState, argv: list[str]) -> int:
    """Run a command in an installed package's data dir, as a debuggable app's run-as would."""
    if not argv:
        return _err("usage: run-as <package-name> [--user <uid>] <command> [<args>]")
    package, command = argv[0], argv[1:]
    if package not in dev.packages():
        return _err(f"run-as: unknown package: {package}")
    os.chdir(dev.package_dir(package))
    os.execvp(command[0] if command else "/bin/sh", command or ["/bin/sh"])


def taskset(dev: DeviceState, argv: list[str]) -> int:
    """Toybox taskset: `taskset [-ap] MASK (PID | CMD...)`; records every pinning request."""
    flags = ""
    while argv and argv[0].startswith("-") and len(argv[0]) > 1:
        flags += argv.pop(0)[1:]
    if "p" in flags and len(argv) == 1:
        print(f"pid {argv[0]}'s affinity mask: {(1 << dev.config.cpu_count()) - 1:x}")
        return 0
    if len(argv) < 2:
        return _err("usage: taskset [-ap] [mask] [PID | cmd [args...]]")
    try:
        mask = int(argv[0], 16)
    except ValueError:
        return _err(f"taskset: bad mask '{argv[0]}'")
    if mask & ((1 << dev.config.cpu_count()) - 1) == 0:
        return _err("taskset: sched_setaffinity: Invalid argument")
    pid = int(argv[1]) if "p" in flags else None
    dev.log("taskset", {"mask": f"{mask:x}", "cpus": [c for c in range(64) if mask >> c & 1],
                        "all_threads": "a" in flags, "pid": pid,
                        "command": None if pid is not None else [dev.device_text(a) for a in argv[1:]],
                        "time": time.time()})
    if pid is not None:
        return 0
    os.execvp(argv[1], argv[1:])


_TOOLS: dict[str, Callable[[DeviceState, list[str]], int]] = {
    "getprop": getprop, "df": df, "dumpsys": dumpsys, "am": am, "pm": pm, "cmd": cmd,
    "run-as": run_as, "taskset": taskset,
}


def main(name: str, argv: list[str]) -> int:
    try:
        return _TOOLS[name](DeviceState.from_env(), argv)
    except FileNotFoundError as e:
        return _err(f"{name}: {e.filename}: No such file or directory", 127 if name in ("run-as", "taskset") else 1)
