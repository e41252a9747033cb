package org.affdeploy.bench;

import org.affdeploy.bench.core.Runner;

/** Maps the benchmark's backend names to the runtime that executes them. */
final class Runners {
  private Runners() {}

  /** A fresh runner for {@code backend} (one of BenchmarkArgs.BACKENDS). */
  static Runner create(String backend) {
    switch (backend) {
      case "xnnpack":
      case "portable":
        return new ExecuTorchRunner();
      case "ort":
        return new OrtRunner(false);
      case "ort-nnapi":
        return new OrtRunner(true);
      case "litert":
        return new LiteRtRunner();
      default:
        throw new IllegalArgumentException("no runner for backend '" + backend + "'");
    }
  }
}
