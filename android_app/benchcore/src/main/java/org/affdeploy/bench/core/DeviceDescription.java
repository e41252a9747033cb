package org.affdeploy.bench.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** The result schema's "device" object; the Android app fills it from android.os.Build and /proc. */
public final class DeviceDescription {
  public String kind = "android";
  public String name = "";
  public String model = "";
  public String manufacturer = "";
  public String serial = "";
  public String soc = "";
  public String abi = "";
  public String os = "";
  public String cpu = "";
  public int cores;
  public long memoryBytes;
  /** Free-form facts (clusters, thermal state, SDK level); values must be JSON-writable. */
  public final Map<String, Object> extra = new LinkedHashMap<>();

  /** The schema's "device" object, keys in schema order. */
  public Map<String, Object> toMap() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("kind", kind);
    map.put("name", name);
    map.put("model", model);
    map.put("manufacturer", manufacturer);
    map.put("serial", serial);
    map.put("soc", soc);
    map.put("abi", abi);
    map.put("os", os);
    map.put("cpu", cpu);
    map.put("cores", cores);
    map.put("memory_bytes", memoryBytes);
    map.put("extra", extra);
    return map;
  }
}
