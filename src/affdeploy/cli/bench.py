"""``affdeploy bench``: measure models on this machine, an Android phone or an iPhone."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from affdeploy.bench.engine import validate_request
from affdeploy.bench.output import print_table, results_table, to_json, write_csv, write_results
from affdeploy.bench.request import NOISY_CV, BenchRequest
from affdeploy.cli._common import TARGETS_HELP, app, console, err_console, finite, progress
from affdeploy.devices import resolve_device
from affdeploy.errors import UsageError
from affdeploy.export.registry import bench_targets
from affdeploy.fsutil import check_readable_file, check_writable_file
from affdeploy.limits import check_threads
from affdeploy.models import MODELS
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE
from affdeploy.vocab import DeviceKind, Target, split_names

_DEFAULTS = BenchRequest()


def parse_threads(text: str) -> list[int]:
    """``"1,2"`` -> [1, 2]; a usage error for anything else."""
    try:
        threads = [int(t) for t in split_names([text])]
    except ValueError:
        raise UsageError(f"--threads takes comma-separated integers such as 1,2; got '{text}'") from None
    if not threads or any(t < 1 for t in threads):
        raise UsageError(f"--threads must be positive integers, got '{text}'")
    check_threads(threads)
    return list(dict.fromkeys(threads))


def _input_size(path: Path) -> int | None:
    """Input height of an .onnx or .pte read from the file itself; None when it cannot tell (the runtime will say why)."""
    try:
        if path.suffix == ".onnx":
            import onnx

            dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
            shape = [d.dim_value for d in dims]
        elif path.suffix == ".pte":
            from affdeploy.etruntime import input_sizes

            shape = list(input_sizes(path)[0])
        else:
            return None
    except Exception:  # noqa: BLE001 - a damaged file: opening it for the benchmark reports the reason
        return None
    return int(shape[-1]) if len(shape) == 4 and shape[-1] > 0 else None


def artifact_model_and_size(artifacts: list[Path], models: list[str], image_size: int | None,
                            trust_manifest: bool = False) -> tuple[list[str], int | None]:
    """With --artifact, the artifact's manifest entry decides model and image size; a flag that disagrees is an error.

    A bare file (no manifest beside it) is measured at its own input size; the model comes from the flags.
    A user model the entry names runs only when --model names it too or --trust-manifest is given.
    """
    from affdeploy.export.manifest import NoEntryError, find_entry
    from affdeploy.export.verify import trusted_model

    for path in artifacts:
        if not path.exists():
            continue  # validate_request reports it
        try:
            _folder, entry = find_entry(path)
        except NoEntryError:  # a bare file: its own input shape decides the size
            size = _input_size(path)
            if size is not None and image_size is not None and image_size != size:
                raise UsageError(
                    f"{path} takes {size}x{size} inputs, not --image-size {image_size}; drop --image-size") from None
            image_size = size if size is not None else image_size
            continue
        if len(models) > 1:
            raise UsageError(f"{path} is {entry.model} (its manifest entry says so), not {', '.join(models)}; drop --model")
        trusted_model(entry, models[0] if models else None, trust_manifest)
        if image_size is not None and image_size != entry.image_size:
            raise UsageError(f"{path} was exported at --image-size {entry.image_size}, not {image_size}; drop --image-size")
        models, image_size = [entry.model], entry.image_size
    return models, image_size


def runner_paths(executor_runner: Path | None, ort_perf_test: Path | None,
                 tflite_benchmark: Path | None) -> dict[str, Path]:
    """The phone runners given on the command line, by the target each one runs (bench and profile take the same)."""
    given = ((Target.EXECUTORCH, executor_runner), (Target.ONNX, ort_perf_test), (Target.TFLITE, tflite_benchmark))
    return {target: path for target, path in given if path is not None}


def _exclusive(count: int | None, seconds: float | None, names: str) -> None:
    if count is not None and seconds is not None:
        raise UsageError(f"give either {names}, not both")


@app.command()
def bench(
    device: str | None = typer.Option(None, "--device", "-d",
                                      help="Where to run: host (this machine), android (ANDROID_SERIAL's phone, else the "
                                           "only attached one), a phone profile such as pixel7 or iphone15pro, or an adb "
                                           "serial / iOS UDID. Default: the phone ANDROID_SERIAL names when it "
                                           "is set, else host."),
    executor_runner: Path | None = typer.Option(None, "--executor-runner",
                                                help="Android: ExecuTorch's executor_runner built for the phone "
                                                     "(docs/android.md); default $AFFDEPLOY_EXECUTOR_RUNNER."),
    ort_perf_test: Path | None = typer.Option(None, "--ort-perf-test",
                                              help="Android: ONNX Runtime's onnxruntime_perf_test built for the phone; "
                                                   "default $AFFDEPLOY_ORT_PERF_TEST."),
    tflite_benchmark: Path | None = typer.Option(None, "--tflite-benchmark",
                                                 help="Android: LiteRT's benchmark_model built for the phone; default "
                                                      "$AFFDEPLOY_TFLITE_BENCHMARK."),
    models: list[str] = typer.Option([], "--model", "-m",
                                     help=f"Model(s) to measure, repeatable or comma-separated: {', '.join(MODELS)}. "
                                          "Default: affnet-t; with --artifact, the artifact's manifest entry decides."),
    targets: list[str] = typer.Option(["all"], "--target", "-t",
                                      help=f"Runtime(s): {', '.join(bench_targets(DeviceKind.HOST))} on the host "
                                           f"({', '.join(bench_targets(DeviceKind.IOS))} on iPhones), or all. "
                                           + TARGETS_HELP),
    fft: str = typer.Option("auto", "--fft",
                            help="FFT handling: auto (per-backend choice), dft (real DFT-matrix products), native (the "
                                 "runtime's FFT). torch with auto/native is eager PyTorch with torch.fft, the baseline."),
    threads: str = typer.Option("1", "--threads", help="Thread counts to sweep, comma-separated, e.g. 1,2."),
    warmup: int | None = typer.Option(None, "--warmup",
                                      help=f"Warm-up iterations after the first inference (default {_DEFAULTS.warmup})."),
    warmup_s: float | None = typer.Option(None, "--warmup-s", callback=finite,
                                          help="Warm up for this many seconds instead of a count."),
    iters: int | None = typer.Option(None, "--iters", "-n",
                                     help=f"Timed iterations per configuration (default {_DEFAULTS.iters})."),
    min_s: float | None = typer.Option(None, "--min-s", callback=finite,
                                       help="Time each configuration for at least this many seconds instead of a count."),
    cooldown_s: float = typer.Option(0.0, "--cooldown-s", callback=finite,
                                     help="Rest before each configuration loads and between interleaved rounds (host); "
                                          "maximum wait for the phone to cool (devices)."),
    image_size: int | None = typer.Option(None, "--image-size",
                                          help=f"Input height and width (multiple of 32; default {DEFAULT_IMAGE_SIZE}; with "
                                               "--artifact, its manifest entry decides)."),
    weights: Path | None = typer.Option(None, "--weights",
                                        help="Checkpoint to load (official cvnets state dict); random "
                                             "weights time the same."),
    precision: str = typer.Option("fp32", "--precision",
                                  help="fp32, fp16 (ExecuTorch XNNPACK) or int8 (ExecuTorch XNNPACK, ONNX; calibrated on "
                                       "the shipped photos). With --target all: the targets that offer it, "
                                       "and the eager baseline."),
    artifacts: list[Path] = typer.Option([], "--artifact", "-a",
                                         help="Benchmark this existing .onnx or .pte instead of exporting (repeatable; give "
                                              "one --model)."),
    models_dir: Path = typer.Option(Path("models"), "--models-dir",
                                    help="Where 'affdeploy export' wrote its artifacts (used as they are when they match) "
                                         "and where missing ones are cached (cache/<hash of everything that shapes them>)."),
    json_out: str | None = typer.Option(None, "--json",
                                        help="Write the results document (schema affdeploy.bench/v1) to this path, or '-' "
                                             "for stdout instead of the table."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write a CSV summary (one row per configuration) to this path."),
    trust_manifest: bool = typer.Option(False, "--trust-manifest",
                                        help="With --artifact: run the user model (factory or .pt2) its manifest entry "
                                             "names without naming it in --model (runs its code); only for manifests you "
                                             "wrote yourself."),
) -> None:
    """Measure latency, load time, first inference, memory and GMAC/s of exported models.

    Artifacts that 'affdeploy export' already wrote into --models-dir are used as they are when they match the request (model, weights, target, backend, FFT mode, image size, precision, tool and export-code versions, file unchanged); missing ones are exported first and cached under --models-dir/cache. On the host, ONNX Runtime (CPU provider), ExecuTorch (XNNPACK) and eager PyTorch with its native FFT (the baseline) run side by side; several configurations run in interleaved rounds so that machine noise falls on all of them alike.

    Every record keeps its raw per-iteration samples and reports min, mean ± std, p50/p90/p99, trimmed mean, the coefficient of variation (runs above 10% are flagged noisy) and a bootstrap 95% interval of the median. See docs/bench.md and docs/results-schema.md.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    _exclusive(warmup, warmup_s, "--warmup or --warmup-s")
    _exclusive(iters, min_s, "--iters or --min-s")
    chosen, image_size = artifact_model_and_size(artifacts, split_names(models), image_size, trust_manifest)
    request = BenchRequest(
        models=chosen or _DEFAULTS.models,
        targets=targets,
        fft=fft.lower(),
        threads=parse_threads(threads),
        warmup=None if warmup_s is not None else (_DEFAULTS.warmup if warmup is None else warmup),
        warmup_s=warmup_s,
        iters=None if min_s is not None else (_DEFAULTS.iters if iters is None else iters),
        min_s=min_s,
        cooldown_s=cooldown_s,
        image_size=DEFAULT_IMAGE_SIZE if image_size is None else image_size,
        precision=precision.strip().lower(),
        weights=weights,
        models_dir=models_dir,
        artifacts=list(artifacts),
    )
    validate_request(request)
    if weights is not None:
        check_readable_file(weights, "weights file", folder_ok=True)  # a FIFO is not "missing": say what it is
        if not weights.is_file():
            raise UsageError(f"weights file {weights} does not exist")
    for option, path in (("--json", json_out if json_out != "-" else None), ("--csv", csv_out)):
        if path is not None:
            check_writable_file(Path(path), option)  # refused now, not after the whole benchmark
    with progress() as bar:
        task = bar.add_task("benchmarking", total=1.0)

        def report(message: str, fraction: float | None = None) -> None:
            bar.update(task, description=message, completed=fraction)  # None leaves it as it is

        runners = runner_paths(executor_runner, ort_perf_test, tflite_benchmark)
        records = resolve_device(device, runners=runners).run(request, report)
    if json_out == "-":
        sys.stdout.write(to_json(records))
    else:
        print_table(console, results_table(records, title=f"affdeploy bench on {records[0].device.name}" if records else ""))
        noisy = [r for r in records if r.stats.noisy]
        if noisy:
            err_console.print(
                f"[yellow]{len(noisy)} noisy run(s) (CV > {NOISY_CV:.0%}): the machine was busy; rerun with more --iters or "
                "--cooldown-s[/]",
                soft_wrap=True,
            )
    if json_out and json_out != "-":
        write_results(records, Path(json_out))
        err_console.print(f"results written to {json_out}")
    if csv_out is not None:
        write_csv(records, csv_out)
        err_console.print(f"CSV summary written to {csv_out}")
