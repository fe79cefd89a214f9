"""Lesson 3, predictor stage: load the fitted pipeline and classify one hand-made flower."""

import joblib
from sklearn.datasets import load_iris

pipeline = joblib.load("model_pipeline.joblib")
sample = [[5.1, 3.5, 1.4, 0.2]]
predicted = pipeline.predict(sample)[0]
print(f"Predicted class: {load_iris().target_names[predicted]}")
