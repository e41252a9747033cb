package org.affdeploy.bench.core;

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
    /** Output of the last timed inference, for sanity checks and top-k display. */
    public final float[] lastOutput;

    Result(double loadMs, double firstInferenceMs, double[] samplesMs, int warmup, long peakRssGrowthBytes, float[] lastOutput) {
      this.loadMs = loadMs;
      this.firstInferenceMs = firstInferenceMs;
      this.samplesMs = samplesMs;
      this.warmup = warmup;
      this.peakRssGrowthBytes = peakRssGrowthBytes;
      this.lastOutput = lastOutput;
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

  /** Runs the protocol of {@code args} on the fixed benchmark input; the caller owns (and closes) the runner. */
  public Result run(Runner runner, BenchmarkArgs args) throws Exception {
    long[] shape = {1, 3, args.imageSize, args.imageSize};
    return run(runner, args.modelPath, args.threads, InputData.deterministic(shape), shape, args.warmup, args.iterations);
  }

  /** Runs the protocol on {@code input} (the classifier screen passes a real picture). */
  public Result run(Runner runner, String modelPath, int threads, float[] input, long[] shape, int warmup, int iterations)
      throws Exception {
    if (iterations < 1 || warmup < 0) {
      throw new IllegalArgumentException("need warmup >= 0 and iterations >= 1, got " + warmup + " and " + iterations);
    }
    long rssBefore = currentRss.getAsLong();

    long start = nanoClock.getAsLong();
    runner.load(modelPath, threads, input, shape);
    double loadMs = elapsedMs(start);

    start = nanoClock.getAsLong();
    float[] output = checkOutput(runner.run());
    double firstMs = elapsedMs(start);

    for (int i = 0; i < warmup; i++) {
      runner.run();
    }
    double[] samples = new double[iterations];
    for (int i = 0; i < iterations; i++) {
      start = nanoClock.getAsLong();
      output = runner.run();
      samples[i] = elapsedMs(start);
    }
    checkOutput(output);

    long peakAfter = peakRss.getAsLong();
    long growth = rssBefore < 0 || peakAfter < 0 ? -1 : Math.max(0, peakAfter - rssBefore);
    return new Result(loadMs, firstMs, samples, warmup, growth, output);
  }

  private double elapsedMs(long startNanos) {
    return (nanoClock.getAsLong() - startNanos) / 1e6;
  }

  /** A model that returns nothing or NaN is broken; timing it would report a meaningless number. */
  private static float[] checkOutput(float[] output) {
    if (output == null || output.length == 0) {
      throw new IllegalStateException("the model returned no output values");
    }
    for (float v : output) {
      if (Float.isNaN(v) || Float.isInfinite(v)) {
        throw new IllegalStateException("the model returned non-finite values (NaN or infinity)");
      }
    }
    return output;
  }
}
