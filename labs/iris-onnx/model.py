"""Lesson 3 (slim), trainer stage: fit the iris pipeline, convert it to ONNX, check, save.

The pipeline is the lesson's StandardScaler + SVC. skl2onnx converts the fitted pipeline into
an ONNX graph that onnxruntime can run without scikit-learn. Before saving, the ONNX model's
predictions on the test set are compared with the pipeline's: if they differ, this script (and
so the `RUN python model.py` build step) fails.
"""

import warnings

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

MODEL_FILE = "model_pipeline.onnx"


def train():
    """The fitted pipeline, the test set and the class names."""
    iris = load_iris()
    X_train, X_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.2, random_state=42
    )
    pipeline = Pipeline([("scaler", StandardScaler()), ("svc", SVC())])
    pipeline.fit(X_train, y_train)
    return pipeline, X_test, y_test, list(iris.target_names)


def convert(pipeline, X, class_names):
    """The pipeline as an ONNX model (float32 input), with the class names in its metadata."""
    with warnings.catch_warnings():
        # skl2onnx 1.20 reads SVC.probA_/probB_, deprecated in scikit-learn 1.9; unused here.
        warnings.simplefilter("ignore", FutureWarning)
        onnx_model = to_onnx(pipeline, X[:1].astype(np.float32))
    entry = onnx_model.metadata_props.add()
    entry.key, entry.value = "class_names", ",".join(class_names)
    return onnx_model


def onnx_predict(model_bytes, X):
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.asarray(X, dtype=np.float32)})[0]  # outputs: label, scores


def check_same_predictions(model_bytes, pipeline, X):
    """Raise ValueError unless the ONNX model predicts what the pipeline predicts on X."""
    expected = pipeline.predict(X)
    got = onnx_predict(model_bytes, X)
    wrong = int((got != expected).sum())
    if wrong:
        raise ValueError(
            f"The ONNX model disagrees with scikit-learn on {wrong} of {len(X)} test flowers"
        )


def main():
    pipeline, X_test, y_test, class_names = train()
    print(f"Test accuracy: {pipeline.score(X_test, y_test):.2f}")
    model_bytes = convert(pipeline, X_test, class_names).SerializeToString()
    check_same_predictions(model_bytes, pipeline, X_test)
    print(f"ONNX predictions match scikit-learn on all {len(X_test)} test flowers")
    with open(MODEL_FILE, "wb") as f:
        f.write(model_bytes)
    print(f"saved {MODEL_FILE}")


if __name__ == "__main__":
    main()
