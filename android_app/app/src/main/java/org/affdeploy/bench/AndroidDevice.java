package org.affdeploy.bench;

import android.app.ActivityManager;
import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.BatteryManager;
import android.os.Build;
import android.os.PowerManager;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.affdeploy.bench.core.DeviceDescription;

/**
 * Fills the result's "device" object from what an app may read without special permissions.
 * The serial number is not readable by apps since Android 10; `affdeploy bench` adds it from adb.
 */
final class AndroidDevice {
  private AndroidDevice() {}

  static DeviceDescription describe(Context context) {
    DeviceDescription d = new DeviceDescription();
    d.name = Build.MODEL;
    d.model = Build.MODEL;
    d.manufacturer = Build.MANUFACTURER;
    d.soc = Build.VERSION.SDK_INT >= Build.VERSION_CODES.S ? Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL : Build.HARDWARE;
    d.abi = Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : "";
    d.os = "Android " + Build.VERSION.RELEASE;
    d.cpu = Build.HARDWARE;
    d.cores = Runtime.getRuntime().availableProcessors();
    ActivityManager.MemoryInfo memory = new ActivityManager.MemoryInfo();
    context.getSystemService(ActivityManager.class).getMemoryInfo(memory);
    d.memoryBytes = memory.totalMem;

    d.extra.put("sdk_int", Build.VERSION.SDK_INT);
    d.extra.put("fingerprint", Build.FINGERPRINT);
    d.extra.put("cpu_max_freq_khz", maxFrequencies(d.cores));
    Intent battery = context.registerReceiver(null, new IntentFilter(Intent.ACTION_BATTERY_CHANGED));
    if (battery != null && battery.hasExtra(BatteryManager.EXTRA_TEMPERATURE)) {
      d.extra.put("battery_temp_c", battery.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, 0) / 10.0);
    }
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
      // 0 = none ... 6 = shutdown; anything above 0 means the SoC is already being throttled
      d.extra.put("thermal_status", context.getSystemService(PowerManager.class).getCurrentThermalStatus());
    }
    return d;
  }

  /** Per-core maximum frequency; the big cores are the ones with the highest value. */
  private static List<Long> maxFrequencies(int cores) {
    List<Long> khz = new ArrayList<>();
    for (int cpu = 0; cpu < cores; cpu++) {
      try {
        String text = new String(
            Files.readAllBytes(Paths.get("/sys/devices/system/cpu/cpu" + cpu + "/cpufreq/cpuinfo_max_freq")),
            StandardCharsets.US_ASCII);
        khz.add(Long.parseLong(text.trim()));
      } catch (IOException | NumberFormatException | SecurityException ex) {
        khz.add(-1L); // offline core, or the vendor hides cpufreq from apps
      }
    }
    return khz;
  }
}
