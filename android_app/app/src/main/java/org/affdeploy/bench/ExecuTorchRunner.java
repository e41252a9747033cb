package org.affdeploy.bench;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.affdeploy.bench.core.NamedTensor;
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
  private EValue[] inputs;

  @Override
  public void load(String modelPath, int threads, List<NamedTensor> tensors) {
    // mmap keeps the load time about reading the program, not copying the weights
    module = Module.load(modelPath, Module.LOAD_MODE_MMAP, threads);
    module.loadMethod("forward"); // load now, so the first inference is measured on its own
    inputs = new EValue[tensors.size()];
    for (int i = 0; i < inputs.length; i++) {
      inputs[i] = EValue.from(Tensor.fromBlob(tensors.get(i).data, tensors.get(i).shape));
    }
  }

  @Override
  public float[][] run() {
    EValue[] outputs = module.forward(inputs);
    if (outputs.length == 0) {
      throw new IllegalStateException("ExecuTorch returned no outputs (see `adb logcat -s ExecuTorch`)");
    }
    float[][] values = new float[outputs.length][];
    for (int i = 0; i < outputs.length; i++) {
      values[i] = outputs[i].toTensor().getDataAsFloatArray();
    }
    return values;
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
