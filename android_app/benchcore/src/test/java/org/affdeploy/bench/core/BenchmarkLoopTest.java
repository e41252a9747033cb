package org.affdeploy.bench.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;

import java.util.HashMap;
import java.util.Map;
import org.junit.Test;

public class BenchmarkLoopTest {
  private static BenchmarkArgs args(int warmup, int iterations) {
    Map<String, String> extras = new HashMap<>();
    extras.put("model_path", "/data/local/tmp/affdeploy/affnet-t.pte");
    extras.put("warmup", String.valueOf(warmup));
    extras.put("iterations", String.valueOf(iterations));
    extras.put("threads", "2");
    extras.put("image_size", "64");
    return BenchmarkArgs.parse(extras);
  }

  @Test
  public void loopTimesLoadFirstRunAndEachIteration() throws Exception {
    // load 100 ms; first run 50 ms; 3 warm-up runs of 9 ms; then 10, 11, 12 ms
    FakeRunner runner = new FakeRunner(100_000_000L, 50_000_000L, 9_000_000L, 9_000_000L, 9_000_000L,
        10_000_000L, 11_000_000L, 12_000_000L);
    BenchmarkLoop.Result result = runner.loop(1000, 5000).run(runner, args(3, 3));
    assertEquals(1, runner.loads);
    assertEquals(1 + 3 + 3, runner.runs);
    assertEquals("/data/local/tmp/affdeploy/affnet-t.pte", runner.loadedPath);
    assertEquals(2, runner.loadedThreads);
    assertArrayEquals(new long[] {1, 3, 64, 64}, runner.loadedShape);
    assertEquals(100.0, result.loadMs, 1e-9);
    assertEquals(50.0, result.firstInferenceMs, 1e-9);
    assertArrayEquals(new double[] {10.0, 11.0, 12.0}, result.samplesMs, 1e-9);
    assertEquals(3, result.warmup);
    assertEquals(4000, result.peakRssGrowthBytes);
    assertEquals(3, result.lastOutputs[0].length);
  }

  @Test
  public void unknownMemoryIsReportedAsUnknown() throws Exception {
    FakeRunner runner = new FakeRunner(1, 1);
    assertEquals(-1, runner.loop(-1, 5000).run(runner, args(0, 1)).peakRssGrowthBytes);
  }

  @Test
  public void nonFiniteOutputFailsTheRun() {
    FakeRunner runner = new FakeRunner(1, 1);
    runner.outputs = new float[][] {{1f}, {1f, Float.NaN}};
    IllegalStateException error = assertThrows(IllegalStateException.class, () -> runner.loop(0, 0).run(runner, args(0, 1)));
    assertEquals("the model's output 1 holds non-finite values (NaN or infinity)", error.getMessage());
    assertEquals(1, runner.runs); // stopped right after the first inference
  }

  @Test
  public void realClockAndProcMemoryOnLinux() throws Exception {
    assumeTrue(new File("/proc/self/status").canRead()); // Linux and Android only
    long rss = MemoryProbe.currentRssBytes();
    assertTrue(rss > 0);
    assertTrue(MemoryProbe.peakRssBytes() >= rss);
    FakeRunner runner = new FakeRunner(0, 0);
    BenchmarkLoop.Result result = BenchmarkLoop.onThisProcess().run(runner, args(1, 5));
    assertEquals(5, result.samplesMs.length);
    for (double ms : result.samplesMs) {
      assertTrue(ms >= 0 && ms < 1000);
    }
    assertTrue(result.peakRssGrowthBytes >= 0);
  }
}
