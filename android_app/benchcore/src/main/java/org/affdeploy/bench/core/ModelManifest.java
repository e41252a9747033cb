package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The app's assets/models/manifest.json, written by `affdeploy android-assets`: which model files
 * are bundled, what they were exported for, and the preprocessing each expects.
 */
public final class ModelManifest {
  public static final String SCHEMA = "affdeploy.android-assets/v1";

  /** One bundled model file. */
  public static final class Entry {
    public final String model;
    public final String target;
    public final String backend;
    public final String fft;
    public final String precision;
    /** File name inside assets/models/. */
    public final String file;
    public final String sha256;
    public final InputSpec input;

    Entry(Map<String, Object> m) {
      model = InputSpec.string(m, "model");
      target = InputSpec.string(m, "target");
      backend = InputSpec.string(m, "backend");
      fft = InputSpec.string(m, "fft");
      precision = InputSpec.string(m, "precision");
      file = InputSpec.string(m, "file");
      sha256 = InputSpec.string(m, "sha256");
      input = InputSpec.fromMap(object(m.get("input"), "input"));
    }
  }

  public final String labelsFile;
  public final List<Entry> models;

  private ModelManifest(String labelsFile, List<Entry> models) {
    this.labelsFile = labelsFile;
    this.models = Collections.unmodifiableList(models);
  }

  /** Parses the manifest text; throws IllegalArgumentException saying what is wrong with it. */
  public static ModelManifest parse(String text) {
    Map<String, Object> doc = object(Json.parse(text), "manifest");
    if (!SCHEMA.equals(doc.get("schema"))) {
      throw new IllegalArgumentException(
          "manifest schema is " + doc.get("schema") + ", expected " + SCHEMA + " (re-run `affdeploy android-assets`)");
    }
    Object list = doc.get("models");
    if (!(list instanceof List)) {
      throw new IllegalArgumentException("manifest: 'models' must be a list");
    }
    List<Entry> entries = new ArrayList<>();
    for (Object item : (List<?>) list) {
      entries.add(new Entry(object(item, "model entry")));
    }
    return new ModelManifest(InputSpec.string(doc, "labels"), entries);
  }

  /** The first entry for {@code model} and {@code target}; the error lists what is bundled instead. */
  public Entry find(String model, String target) {
    List<String> available = new ArrayList<>();
    for (Entry e : models) {
      if (e.model.equals(model) && e.target.equals(target)) {
        return e;
      }
      available.add(e.model + "/" + e.target);
    }
    throw new IllegalArgumentException(
        "no " + target + " file for " + model + " in the app's assets (bundled: " + available
            + "); run `affdeploy export --target " + target + "` and `affdeploy android-assets`");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> object(Object value, String what) {
    if (!(value instanceof Map)) {
      throw new IllegalArgumentException("manifest: " + what + " must be a JSON object");
    }
    return (Map<String, Object>) value;
  }
}
