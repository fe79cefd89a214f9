"""What the labs print, as data: the classification report, accuracies and predictions.

The labs print plain text (labs/iris/main.py, labs/iris-multistage/model.py and predict.py,
labs/wine/train/train.py and predict/predict.py). `parse_lab_output(lines)` reads any of them,
or a mix (Compose prefixes each line with "service-1  | ", which is ignored), so the UI can show
a table and a metric instead of a wall of text. Lines it does not understand are kept in
`LabOutput.other`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

_NUM = r"(\d+(?:\.\d+)?|nan)"
_HEADER = re.compile(r"^\s*precision\s+recall\s+f1-score\s+support\s*$")
_ROW = re.compile(rf"^\s*(?P<label>\S.*?)\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+(?P<support>\d+)\s*$")
_ACCURACY_ROW = re.compile(rf"^\s*accuracy\s+{_NUM}\s+(?P<support>\d+)\s*$")
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s+\|\s?")

_ACCURACY = re.compile(rf"^Accuracy:\s*{_NUM}\s*$")
_TEST_ACCURACY = re.compile(rf"^Test accuracy:\s*{_NUM}\s*$")
_PREDICTED_CLASS = re.compile(r"^Predicted class:\s*(?P<label>.+?)\s*$")
_SAMPLE_PREDICTION = re.compile(
    r"^(?P<sample>.+?)\s*#(?P<index>\d+):\s*predicted\s+(?P<label>.+?)"
    r"(?:\s+\(actual\s+(?P<actual>.+?)\))?\s*$"
)
_MODEL_SAVED = re.compile(r"^(?:Model saved to|saved)\s+(?P<path>\S.*?)\s*$")
_TRAINING_ON = re.compile(r"^Training on (?P<count>\d+) \w+")
_MODEL_MISSING = re.compile(r"^Model not found in (?P<folder>\S+), checking again")
_MODEL_FOUND = re.compile(r"^Found (?P<path>\S+), loading it")


@dataclass(frozen=True)
class ReportRow:
    """One row of sklearn's classification_report: a class, or an average."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationReport:
    rows: tuple[ReportRow, ...]  # one per class, in printed order
    averages: tuple[ReportRow, ...] = ()  # "macro avg", "weighted avg" (and micro/samples)
    accuracy: float | None = None  # the "accuracy" row (absent in some multilabel reports)
    accuracy_support: int | None = None

    @property
    def labels(self) -> list[str]:
        return [row.label for row in self.rows]

    def row(self, label: str) -> ReportRow | None:
        return next((r for r in self.rows if r.label == label), None)

    def average(self, name: str) -> ReportRow | None:
        """`average("macro")` or `average("macro avg")`."""
        wanted = name if name.endswith(" avg") else f"{name} avg"
        return next((r for r in self.averages if r.label == wanted), None)

    @property
    def macro_avg(self) -> ReportRow | None:
        return self.average("macro")

    @property
    def weighted_avg(self) -> ReportRow | None:
        return self.average("weighted")


@dataclass(frozen=True)
class Prediction:
    label: str  # the predicted class
    actual: str | None = None  # the true class, when the lab prints it
    sample: str | None = None  # "Wine", when the line names the sample ("Wine #0: ...")
    index: int | None = None  # the sample's row in the data set

    @property
    def correct(self) -> bool | None:
        return None if self.actual is None else self.label == self.actual


@dataclass(frozen=True)
class LabOutput:
    report: ClassificationReport | None = None
    accuracy: float | None = None  # "Accuracy: 1.00" (labs/iris)
    test_accuracy: float | None = None  # "Test accuracy: 1.00" (trainers)
    predictions: tuple[Prediction, ...] = ()
    model_saved_to: str | None = None  # "Model saved to ..." / "saved ..."
    training_samples: int | None = None  # "Training on 142 wines..."
    waits: int = 0  # "Model not found ..., checking again" lines (the wine predictor)
    model_loaded_from: str | None = None  # "Found ..., loading it."
    other: tuple[str, ...] = ()  # non-blank lines none of the above

    @property
    def best_accuracy(self) -> float | None:
        """The accuracy the lab reported, whichever way it printed it."""
        for value in (self.accuracy, self.test_accuracy):
            if value is not None:
                return value
        return self.report.accuracy if self.report else None

    @property
    def predicted_class(self) -> str | None:
        return self.predictions[0].label if self.predictions else None

    @property
    def empty(self) -> bool:
        return (
            self.report is None
            and self.best_accuracy is None
            and not self.predictions
            and self.model_saved_to is None
        )


def _num(text: str) -> float:
    return math.nan if text == "nan" else float(text)


def _parse_report(lines: list[str], start: int) -> tuple[ClassificationReport, int]:
    """Parse the report whose header is lines[start]; return it and the first line after it."""
    rows: list[ReportRow] = []
    averages: list[ReportRow] = []
    accuracy = support = None
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if m := _ACCURACY_ROW.match(line):
            accuracy, support = _num(m.group(1)), int(m.group("support"))
        elif m := _ROW.match(line):
            row = ReportRow(
                m.group("label"),
                _num(m.group(2)),
                _num(m.group(3)),
                _num(m.group(4)),
                int(m.group("support")),
            )
            (averages if row.label.endswith(" avg") else rows).append(row)
        else:
            break
        i += 1
    return ClassificationReport(tuple(rows), tuple(averages), accuracy, support), i


def strip_prefix(line: str) -> str:
    """A line without Compose's "service-1  | " prefix and trailing blanks."""
    return _COMPOSE_PREFIX.sub("", line, count=1).rstrip()


def parse_lab_output(lines: Iterable[str]) -> LabOutput:
    """Everything recognisable in a lab's output lines (see the module docstring)."""
    text = [strip_prefix(line) for line in lines]
    report = None
    found: dict[str, object] = {}
    predictions: list[Prediction] = []
    other: list[str] = []
    waits = 0
    i = 0
    while i < len(text):
        line = text[i]
        if _HEADER.match(line):
            report, i = _parse_report(text, i)
            continue
        i += 1
        stripped = line.strip()
        if not stripped:
            continue
        if m := _ACCURACY.match(stripped):
            found["accuracy"] = _num(m.group(1))
        elif m := _TEST_ACCURACY.match(stripped):
            found["test_accuracy"] = _num(m.group(1))
        elif m := _PREDICTED_CLASS.match(stripped):
            predictions.append(Prediction(m.group("label")))
        elif m := _SAMPLE_PREDICTION.match(stripped):
            predictions.append(
                Prediction(m.group("label"), m.group("actual"), m.group("sample"), int(m["index"]))
            )
        elif m := _MODEL_SAVED.match(stripped):
            found["model_saved_to"] = m.group("path")
        elif m := _TRAINING_ON.match(stripped):
            found["training_samples"] = int(m.group("count"))
        elif _MODEL_MISSING.match(stripped):
            waits += 1
        elif m := _MODEL_FOUND.match(stripped):
            found["model_loaded_from"] = m.group("path")
        else:
            other.append(stripped)
    return LabOutput(
        report=report,
        predictions=tuple(predictions),
        waits=waits,
        other=tuple(other),
        **found,  # type: ignore[arg-type]
    )
