package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.List;

/** The k most likely classes of a logits vector, with softmax probabilities, for the classifier screen. */
public final class TopK {
  /** One prediction: class index, its label and its probability. */
  public static final class Entry {
    public final int index;
    public final String label;
    public final double probability;

    Entry(int index, String label, double probability) {
      this.index = index;
      this.label = label;
      this.probability = probability;
    }

    @Override
    public String toString() {
      return String.format(java.util.Locale.ROOT, "%s (%.1f%%)", label, 100 * probability);
    }
  }

  private TopK() {}

  /** Highest-probability first; ties keep the lower class index first. Labels may be shorter than logits. */
  public static List<Entry> of(float[] logits, List<String> labels, int k) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : logits) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : logits) {
      sum += Math.exp(v - max);
    }
    boolean[] taken = new boolean[logits.length];
    List<Entry> top = new ArrayList<>();
    for (int rank = 0; rank < Math.min(k, logits.length); rank++) {
      int best = -1;
      for (int i = 0; i < logits.length; i++) {
        if (!taken[i] && (best < 0 || logits[i] > logits[best])) {
          best = i;
        }
      }
      taken[best] = true;
      String label = best < labels.size() ? labels.get(best) : "class " + best;
      top.add(new Entry(best, label, Math.exp(logits[best] - max) / sum));
    }
    return top;
  }
}
