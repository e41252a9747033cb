"""A host stand-in for ExecuTorch's ``executor_runner``, pushed to the loopback phone like the real binary.

It accepts the real runner's gflags command line (``--model_path``, ``--num_executions``,
``--cpu_threads``, ``--method_name``, ``--print_output``; ``--flag=value`` or ``--flag value``;
unknown flags are fatal as in gflags) and prints what the real one prints: ET_LOG lines on stderr
in the posix PAL format, one ``Iteration i of N: X ms`` line per execution, the
``Model executed successfully N time(s) in X ms.`` total and ``OutputX`` lines on stdout. It really
runs the .pte with ExecuTorch's C++ runtime (its Python bindings), on all-ones inputs like the real runner
(extension/runner_util/inputs.cpp: every input, of its dtype, at the sizes the method metadata
declares, which for a dynamic dim is its upper bound), so the numbers it reports are real measurements. With
``--legacy_log`` (not a real flag: for tests only) it omits the load and per-iteration lines, as executor_runner
builds before ExecuTorch 1.3 do.

``FAKE_ET_LOGGING=off`` in its environment makes it a Release build: ExecuTorch's CMake preset
turns EXECUTORCH_ENABLE_LOGGING on only for Debug builds, and without it every ET_LOG call compiles
to nothing, so the real runner then prints only its ``OutputX`` lines and exits 0.

``--etdump_path=F`` exists, as in the real runner, only in a build with the event tracer
(ET_EVENT_TRACER_ENABLED: -DEXECUTORCH_BUILD_DEVTOOLS=ON -DEXECUTORCH_ENABLE_EVENT_TRACER=ON); the
stand-in then loads the program with ``enable_etdump`` and the runtime itself writes the ETDump to F.
``FAKE_ET_EVENT_TRACER=off`` makes it a build without it: the flag is unknown to gflags.

``FAKE_HANG_AFTER=N`` makes it hang (sleep FAKE_HANG_S, default 60) after N executions, like a runner
stuck in a driver; ``FAKE_HANG_AFTER=load`` hangs before loading the model.
"""

from __future__ import annotations

import os
import sys
import time

_START = time.monotonic()
_FLAGS = {
    "model_path": "model.pte",
    "num_executions": "1",
    "cpu_threads": "-1",
    "method_name": "",
    "print_output": "summary",
    "legacy_log": "false",
}
_BOOL_FLAGS = {"legacy_log"}
if os.environ.get("FAKE_ET_EVENT_TRACER", "on") != "off":
    _FLAGS["etdump_path"] = ""


_LOGGING = os.environ.get("FAKE_ET_LOGGING", "on") != "off"
_HANG_AFTER = os.environ.get("FAKE_HANG_AFTER")
SCALAR_TYPES = {"3": "int32", "4": "int64", "5": "float16", "6": "float32", "7": "float64", "11": "bool"}  # c10 codes


def et_log(level: str, line: int, message: str) -> None:
    """One ET_LOG line exactly as runtime/platform/default/posix.cpp formats it (nothing in a Release build)."""
    if not _LOGGING:
        return
    us = int((time.monotonic() - _START) * 1e6)
    sec, us = divmod(us, 1_000_000)
    minute, sec = divmod(sec, 60)
    hour, minute = divmod(minute, 60)
    print(f"{level} {hour:02d}:{minute:02d}:{sec:02d}.{us:06d} executorch:executor_runner.cpp:{line}] {message}",
          file=sys.stderr, flush=True)


def parse_flags(argv: list[str]) -> dict[str, str]:
    """gflags-style parsing; an unknown flag or a positional argument exits 1 like the real runner."""
    flags = dict(_FLAGS)
    args = list(argv)
    while args:
        arg = args.pop(0)
        if not arg.startswith("-"):
            et_log("E", 310, f"Extra commandline args: {arg}")
            sys.exit(1)
        name, eq, value = arg.lstrip("-").partition("=")
        if name.startswith("no") and name[2:] in _BOOL_FLAGS and not eq:
            name, value, eq = name[2:], "false", "="
        if name not in flags:
            print(f"ERROR: unknown command line flag '{name}'", file=sys.stderr)
            sys.exit(1)
        if not eq:
            value = "true" if name in _BOOL_FLAGS else (args.pop(0) if args else "")
        flags[name] = value
    return flags


def hang_if(point: str) -> None:
    """Sleep where FAKE_HANG_AFTER says, printing nothing more, as a stuck runner does."""
    if _HANG_AFTER == point:
        time.sleep(float(os.environ.get("FAKE_HANG_S", "60")))


def main(argv: list[str]) -> int:
    flags = parse_flags(argv)
    hang_if("load")
    import torch  # loads libtorch, which the ExecuTorch pybindings link against
    from executorch.extension.pybindings import (
        _C,  # the runtime alone (executorch.runtime imports exir first: 4 s)
    )

    threads = int(flags["cpu_threads"])
    et_log("I", 322, f"Resetting threadpool with num threads = {threads if threads > 0 else os.cpu_count()}")
    if threads > 0:
        torch.set_num_threads(threads)
    before = time.perf_counter()
    if flags.get("etdump_path"):
        return run_with_etdump(flags, before)
    try:
        program = _C._load_program(flags["model_path"], program_verification=_C.Verification.InternalConsistency)
    except Exception:  # the real runner reports any load failure this way
        et_log("E", 469, f"Failed to parse model file {flags['model_path']}")
        return 1
    et_log("I", 471, f"Model file {flags['model_path']} is loaded.")
    name = flags["method_name"] or sorted(program.get_method_name(i) for i in range(program.num_methods()))[0]
    et_log("I", 481, f"Using method {name}")
    method = program.load_method(name)
    if flags["legacy_log"] != "true":
        et_log("I", 620, f"Model loaded in {(time.perf_counter() - before) * 1000:f} ms.")
    meta = method.method_meta()
    infos = [meta.input_tensor_meta(i) for i in range(meta.num_inputs())]
    inputs = [torch.ones(tuple(info.sizes()), dtype=getattr(torch, SCALAR_TYPES[str(int(info.dtype()))]))
              for info in infos]
    executions = int(flags["num_executions"])
    total_ms = 0.0
    outputs = []
    for i in range(executions):
        start = time.perf_counter()
        outputs = method(inputs)
        elapsed = (time.perf_counter() - start) * 1000
        total_ms += elapsed
        if flags["legacy_log"] != "true":
            et_log("I", 790, f"Iteration {i + 1} of {executions}: {elapsed:f} ms")
        hang_if(str(i + 1))
    et_log("I", 800, f"Model executed successfully {executions} time(s) in {total_ms:f} ms.")
    et_log("I", 806, f"{len(outputs)} outputs: ")
    if flags["print_output"] == "summary":
        for i, out in enumerate(outputs):
            values = ", ".join(f"{v:f}" for v in out.flatten()[:8].tolist())
            print(f"OutputX {i}: tensor(sizes=[{', '.join(map(str, out.shape))}], [{values}, ...])")
    return 0


def run_with_etdump(flags: dict[str, str], before: float) -> int:
    """The event-tracer build: the runtime records every execution and writes the ETDump at the end."""
    import torch
    from executorch.extension.pybindings import _C

    module = _C._load_for_executorch(flags["model_path"], enable_etdump=True)
    et_log("I", 620, f"Model loaded in {(time.perf_counter() - before) * 1000:f} ms.")
    meta = module.method_meta("forward")
    infos = [meta.input_tensor_meta(i) for i in range(meta.num_inputs())]
    inputs = [torch.ones(tuple(info.sizes()), dtype=getattr(torch, SCALAR_TYPES[str(int(info.dtype()))]))
              for info in infos]
    executions = int(flags["num_executions"])
    total_ms = 0.0
    for i in range(executions):
        start = time.perf_counter()
        module.forward(inputs)
        elapsed = (time.perf_counter() - start) * 1000
        total_ms += elapsed
        et_log("I", 790, f"Iteration {i + 1} of {executions}: {elapsed:f} ms")
    et_log("I", 800, f"Model executed successfully {executions} time(s) in {total_ms:f} ms.")
    module.write_etdump_result_to_file(flags["etdump_path"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
