"""``affdeploy profile``: where the time goes, per op and per PyTorch module, on every runtime side by side."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import typer

from affdeploy.bench.output import print_table
from affdeploy.bench.profile.model import RuntimeProfile
from affdeploy.bench.profile.report import (
    document,
    notes,
    side_by_side,
    top_ops_table,
    write_json,
    write_png,
)
from affdeploy.bench.request import BenchRequest
from affdeploy.cli._common import (
    TARGETS_HELP,
    app,
    console,
    err_console,
    print_json,
    progress,
)
from affdeploy.cli.bench import artifact_model_and_size, runner_paths
from affdeploy.errors import UsageError
from affdeploy.fsutil import check_writable_file
from affdeploy.limits import check_threads
from affdeploy.models import MODELS
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE
from affdeploy.progress import Progress
from affdeploy.vocab import Target, split_names

DEFAULT_TARGETS = "executorch,onnx,tflite"


def _check(depth: int, top: int, iters: int, warmup: int, threads: int) -> None:
    for name, value, low in (("--depth", depth, 1), ("--top", top, 0), ("--iters", iters, 1),
                             ("--warmup", warmup, 0), ("--threads", threads, 1)):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, got {value}")
    check_threads([threads])


@app.command()
def profile(
    models: list[str] = typer.Option([], "--model", "-m",
                                     help=f"Model to profile: {', '.join(MODELS)}, a .pt2 or package.module:factory. "
                                          "Default: affnet-t; with --artifact, its manifest entry decides."),
    targets: list[str] = typer.Option([DEFAULT_TARGETS], "--target", "-t",
                                      help="Runtimes: executorch, onnx, tflite (coreml: says why Core ML has no "
                                           "per-op times), or all. " + TARGETS_HELP),
    device: str | None = typer.Option(None, "--device", "-d",
                                      help="host (default) or a phone: an adb serial, android, or a profile such as "
                                           "pixel7."),
    threads: int = typer.Option(1, "--threads", help="Threads of every runtime (one count)."),
    artifacts: list[Path] = typer.Option([], "--artifact", "-a",
                                         help="Profile this existing .pte/.onnx/.tflite instead of exporting "
                                              "(repeatable)."),
    image_size: int | None = typer.Option(None, "--image-size",
                                          help=f"Input height and width (default {DEFAULT_IMAGE_SIZE}; with --artifact, "
                                               "its manifest entry decides)."),
    iters: int = typer.Option(30, "--iters", "-n",
                              help="Timed iterations, unprofiled (the warm median) and profiled (the per-op medians)."),
    warmup: int = typer.Option(5, "--warmup",
                               help="Warm-up iterations after the first inference, left out of every median."),
    depth: int = typer.Option(4, "--depth",
                              help="Module rows are paths cut to this many components (stages.2.blocks.0 is 4)."),
    top: int = typer.Option(10, "--top", help="Costliest ops listed per runtime."),
    models_dir: Path = typer.Option(Path("models"), "--models-dir",
                                    help="Where 'affdeploy export' wrote its artifacts; missing ones are exported into "
                                         "its cache/ as for bench."),
    json_out: str | None = typer.Option(None, "--json",
                                        help="Write the profile (schema affdeploy.profile/v1) to this path, or '-' for "
                                             "stdout instead of the tables."),
    png: Path | None = typer.Option(None, "--png",
                                    help="Write a stacked-bar chart (ms per runtime, by module) to this PNG."),
    executor_runner: Path | None = typer.Option(None, "--executor-runner",
                                                help="Android: executor_runner built with the event tracer "
                                                     "(-DEXECUTORCH_BUILD_DEVTOOLS=ON "
                                                     "-DEXECUTORCH_ENABLE_EVENT_TRACER=ON); default "
                                                     "$AFFDEPLOY_EXECUTOR_RUNNER."),
    ort_perf_test: Path | None = typer.Option(None, "--ort-perf-test",
                                              help="Android: onnxruntime_perf_test; default $AFFDEPLOY_ORT_PERF_TEST."),
    tflite_benchmark: Path | None = typer.Option(None, "--tflite-benchmark",
                                                 help="Android: benchmark_model; default $AFFDEPLOY_TFLITE_BENCHMARK."),
) -> None:
    """Profile exported models: per op (name, kind, where it ran, median time, share, GMAC/s) and per PyTorch module, one column per runtime.

    Load, first inference and the warm median are bench's numbers (profilers off); the per-op rows come from a second, profiled run: ETDump + the ETRecord export writes beside each .pte (ExecuTorch), ONNX Runtime's profiler, benchmark_model's op profiling CSV (LiteRT, phones only: the Python package has no per-op profiler). Time no module is known for is shown as (unmapped), never spread. See docs/profile.md.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    _check(depth, top, iters, warmup, threads)
    chosen, image_size = artifact_model_and_size(artifacts, split_names(models), image_size)
    request = BenchRequest(models=chosen or ["affnet-t"], targets=targets, threads=[threads], warmup=warmup,
                           iters=iters, image_size=DEFAULT_IMAGE_SIZE if image_size is None else image_size,
                           models_dir=models_dir, artifacts=list(artifacts))
    if len(request.models) != 1:
        raise UsageError("profile one model at a time")
    for option, path in (("--json", Path(json_out) if json_out not in (None, "-") else None), ("--png", png)):
        if path is not None:
            check_writable_file(path, option)
    runners = runner_paths(executor_runner, ort_perf_test, tflite_benchmark)
    with progress() as bar:
        task = bar.add_task("profiling", total=None)

        def report(message: str, fraction: float | None = None) -> None:
            bar.update(task, description=message)

        profiles, where = _run(device, request, runners, report)
    title = f"affdeploy profile: {request.models[0]} {request.image_size}px, {threads} thread(s), on {where}"
    data = document(profiles, {"model": request.models[0], "image_size": request.image_size, "threads": threads,
                               "device": where, "iters": iters, "warmup": warmup}, depth)
    if json_out == "-":
        print_json(data)
    else:
        print_table(console, side_by_side(profiles, depth, title))
        if top and any(p.ops for p in profiles):
            print_table(console, top_ops_table(profiles, top))
        for line in notes(profiles):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if json_out not in (None, "-"):
        write_json(data, Path(json_out))
        err_console.print(f"profile written to {json_out}")
    if png is not None:
        write_png(profiles, depth, png, title)
        err_console.print(f"chart written to {png}")
    sys.stdout.flush()


def _run(device: str | None, request: BenchRequest, runners: Mapping[str, Path],
         report: Progress) -> tuple[list[RuntimeProfile], str]:
    """Profile on the host or the phone ``device`` names; returns the profiles and where they ran."""
    from affdeploy.bench.profile.host import profile_host
    from affdeploy.devices import HOST_NAMES

    if device is None or device.lower() in HOST_NAMES:
        return profile_host(request, report), "host"
    from affdeploy.devices import resolve_device
    from affdeploy.devices.android.device import AndroidDevice
    from affdeploy.devices.android.profile import profile_android

    found = resolve_device(device, runners=runners)
    if not isinstance(found, AndroidDevice):  # an iPhone: say per runtime why there are no per-op times
        from affdeploy.bench.profile.host import (
            COREML_NO_PER_OP,
            IOS_NO_PER_OP,
            unavailable,
        )

        asked = [n.lower() for n in split_names(request.targets)]
        names = [Target.COREML, *(t for t in (Target.EXECUTORCH,) if t in asked or "all" in asked)]
        return [unavailable(t, "", COREML_NO_PER_OP if t == Target.COREML else IOS_NO_PER_OP) for t in names], \
            found.info.name
    return profile_android(found, request, report), found.info.name
