"""Lesson 3, trainer stage: fit the iris pipeline and save it with joblib.

`RUN python model.py` runs this while the image is built; the fitted StandardScaler + SVC
pipeline is saved to model_pipeline.joblib, the one file the predictor stage takes.
"""

import joblib
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

iris = load_iris()
X_train, X_test, y_train, y_test = train_test_split(
    iris.data, iris.target, test_size=0.2, random_state=42
)
pipeline = Pipeline([("scaler", StandardScaler()), ("svc", SVC())])
pipeline.fit(X_train, y_train)
print(f"Test accuracy: {pipeline.score(X_test, y_test):.2f}")

joblib.dump(pipeline, "model_pipeline.joblib")
print("saved model_pipeline.joblib")
