"""Lesson 4, predictor service: wait for the trainer's model, then classify a few wines."""

import os
import time
from pathlib import Path

import joblib
from sklearn.datasets import load_wine

SHARED = Path(os.environ.get("SHARED_DIR", "/shared"))
MODEL = SHARED / "model_pipeline.joblib"
POLL = float(os.environ.get("POLL_SECONDS", "15"))

while not MODEL.exists():
    print(f"Model not found in {SHARED}, checking again in {POLL:g} s...", flush=True)
    time.sleep(POLL)

print(f"Found {MODEL}, loading it.", flush=True)
pipeline = joblib.load(MODEL)

wine = load_wine()
samples = [0, 70, 140]  # one wine of each cultivar, from the data set itself
predicted = pipeline.predict(wine.data[samples])
for row, label in zip(samples, predicted, strict=True):
    print(
        f"Wine #{row}: predicted {wine.target_names[label]} "
        f"(actual {wine.target_names[wine.target[row]]})",
        flush=True,
    )
