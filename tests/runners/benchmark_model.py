"""A host stand-in for LiteRT's ``benchmark_model``, pushed to the loopback phone like the real binary.

It takes the real tool's ``--flag=value`` command line (benchmark_model.cc, benchmark_tflite_model.cc,
xnnpack_delegate_provider.cc), really runs the model with ai-edge-litert's interpreter (XNNPACK,
``--num_threads``) on random inputs (every input, of its type, at the model's shapes, or at
``--input_layer_shape`` with the real tool's checks of ``--input_layer``), and prints what the real
tool prints on stdout: ``INFO: `` lines with the set parameters, ``Loaded model``, the delegation line, one
tsl::StatWithPercentiles line per phase (microseconds, doubles with 6 significant digits) followed by an empty
``INFO:`` line, ``Inference timings in us: ...`` and the memory lines. Unknown flags are an error, as in the real tool.

With ``--enable_op_profiling=true --op_profiling_output_mode=csv --op_profiling_output_file=F`` it writes F
in the real format (tflite/profiling/profile_summarizer.cc through tensorflow/core/util/stats_calculator.cc
with format_as_csv: ``Run Order`` tables, ``node type, start, first, avg_ms, %, cdf%, mem KB, times called,
name`` rows, the delegate's operators after ``Delegate internal:``). The times are not per-op
measurements (ai-edge-litert's Python interpreter has no per-op profiler): the measured average is split
evenly over the graph's ops, each named as XNNPACK names the operator of its op type.

``FAKE_BENCHMARK_MODEL=old`` prints like an older or stripped build: statistics without percentiles,
no memory lines (mallinfo unsupported), WARN lines in between, partial delegation.
``FAKE_BENCHMARK_MODEL=silent`` exits 0 having printed only its start line.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time

FLAGS = {"graph": str, "num_threads": int, "num_runs": int, "min_secs": float, "max_secs": float, "warmup_runs": int,
         "warmup_min_secs": float, "use_xnnpack": str, "report_peak_memory_footprint": str, "input_layer": str,
         "input_layer_shape": str, "enable_op_profiling": str, "op_profiling_output_mode": str,
         "op_profiling_output_file": str}
LABELS = {"num_runs": "Min num runs", "min_secs": "Min runs duration (seconds)", "max_secs": "Max runs duration (seconds)",
          "num_threads": "Num threads", "warmup_runs": "Min warmup runs",
          "warmup_min_secs": "Min warmup runs duration (seconds)", "report_peak_memory_footprint":
          "Report the peak memory footprint", "graph": "Graph", "use_xnnpack": "Use xnnpack",
          "input_layer": "Input layers", "input_layer_shape": "Input shapes",
          "enable_op_profiling": "Enable op profiling", "op_profiling_output_mode": "Op profiling output mode",
          "op_profiling_output_file": "Op profiling output file"}
XNNPACK_NAMES = {"CONV_2D": "Convolution (NHWC, F32) IGEMM", "DEPTHWISE_CONV_2D": "Convolution (NHWC, F32) DWConv",
                 "FULLY_CONNECTED": "Fully Connected (NC, F32) GEMM", "BATCH_MATMUL": "Batch Matrix Multiply (NC, F32)",
                 "MUL": "Multiply (ND)", "ADD": "Add (ND)", "SUB": "Subtract (ND)", "LOGISTIC": "Sigmoid (NC)",
                 "MEAN": "Mean (ND) Reduce2", "RSQRT": "Reciprocal Square Root (NC)", "RESHAPE": "Copy (NC, X32)",
                 "TRANSPOSE": "Transpose (ND, X32)", "SLICE": "Slice (ND, X32)", "STRIDED_SLICE": "Slice (ND, X32)",
                 "CONCATENATION": "Concatenate (ND, X32)", "PAD": "Constant Pad (ND, X32)", "DIV": "Divide (ND)"}
TITLE = "============================== {} =============================="
HEADER = "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name"


def op_profile_csv(runner: object, average_us: float) -> str:
    """stats_calculator's CSV of one delegate node holding the graph, then its operators (even shares of the time)."""
    ops = runner._get_ops_details()  # type: ignore[attr-defined]
    graph = [op for op in ops if op["op_name"] != "DELEGATE"]
    outputs = ", ".join(d["name"] for d in runner.get_output_details())  # type: ignore[attr-defined]
    total_ms = average_us / 1000
    share = total_ms / max(len(graph), 1)
    lines = [TITLE.format("Run Order"), HEADER,
             f"TfLiteXNNPackDelegate, 0, {g(total_ms)}, {g(total_ms)}, 100%, 100%, 0, 1, [{outputs}]:{len(graph)}", "",
             "Timings (microseconds): count=1 curr=" + str(int(average_us)), "", "Delegate internal: ",
             TITLE.format("Run Order"), HEADER]
    cdf = 0.0
    for index, op in enumerate(graph):
        name = XNNPACK_NAMES.get(op["op_name"], op["op_name"].title())
        cdf += 100 / len(graph)
        lines.append(f"{name}, {g(share * index)}, {g(share)}, {g(share)}, {g(100 / len(graph))}%, {g(cdf)}%, 0, 1, "
                     f"Delegate/{name}:{index}")
    return "\n".join(lines) + "\n\n"


def g(value: float) -> str:
    """A C++ double streamed with the default precision (6 significant digits)."""
    return f"{value:g}"


def stat_line(values: list[int], percentiles: bool) -> str:
    """tsl::StatWithPercentiles::OutputToStream."""
    if not values:
        text = "count=0"
    elif min(values) == max(values):
        text = f"count={len(values)} curr={values[-1]}" + ("(all same)" if len(values) > 1 else "")
    else:
        text = (f"count={len(values)} first={values[0]} curr={values[-1]} min={min(values)} max={max(values)} "
                f"avg={g(statistics.fmean(values))} std={int(statistics.pstdev(values))}")
    if percentiles and values:
        ranked = sorted(values)
        text += " " + " ".join(f"{k}={ranked[len(ranked) * p // 100]}" for k, p in (("p5", 5), ("median", 50), ("p95", 95)))
    return text


def input_layers(names: str, shapes: str) -> list[tuple[str, list[int]]] | None:
    """PopulateInputLayerInfo: as many names as shapes, no -1; None (after the real error line) when not."""
    name_list = names.split(",") if names else []
    shape_list = shapes.split(":") if shapes else []
    if len(name_list) != len(shape_list):
        print(f"ERROR: The number of items in --input_layer_shape ({shapes}, with {len(shape_list)} items) must match "
              f"the number of items in --input_layer ({names}, with {len(name_list)} items). For example "
              "--input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20", file=sys.stderr)
        return None
    layers = [(name, [int(d) for d in shape.split(",")]) for name, shape in zip(name_list, shape_list, strict=True)]
    if any(d == -1 for _, shape in layers for d in shape):
        print("ERROR: Any unknown sizes in the shapes (-1's) must be replaced with the size you want to benchmark with.",
              file=sys.stderr)
        return None
    return layers


def resize_inputs(runner: object, layers: list[tuple[str, list[int]]]) -> bool:
    """BenchmarkTfLiteModel::Init: a count mismatch is a CHECK (abort), a rank mismatch an error, a name only a WARN."""
    details = runner.get_input_details()  # type: ignore[attr-defined]
    if layers and len(layers) != len(details):
        print(f"F benchmark_tflite_model.cc] Check failed: inputs_.size() == interpreter_inputs.size() Inputs mismatch: "
              f"Model inputs #:{len(layers)} expected: {len(details)}", file=sys.stderr, flush=True)
        os.abort()
    if not layers:  # no --input_layer: the model runs at its stored sizes
        return True
    for (name, shape), detail in zip(layers, details, strict=True):
        if name != detail["name"]:
            print(f"WARN: Tensor # {detail['index']} is named {detail['name']} but flags call it {name}")
        if len(shape) != len(detail["shape"]):
            print(f"ERROR: Input tensor #{detail['index']} should have {len(detail['shape'])} dimensions!", file=sys.stderr)
            return False
        runner.resize_tensor_input(detail["index"], shape)  # type: ignore[attr-defined]
    return True


def main(argv: list[str]) -> int:
    style = os.environ.get("FAKE_BENCHMARK_MODEL", "")
    print("INFO: STARTING!")
    if style == "silent":
        return 0
    params: dict[str, object] = {"num_runs": 50, "min_secs": 1.0, "max_secs": 150.0, "num_threads": -1, "warmup_runs": 1,
                                 "warmup_min_secs": 0.5, "graph": "", "use_xnnpack": "false"}
    for arg in argv:
        name, _, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or name not in FLAGS:
            print(f"ERROR: Unconsumed cmdline flags: {arg}", file=sys.stderr)
            return 1
        params[name] = FLAGS[name](value)
    print("INFO: Log parameter values verbosely: [0]")
    for arg in argv:
        name = arg.removeprefix("--").partition("=")[0]
        shown = {"true": 1, "false": 0}.get(str(params[name]), params[name])
        print(f"INFO: {LABELS[name]}: [{shown}]")
    if not params["graph"]:
        print("ERROR: Please specify the name of your TF Lite input file with --graph", file=sys.stderr)
        return 1
    layers = input_layers(str(params.get("input_layer", "")), str(params.get("input_layer_shape", "")))
    if layers is None:
        return 1
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    started = time.perf_counter()
    runner = Interpreter(model_path=str(params["graph"]), num_threads=max(1, int(params["num_threads"])))  # type: ignore[arg-type]
    print(f"INFO: Loaded model {params['graph']}")
    if not resize_inputs(runner, layers):
        return 1
    runner.allocate_tensors()
    kernels = sum(node["op_name"] == "DELEGATE" for node in runner._get_ops_details())
    print("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    if style == "old":
        print("WARN: No input shape specified; using the model's.")
        kernels += 2
    if kernels == 1:
        print("INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.")
    elif kernels:
        print(f"INFO: Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the "
              f"delegate w/ {kernels} delegate kernels.")
    init_us = int((time.perf_counter() - started) * 1e6)
    print(f"INFO: The input model file size (MB): {g(os.path.getsize(str(params['graph'])) / 1e6)}")
    print(f"INFO: Initialized session in {g(init_us / 1e3)}ms.")
    rng = np.random.default_rng(0)  # benchmark_tflite_model.cc: random data for every input, at the model's shapes
    feeds = [(d["index"], rng.random(d["shape"]).astype(d["dtype"])) for d in runner.get_input_details()]
    phases = []
    for runs, min_secs in ((params["warmup_runs"], params["warmup_min_secs"]), (params["num_runs"], params["min_secs"])):
        print(f"INFO: Running benchmark for at least {runs} iterations and at least {g(float(min_secs))} seconds but "  # type: ignore[arg-type]
              f"terminate if exceeding {g(float(params['max_secs']))} seconds.")  # type: ignore[arg-type]
        values: list[int] = []
        begin = time.perf_counter()
        while len(values) < runs or time.perf_counter() - begin < min_secs:  # type: ignore[operator]
            start = time.perf_counter()
            for index, feed in feeds:
                runner.set_tensor(index, feed)
            runner.invoke()
            values.append(int((time.perf_counter() - start) * 1e6))
        print(f"INFO: {stat_line(values, percentiles=style != 'old')}\n")
        if style == "old":
            print("WARN: The benchmark tool itself affects the timings of the first runs.")
        phases.append(values)
    warmup, measured = phases
    first = warmup[0] if warmup else 0
    warmup_avg = g(statistics.fmean(warmup)) if warmup else "nan"
    print(f"INFO: Inference timings in us: Init: {init_us}, First inference: {first}, Warmup (avg): {warmup_avg}, "
          f"Inference (avg): {g(statistics.fmean(measured)) if measured else 'nan'}")
    if params.get("enable_op_profiling") == "true" and params.get("op_profiling_output_file"):
        with open(str(params["op_profiling_output_file"]), "w") as out:
            out.write(op_profile_csv(runner, statistics.fmean(measured)))
    if style == "old":
        return 0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the "
          "actual memory footprint of the model at runtime. Take the information at your discretion.")
    print(f"INFO: Memory footprint delta from the start of the tool (MB): init={g(rss_mb / 2)} overall={g(rss_mb)}")
    if params.get("report_peak_memory_footprint") == "true":
        print(f"INFO: Overall peak memory footprint (MB) via periodic monitoring: {g(rss_mb)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
