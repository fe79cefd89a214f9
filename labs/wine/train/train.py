"""Lesson 4, trainer service: fit a wine classifier and save it to the shared volume."""

import os
import time
from pathlib import Path

import joblib
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SHARED = Path(os.environ.get("SHARED_DIR", "/shared"))
MODEL = SHARED / "model_pipeline.joblib"
# The lecture adds a pause so that the predictor's waiting is visible in the logs.
DELAY = float(os.environ.get("TRAIN_DELAY_SECONDS", "0"))

wine = load_wine()
X_train, X_test, y_train, y_test = train_test_split(
    wine.data, wine.target, test_size=0.2, random_state=42
)
print(f"Training on {len(X_train)} wines...", flush=True)
if DELAY:
    print(f"Taking {DELAY:g} s more, as a long training would.", flush=True)
    time.sleep(DELAY)

pipeline = Pipeline(
    [("scaler", StandardScaler()), ("forest", RandomForestClassifier(random_state=42))]
)
pipeline.fit(X_train, y_train)
print(f"Test accuracy: {pipeline.score(X_test, y_test):.2f}", flush=True)

SHARED.mkdir(parents=True, exist_ok=True)
# Write under a temporary name, then rename: the predictor never sees half a file.
partial = MODEL.with_suffix(".partial")
joblib.dump(pipeline, partial)
partial.replace(MODEL)
print(f"Model saved to {MODEL}", flush=True)
