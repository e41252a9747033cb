"""A NumPy reference interpreter for Core ML ML Programs: Core ML numerics checked on any OS.

coremltools converts on Linux but predicts only on macOS. The converted program itself is
readable anywhere, so this package executes it op by op from the MIL op definitions: it checks
the program's math (every op, weight and cast the converter wrote), not the Core ML runtime, nor
GPU or Neural Engine precision, which only a device shows.

    model = ReferenceModel("affnet-t.mlpackage")
    out = model.predict({"image": pil_image})   # {"classLabel": ..., "classLabel_probs": {...}}
"""

from affdeploy.coreml_reference.errors import MilReferenceError, ProgramError, UnsupportedOpError
from affdeploy.coreml_reference.model import ReferenceModel, image_tensor
from affdeploy.coreml_reference.program import MilProgram
from affdeploy.coreml_reference.registry import supported_ops

ENGINE = "mil-reference"
"""How parity records name this checker."""

__all__ = ["ENGINE", "MilProgram", "MilReferenceError", "ProgramError", "ReferenceModel", "UnsupportedOpError",
           "image_tensor", "supported_ops"]
