"""labs/iris-onnx on the host: the trainer's check that the ONNX model predicts what scikit-learn
predicts, and a predictor that runs without scikit-learn and SciPy.

The host has the lab's libraries (requirements.txt pins skl2onnx, onnx and onnxruntime as the lab
does). The lab has no switch to make the check fail; the tests hand it a different model.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

LAB = Path(__file__).resolve().parents[2] / "labs" / "iris-onnx"


@pytest.fixture(scope="module")
def model():
    spec = importlib.util.spec_from_file_location("iris_onnx_model", LAB / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the functions; main() runs only as a script
    return module


@pytest.fixture(scope="module")
def trained(model):
    return model.train()


def test_the_converted_pipeline_predicts_what_scikit_learn_predicts(model, trained):
    pipeline, X_test, _, names = trained
    onnx_model = model.convert(pipeline, X_test, names)
    model.check_same_predictions(onnx_model.SerializeToString(), pipeline, X_test)
    assert {p.key: p.value for p in onnx_model.metadata_props} == {
        "class_names": "setosa,versicolor,virginica"
    }


def test_the_check_fails_when_the_onnx_model_disagrees(model, trained):
    from sklearn.base import clone

    pipeline, X_test, _, names = trained
    # A model of a pipeline that predicts the next class for every test flower.
    other = clone(pipeline).fit(X_test, (pipeline.predict(X_test) + 1) % 3)
    wrong = model.convert(other, X_test, names).SerializeToString()
    assert not np.array_equal(model.onnx_predict(wrong, X_test), pipeline.predict(X_test))
    with pytest.raises(ValueError, match="disagrees with scikit-learn on 30 of 30 test flowers"):
        model.check_same_predictions(wrong, pipeline, X_test)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_disagreeing_model_stops_the_script_before_it_saves(tmp_path):
    """What `RUN python model.py` sees: a non-zero exit, the reason, and no model file."""
    done = _python(
        f"import sys; sys.path.insert(0, {str(LAB)!r})\n"
        "import model\n"
        "from sklearn.base import clone\n"
        "real = model.convert\n"
        "def convert(pipeline, X, names):\n"
        "    return real(clone(pipeline).fit(X, (pipeline.predict(X) + 1) % 3), X, names)\n"
        "model.convert = convert\n"
        "model.main()\n",
        tmp_path,
    )
    assert done.returncode != 0
    assert "ValueError: The ONNX model disagrees with scikit-learn" in done.stderr
    assert not (tmp_path / "model_pipeline.onnx").exists()


def test_the_script_saves_the_model_and_the_predictor_needs_no_sklearn(tmp_path):
    done = subprocess.run(
        [sys.executable, str(LAB / "model.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Test accuracy: 1.00",
        "ONNX predictions match scikit-learn on all 30 test flowers",
        "saved model_pipeline.onnx",
    ]
    assert done.stderr == ""  # no warning in the build log
    # predict.py with scikit-learn and SciPy made unimportable, as in the predictor stage
    blocked = _python(
        "import sys\n"
        "for name in ('sklearn', 'scipy', 'skl2onnx', 'onnx', 'joblib'):\n"
        "    sys.modules[name] = None\n"
        f"exec(open({str(LAB / 'predict.py')!r}).read())\n",
        tmp_path,
    )
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout == "Predicted class: setosa\n"
