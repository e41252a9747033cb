package org.affdeploy.bench;

import java.util.Collections;
import java.util.Map;
import org.affdeploy.bench.core.Runner;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * Runs a .pte with the ExecuTorch Android runtime. XNNPACK-delegated and portable programs load the
 * same way: the delegates a program uses are recorded in the .pte itself.
 */
final class ExecuTorchRunner implements Runner {
  private Module module;
  private EValue input;

  @Override
  public void load(String modelPath, int threads, float[] data, long[] shape) {
    // mmap keeps the load time about reading the program, not copying the weights
    module = Module.load(modelPath, Module.LOAD_MODE_MMAP, threads);
    module.loadMethod("forward"); // load now, so the first inference is measured on its own
    input = EValue.from(Tensor.fromBlob(data, shape));
  }

  @Override
  public float[] run() {
    EValue[] outputs = module.forward(input);
    if (outputs.length == 0) {
      throw new IllegalStateException("ExecuTorch returned no outputs (see `adb logcat -s ExecuTorch`)");
    }
    return outputs[0].toTensor().getDataAsFloatArray();
  }

  @Override
  public Map<String, String> versions() {
    return Collections.singletonMap("executorch-android", BuildConfig.EXECUTORCH_VERSION);
  }

  @Override
  public void close() {
    if (module != null) {
      module.destroy();
      module = null;
    }
  }
}
