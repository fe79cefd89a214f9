"""parse_lab_output on what the lab images really printed (tests/recordings/runs/*.txt).

Re-record with `python tests/recordings/runs/record.py`. The extra report shapes come from the
installed scikit-learn itself (the version the labs pin), not from hand-typed text.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dashboard.engine.catalog.lab_output import (
    ClassificationReport,
    LabOutput,
    Prediction,
    ReportRow,
    parse_lab_output,
    strip_prefix,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "runs"


def recorded(name: str) -> list[str]:
    return (RECORDINGS / name).read_text().splitlines()


def test_iris_report_rows_and_averages():
    out = parse_lab_output(recorded("iris.txt"))
    report = out.report
    assert isinstance(report, ClassificationReport)
    assert report.labels == ["setosa", "versicolor", "virginica"]
    assert report.row("setosa") == ReportRow("setosa", 1.0, 1.0, 1.0, 10)
    assert report.row("versicolor").support == 9
    assert report.row("virginica").support == 11
    assert report.row("no-such-class") is None
    assert report.accuracy == 1.0
    assert report.accuracy_support == 30
    assert report.macro_avg == ReportRow("macro avg", 1.0, 1.0, 1.0, 30)
    assert report.weighted_avg == report.average("weighted avg")
    assert [r.label for r in report.averages] == ["macro avg", "weighted avg"]


def test_iris_accuracy_line_and_prediction():
    out = parse_lab_output(recorded("iris.txt"))
    assert out.accuracy == 1.0
    assert out.best_accuracy == 1.0
    assert out.predictions == (Prediction("setosa"),)
    assert out.predicted_class == "setosa"
    assert out.predictions[0].correct is None  # the iris lab does not print the true class
    assert out.other == ()
    assert not out.empty


def test_multistage_predictor_prints_only_the_class():
    out = parse_lab_output(recorded("multistage-predict.txt"))
    assert out.report is None
    assert out.predicted_class == "setosa"
    assert out.best_accuracy is None
    assert out.other == ()


def test_multistage_trainer():
    out = parse_lab_output(recorded("multistage-train.txt"))
    assert out.test_accuracy == 1.0
    assert out.model_saved_to == "model_pipeline.joblib"
    assert out.predictions == ()


def test_wine_trainer():
    out = parse_lab_output(recorded("wine-train.txt"))
    assert out.training_samples == 142
    assert out.test_accuracy == 1.0
    assert out.best_accuracy == 1.0
    assert out.model_saved_to == "/shared/model_pipeline.joblib"
    assert out.other == ("Taking 2 s more, as a long training would.",)


def test_wine_predictor_waits_then_predicts_each_cultivar():
    out = parse_lab_output(recorded("wine-predict.txt"))
    assert out.waits == 3
    assert out.model_loaded_from == "/shared/model_pipeline.joblib"
    assert [(p.index, p.label, p.actual) for p in out.predictions] == [
        (0, "class_0", "class_0"),
        (70, "class_1", "class_1"),
        (140, "class_2", "class_2"),
    ]
    assert all(p.correct for p in out.predictions)
    assert {p.sample for p in out.predictions} == {"Wine"}


def test_compose_prefixes_are_ignored():
    # `docker compose up` prints "service-1  | " before each line of the same programs.
    lines = [f"trainer-1    | {x}" for x in recorded("wine-train.txt")]
    lines += [f"predictor-1  | {x}" for x in recorded("wine-predict.txt")]
    out = parse_lab_output(lines)
    assert out.test_accuracy == 1.0
    assert len(out.predictions) == 3
    assert out.waits == 3
    assert strip_prefix("predictor-1  | Wine #0: x") == "Wine #0: x"


def test_a_wrong_prediction_is_not_correct():
    line = recorded("wine-predict.txt")[-1].replace("(actual class_2)", "(actual class_1)")
    (prediction,) = parse_lab_output([line]).predictions
    assert prediction.correct is False


def test_nothing_recognisable():
    out = parse_lab_output(["", "hello", "   "])
    assert out == LabOutput(other=("hello",))
    assert out.empty
    assert parse_lab_output([]).empty


def test_all_lab_outputs_together():
    lines = []
    for name in ["iris.txt", "multistage-predict.txt", "wine-predict.txt"]:
        lines += recorded(name)
    out = parse_lab_output(lines)
    assert out.report.accuracy == 1.0
    assert [p.label for p in out.predictions][:2] == ["setosa", "setosa"]
    assert len(out.predictions) == 5


# Other shapes of the same report, produced by the scikit-learn the labs use.
def sklearn_metrics():
    return pytest.importorskip("sklearn.metrics")


def test_report_with_spaces_in_labels_and_more_digits():
    text = sklearn_metrics().classification_report(
        [0, 0, 1, 1, 2, 2, 2],
        [0, 1, 1, 1, 2, 0, 2],
        target_names=["class zero", "class one", "class two"],
        digits=4,
    )
    report = parse_lab_output(text.splitlines()).report
    assert report.labels == ["class zero", "class one", "class two"]
    assert report.row("class one") == ReportRow("class one", 0.6667, 1.0, 0.8, 2)
    assert report.accuracy == pytest.approx(0.7143)
    assert report.accuracy_support == 7


def test_report_without_accuracy_row_has_micro_avg():
    # With labels= a subset of the classes, sklearn prints "micro avg" instead of "accuracy".
    text = sklearn_metrics().classification_report([0, 1, 2, 2], [0, 2, 2, 1], labels=[0, 1])
    report = parse_lab_output(text.splitlines()).report
    assert report.labels == ["0", "1"]
    assert report.accuracy is None
    assert report.average("micro") is not None
    assert report.average("micro").support == 2


def test_report_with_nan_values():
    text = sklearn_metrics().classification_report([0, 0, 1], [0, 0, 0], zero_division=float("nan"))
    report = parse_lab_output(text.splitlines()).report
    assert math.isnan(report.row("1").precision)
    assert report.row("0").support == 2
