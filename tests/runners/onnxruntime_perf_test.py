"""A host stand-in for ONNX Runtime's ``onnxruntime_perf_test``, pushed to the loopback phone like the real binary.

It accepts the real tool's getopt command line for what affdeploy uses (``-m times -r N -x T -e cpu
[-f dim_param:value ...] -I <model> [result_file]``), runs one warm-up inference and N measured
ones with the onnxruntime Python package on generated inputs, prints the real tool's stdout summary
lines and appends the real per-run CSV lines (``model_name,seconds,peak_working_set,cpu_usage,
run_index``) to the result file, as onnxruntime/test/perftest/performance_runner.cc does.
Like ort_test_session.cc's PopulateGeneratedInputTestData, -I makes a tensor of its own element
type for every input, and a free (symbolic) dim is 1 unless -f overrides it by its dim_param name.
``-p <name>`` turns the session's profiler on with that file prefix (test/perftest/ort_test_session.cc:
SessionOptions EnableProfiling), so onnxruntime itself writes ``<name>_<date>_<time>.json``.
"""

from __future__ import annotations

import getopt
import os
import resource
import sys
import time

ELEMENT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                 "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


def main(argv: list[str]) -> int:
    try:
        opts, args = getopt.getopt(argv, "m:r:x:y:e:t:IsvS:o:f:p:")
    except getopt.GetoptError as exc:
        print(f"{exc}\nSee 'onnxruntime_perf_test --help'.", file=sys.stderr)
        return 255
    options = dict(opts)
    if not args or options.get("-m", "duration") != "times" or options.get("-e", "cpu") != "cpu":
        print("See 'onnxruntime_perf_test --help'.", file=sys.stderr)
        return 255
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(options.get("-x", "0"))
    if "-p" in options:
        so.enable_profiling = True
        so.profile_file_prefix = options["-p"]
    free = dict(value.split(":", 1) for flag, value in opts if flag == "-f")
    for name, size in free.items():
        so.add_free_dimension_override_by_name(name, int(size))
    created = time.perf_counter()
    session = ort.InferenceSession(args[0], so, providers=["CPUExecutionProvider"])
    creation_s = time.perf_counter() - created
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random([d if isinstance(d, int) else 1 for d in i.shape]).astype(ELEMENT_TYPES[i.type])
             for i in session.get_inputs()}
    start = time.perf_counter()
    session.run(None, feeds)
    first_ms = int((time.perf_counter() - start) * 1000)
    costs = []
    begin = time.perf_counter()
    for _ in range(int(options.get("-r", "1000"))):
        start = time.perf_counter()
        session.run(None, feeds)
        costs.append(time.perf_counter() - start)
    wall = time.perf_counter() - begin
    if "-p" in options:
        session.end_profiling()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"Session creation time cost: {creation_s:g} s")
    print(f"First inference time cost: {first_ms} ms")
    print(f"Total inference time cost: {sum(costs):g} s")
    print(f"Total inference requests: {len(costs)}")
    print(f"Average inference time cost: {sum(costs) / len(costs) * 1000:g} ms")
    print(f"Total inference run time: {wall:g} s")
    print(f"Number of inferences per second: {len(costs) / wall:g} ")
    print("Avg CPU usage: 50 %")
    print(f"Peak working set size: {peak} bytes")
    if len(args) > 1:
        name = os.path.basename(os.path.dirname(os.path.abspath(args[0])))
        with open(args[1], "a") as out:
            for run, cost in enumerate(costs):
                out.write(f"{name},{cost:g},{peak},50,{run}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
