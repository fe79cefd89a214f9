"""Lesson 3, trainer stage: fit the iris pipeline and save what the predictor needs.

The fitted StandardScaler + SVC pipeline is exported as plain NumPy arrays, so the predictor
stage can serve it with NumPy alone, without scikit-learn and SciPy. Before saving, the export
is checked against scikit-learn on the test set: if they disagree, this script (and so the
`RUN python model.py` build step) fails.
"""

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from svm_numpy import predict

iris = load_iris()
X_train, X_test, y_train, y_test = train_test_split(
    iris.data, iris.target, test_size=0.2, random_state=42
)
pipeline = Pipeline([("scaler", StandardScaler()), ("svc", SVC())])
pipeline.fit(X_train, y_train)

scaler, svc = pipeline.named_steps["scaler"], pipeline.named_steps["svc"]
model = {
    "mean": scaler.mean_,
    "scale": scaler.scale_,
    "support_vectors": svc.support_vectors_,
    "n_support": svc.n_support_,
    "dual_coef": svc.dual_coef_,
    "intercept": svc.intercept_,
    "gamma": float(svc._gamma),
    "classes": svc.classes_,
    "class_names": np.array(iris.target_names),
}

expected = pipeline.predict(X_test)
assert np.array_equal(predict(model, X_test), expected), "NumPy export disagrees with sklearn"
print(f"Test accuracy: {(expected == y_test).mean():.2f}")

joblib.dump(model, "model_pipeline.joblib")
print("saved model_pipeline.joblib")
