"""Lesson 3, predictor stage: load the trained model and classify one hand-made flower."""

import joblib
from svm_numpy import predict

model = joblib.load("model_pipeline.joblib")
sample = [[5.1, 3.5, 1.4, 0.2]]
predicted = predict(model, sample)[0]
print(f"Predicted class: {model['class_names'][predicted]}")
