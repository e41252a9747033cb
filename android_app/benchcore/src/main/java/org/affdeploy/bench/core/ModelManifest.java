package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The app's assets/models/manifest.json (schema affdeploy.app-assets/v1), written by `affdeploy
 * android-assets`: the labels file and the FILE.model.json of every bundled model, preferred first.
 */
public final class ModelManifest {
  public static final String SCHEMA = "affdeploy.app-assets/v1";

  public final String labelsFile;
  public final List<ModelMeta> models;

  private ModelManifest(String labelsFile, List<ModelMeta> models) {
    this.labelsFile = labelsFile;
    this.models = Collections.unmodifiableList(models);
  }

  /**
   * Parses the manifest text and every metadata file it lists, read with {@code readFile} (a name
   * inside assets/models/); throws IllegalArgumentException saying what is wrong.
   */
  public static ModelManifest parse(String text, Function<String, String> readFile) {
    Map<String, Object> doc = ModelMeta.object(Json.parse(text), "manifest");
    if (!SCHEMA.equals(doc.get("schema"))) {
      throw new IllegalArgumentException(
          "manifest schema is " + doc.get("schema") + ", expected " + SCHEMA + " (re-run `affdeploy android-assets`)");
    }
    Object list = doc.get("models");
    if (!(list instanceof List)) {
      throw new IllegalArgumentException("manifest: 'models' must be a list of metadata file names");
    }
    List<ModelMeta> metas = new ArrayList<>();
    for (Object name : (List<?>) list) {
      if (!(name instanceof String)) {
        throw new IllegalArgumentException("manifest: 'models' must be a list of metadata file names, got " + name);
      }
      metas.add(ModelMeta.parse(readFile.apply((String) name)));
    }
    return new ModelManifest(InputSpec.string(doc, "labels"), metas);
  }

  /** The first entry for {@code model} (its name or id) and {@code target}; the error lists what is bundled instead. */
  public ModelMeta find(String model, String target) {
    List<String> available = new ArrayList<>();
    for (ModelMeta m : models) {
      if ((m.model.equals(model) || m.id.equals(model)) && m.target.equals(target)) {
        return m;
      }
      available.add(m.id + "/" + m.target);
    }
    throw new IllegalArgumentException(
        "no " + target + " file for " + model + " in the app's assets (bundled: " + available
            + "); run `affdeploy export --target " + target + "` and `affdeploy android-assets`");
  }
}
