"""Lesson 1: train an iris classifier, report how good it is, predict one flower.

Runs the same way on a laptop and in the container: `python main.py`.
"""

from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, classification_report
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

y_pred = pipeline.predict(X_test)
print(classification_report(y_test, y_pred, target_names=iris.target_names))
print(f"Accuracy: {accuracy_score(y_test, y_pred):.2f}")

# One hand-made flower: short, narrow petals are the mark of a setosa.
sample = [[5.1, 3.5, 1.4, 0.2]]
predicted = pipeline.predict(sample)[0]
print(f"Predicted class: {iris.target_names[predicted]}")
