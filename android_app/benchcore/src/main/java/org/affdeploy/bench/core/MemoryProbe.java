package org.affdeploy.bench.core;

import java.io.BufferedReader;
import java.io.FileReader;
import java.io.IOException;

/**
 * Resident-set readings of this process from /proc/self/status (Linux and Android alike), so the
 * benchmark reports how much memory loading and running the model added, like TFLite's and ONNX
 * Runtime's tools do.
 */
public final class MemoryProbe {
  private MemoryProbe() {}

  /** Current resident set in bytes, or -1 where /proc is unavailable. */
  public static long currentRssBytes() {
    return statusBytes("VmRSS:");
  }

  /** Peak resident set since the process started, in bytes, or -1 where /proc is unavailable. */
  public static long peakRssBytes() {
    return statusBytes("VmHWM:");
  }

  private static long statusBytes(String field) {
    try (BufferedReader reader = new BufferedReader(new FileReader("/proc/self/status"))) {
      String line;
      while ((line = reader.readLine()) != null) {
        if (line.startsWith(field)) {
          return Long.parseLong(line.substring(field.length()).replace("kB", "").trim()) * 1024;
        }
      }
    } catch (IOException | NumberFormatException ex) {
      return -1;
    }
    return -1;
  }
}
