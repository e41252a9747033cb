package org.affdeploy.bench.core;

import java.util.Collections;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The measurement protocol shared with the host engine: load (timed), first inference (timed on
 * its own, it includes lazy initialisation), untimed warm-up, then timed iterations one sample each.
 *
 * <p>Clock and memory readings are injected so tests can drive the loop deterministically.
 */
public final class BenchmarkLoop {
  private final LongSupplier nanoClock;
  private final LongSupplier currentRss;
  private final LongSupplier peakRss;

  /** What one run measured; raw samples are kept so statistics can be recomputed later. */
  public static final class Result {
    public final double loadMs;
    public final double firstInferenceMs;
    public final double[] samplesMs;
    public final int warmup;
    /** Peak resident set after the run minus the resident set before loading, or -1 if unknown. */
    public final long peakRssGrowthBytes;
    /** Every output of the last timed inference, for sanity checks and top-k display. */
    public final float[][] lastOutputs;

    Result(double loadMs, double firstInferenceMs, double[] samplesMs, int warmup, long peakRssGrowthBytes, float[][] lastOutputs) {
      this.loadMs = loadMs;
      this.firstInferenceMs = firstInferenceMs;
      this.samplesMs = samplesMs;
      this.warmup = warmup;
      this.peakRssGrowthBytes = peakRssGrowthBytes;
      this.lastOutputs = lastOutputs;
    }
  }

  public BenchmarkLoop(LongSupplier nanoClock, LongSupplier currentRss, LongSupplier peakRss) {
    this.nanoClock = nanoClock;
    this.currentRss = currentRss;
    this.peakRss = peakRss;
  }

  /** The loop as it runs on a device: System.nanoTime and /proc/self/status. */
  public static BenchmarkLoop onThisProcess() {
    return new BenchmarkLoop(System::nanoTime, MemoryProbe::currentRssBytes, MemoryProbe::peakRssBytes);
  }

  /** Runs the protocol of {@code args} on AFFNet's fixed benchmark picture; the caller owns (and closes) the runner. */
  public Result run(Runner runner, BenchmarkArgs args) throws Exception {
    long[] shape = {1, 3, args.imageSize, args.imageSize};
    return run(runner, args, Collections.singletonList(new NamedTensor("image", InputData.deterministic(shape), shape)));
  }

  /** Runs the protocol of {@code args} on {@code inputs} (a tensor model's, from its ModelMeta). */
  public Result run(Runner runner, BenchmarkArgs args, List<NamedTensor> inputs) throws Exception {
    return run(runner, args.modelPath, args.threads, inputs, args.warmup, args.iterations);
  }

  /** Runs the protocol on {@code inputs} (the classifier screen passes a real picture). */
  public Result run(Runner runner, String modelPath, int threads, List<NamedTensor> inputs, int warmup, int iterations)
      throws Exception {
    if (iterations < 1 || warmup < 0) {
      throw new IllegalArgumentException("need warmup >= 0 and iterations >= 1, got " + warmup + " and " + iterations);
    }
    long rssBefore = currentRss.getAsLong();

    long start = nanoClock.getAsLong();
    runner.load(modelPath, threads, inputs);
    double loadMs = elapsedMs(start);

    start = nanoClock.getAsLong();
    float[][] outputs = checkOutputs(runner.run());
    double firstMs = elapsedMs(start);

    for (int i = 0; i < warmup; i++) {
      runner.run();
    }
    double[] samples = new double[iterations];
    for (int i = 0; i < iterations; i++) {
      start = nanoClock.getAsLong();
      outputs = runner.run();
      samples[i] = elapsedMs(start);
    }
    checkOutputs(outputs);

    long peakAfter = peakRss.getAsLong();
    long growth = rssBefore < 0 || peakAfter < 0 ? -1 : Math.max(0, peakAfter - rssBefore);
    return new Result(loadMs, firstMs, samples, warmup, growth, outputs);
  }

  private double elapsedMs(long startNanos) {
    return (nanoClock.getAsLong() - startNanos) / 1e6;
  }

  /** A model that returns nothing or NaN is broken; timing it would report a meaningless number. */
  private static float[][] checkOutputs(float[][] outputs) {
    if (outputs == null || outputs.length == 0) {
      throw new IllegalStateException("the model returned no outputs");
    }
    for (int i = 0; i < outputs.length; i++) {
      if (outputs[i] == null || outputs[i].length == 0) {
        throw new IllegalStateException("the model's output " + i + " holds no values");
      }
      for (float v : outputs[i]) {
        if (Float.isNaN(v) || Float.isInfinite(v)) {
          throw new IllegalStateException("the model's output " + i + " holds non-finite values (NaN or infinity)");
        }
      }
    }
    return outputs;
  }
}
