"""Lesson 3 (slim), predictor stage: classify one hand-made flower with onnxruntime alone."""

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model_pipeline.onnx", providers=["CPUExecutionProvider"])
class_names = session.get_modelmeta().custom_metadata_map["class_names"].split(",")
sample = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
label = session.run(None, {session.get_inputs()[0].name: sample})[0][0]  # the first output: labels
print(f"Predicted class: {class_names[label]}")
