"""SimpleModels: simple models a table's deep model must be compared with (book 6.2.3).

Beside the common-sense baseline (components/baseline.py), a table gets two simple models,
fit on train + eval and scored on test in the units of the task's metric:
- a linear model (scikit-learn): numeric columns imputed with the train mean and standardized,
  categorical columns one-hot encoded with a missing value as its own category, date columns
  as their year, month, day of year and weekday; logistic regression, or ridge regression;
- gradient-boosted trees (YDF, with its defaults) on the same columns.

A user is told when the workflow's deep model loses to one of them (`compare`). Image and word
sequence tasks are skipped: these models are for tables.

    result = compute_simple_models(read_table(uri, "train", task), read_table(uri, "test", task),
                                   task)
"""

import json
import math
import os
import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact, standard_artifacts

from components.models import HIGHER_IS_BETTER
from contract.dates import parse_date
from contract.features import FeatureKind, ProblemType
from contract.task import TaskContract

SIMPLE_MODELS_FILE = "simple_models.json"
LINEAR = "linear"
GRADIENT_BOOSTED_TREES = "gradient_boosted_trees"
# How the summary's warnings name each model.
DISPLAY_NAMES = {LINEAR: "a linear model", GRADIENT_BOOSTED_TREES: "gradient-boosted trees"}
DATE_PARTS = ("year", "month", "day_of_year", "weekday")
# Scores equal but for float rounding (an AUC of the same ranking computed twice) are a tie.
TIE_TOLERANCE = 1e-9
# Logistic regression's default 100 lbfgs iterations stop short on wide one-hot tables.
_MAX_ITER = 5_000


class SimpleModelsResult(artifact.Artifact):
    """simple_models.json: each simple model's test score in the task's metric, or why none."""

    TYPE_NAME = "dlwp.SimpleModels"


def skip_reason(task: TaskContract) -> str | None:
    """Why simple models are not fit on this task (a feature is not a table column), or None."""
    for feature in task.features:
        if not feature.kind.one_value:
            return (
                f"simple models are fit on tables only; feature {feature.name!r} is a "
                f"{feature.kind.value}"
            )
    return None


def _cell(feature: tf.train.Feature) -> object:
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def read_table(examples_uri: str, split: str, task: TaskContract) -> pd.DataFrame:
    """The task's features and label in a split, one row per example.

    A feature missing from an example is a missing value: NaN in a numeric column, None in a
    categorical or date column. Rows without a label are left out.
    """
    names = [f.name for f in task.features] + [task.label]
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    cells: dict[str, list] = {name: [] for name in names}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        row = tf.train.Example.FromString(record).features.feature
        for name in names:
            cells[name].append(_cell(row[name]) if name in row else None)
    frame = pd.DataFrame(cells, columns=names)
    for feature in task.features:
        if feature.kind is FeatureKind.NUMERIC:
            frame[feature.name] = pd.to_numeric(frame[feature.name], errors="coerce")
    frame = frame[frame[task.label].notna()].reset_index(drop=True)
    regression = task.problem_type is ProblemType.REGRESSION
    frame[task.label] = frame[task.label].astype(np.float64 if regression else np.int64)
    return frame


def date_parts(values: pd.Series) -> pd.DataFrame:
    """A date column as numbers: year, month, day of year, weekday (Monday 0); NaN when
    missing or not a date. Dates are read as the deep model's Transform reads them
    (`contract.dates`), so that both models see the same dates."""
    dates = {value: parse_date(value) for value in values.dropna().unique()}
    rows = [dates.get(value) for value in values]
    parts = [
        (d.year, d.month, d.timetuple().tm_yday, d.weekday()) if d else (np.nan,) * 4 for d in rows
    ]
    return pd.DataFrame(
        np.asarray(parts, np.float64).reshape(len(rows), len(DATE_PARTS)),
        columns=[f"{values.name}.{name}" for name in DATE_PARTS],
        index=values.index,
    )


def model_inputs(frame: pd.DataFrame, task: TaskContract) -> pd.DataFrame:
    """The columns both simple models read: numbers (dates as their parts) and strings ("" for a
    missing category)."""
    columns = []
    for feature in task.features:
        values = frame[feature.name]
        if feature.kind is FeatureKind.DATE:
            columns.append(date_parts(values))
        elif feature.kind is FeatureKind.CATEGORICAL:
            columns.append(values.map(lambda v: "" if v is None else str(v)).astype(object))
        else:
            columns.append(values.astype(np.float64))
    return pd.concat(columns, axis=1)


def linear_model(inputs: pd.DataFrame, problem_type: ProblemType) -> Pipeline:
    """The linear model's scikit-learn pipeline for these input columns (unfit)."""
    categorical = [name for name in inputs if inputs[name].dtype == object]
    numeric = [name for name in inputs if name not in categorical]
    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    if problem_type is ProblemType.REGRESSION:
        return make_pipeline(columns, Ridge())
    return make_pipeline(columns, LogisticRegression(max_iter=_MAX_ITER))


def score(metric: str, labels: np.ndarray, outputs: np.ndarray) -> float | None:
    """`metric` of outputs on test: the positive class's score for auc, classes for accuracy,
    values for mae; None when undefined (AUC on a test split with one class)."""
    if metric == "auc":
        if len(np.unique(labels)) < 2:
            return None
        return float(roc_auc_score(labels, outputs))
    if metric == "accuracy":
        return float(accuracy_score(labels, outputs))
    return float(mean_absolute_error(labels, outputs))


def _outputs_from_probabilities(
    metric: str, probabilities: np.ndarray, classes: Iterable[int]
) -> np.ndarray:
    classes = np.asarray(list(classes), np.int64)
    if metric == "auc":
        positive = np.flatnonzero(classes == 1)
        return probabilities[:, positive[0]] if positive.size else np.zeros(len(probabilities))
    return classes[np.argmax(probabilities, axis=1)]


def fit_linear(
    train: pd.DataFrame, test: pd.DataFrame, labels: np.ndarray, task: TaskContract
) -> np.ndarray:
    """The linear model fit on `train` (inputs) with `labels`; its outputs on `test`."""
    model = linear_model(train, task.problem_type).fit(train, labels)
    if task.problem_type is ProblemType.REGRESSION:
        return model.predict(test)
    return _outputs_from_probabilities(task.metric, model.predict_proba(test), model.classes_)


def fit_gradient_boosted_trees(
    train: pd.DataFrame, test: pd.DataFrame, labels: np.ndarray, task: TaskContract
) -> np.ndarray:
    """YDF's gradient-boosted trees, with their defaults, fit on `train`; outputs on `test`."""
    import ydf  # Here: loading YDF's C++ library is only needed when a table is fit.

    regression = task.problem_type is ProblemType.REGRESSION
    label = "__label__"
    previous = ydf.verbose(0)
    try:
        model = ydf.GradientBoostedTreesLearner(
            label=label, task=ydf.Task.REGRESSION if regression else ydf.Task.CLASSIFICATION
        ).train(train.assign(**{label: labels}))
        predictions = np.asarray(model.predict(test))
    finally:
        ydf.verbose(previous)
    if regression:
        return predictions
    classes = [int(name) for name in model.label_classes()]
    if predictions.ndim == 1:  # binary: the probability of the second class
        predictions = np.stack([1 - predictions, predictions], axis=1)
    return _outputs_from_probabilities(task.metric, predictions, classes)


_FITS: dict[str, Callable[..., np.ndarray]] = {
    LINEAR: fit_linear,
    GRADIENT_BOOSTED_TREES: fit_gradient_boosted_trees,
}


def compute_simple_models(train: pd.DataFrame, test: pd.DataFrame, task: TaskContract) -> dict:
    """Fits each simple model on `train` and scores it on `test` (frames of `read_table`).

    Returns:
        {"metric": m, "models": {name: {"test": score, "train_s": seconds}}, "skipped": None}.
    """
    train_inputs, test_inputs = model_inputs(train, task), model_inputs(test, task)
    labels = train[task.label].to_numpy()
    models = {}
    for name, fit in _FITS.items():
        start = time.perf_counter()
        outputs = fit(train_inputs, test_inputs, labels, task)
        models[name] = {
            "test": score(task.metric, test[task.label].to_numpy(), outputs),
            "train_s": round(time.perf_counter() - start, 3),
        }
    return {"metric": task.metric, "models": models, "skipped": None}


def compare(result: dict | None, deep_model: float | None) -> tuple[dict | None, list[str]]:
    """The deep model's test score against the simple models' (the summary's `simple_models`),
    and a warning sentence when it loses; (None, []) when they were skipped or not run."""
    if not result or result.get("skipped"):
        return None, []
    metric = result["metric"]
    higher = HIGHER_IS_BETTER[metric]
    scores = {name: model["test"] for name, model in result["models"].items()}
    ranked = sorted(
        (name for name, value in scores.items() if value is not None),
        key=lambda name: -scores[name] if higher else scores[name],
    )
    best = ranked[0] if ranked else None
    beaten_by = (
        []
        if deep_model is None
        else [
            name
            for name in ranked
            if not math.isclose(scores[name], deep_model, rel_tol=TIE_TOLERANCE)
            and (scores[name] > deep_model if higher else scores[name] < deep_model)
        ]
    )
    summary = {
        "metric": metric,
        "models": scores,
        "best": best,
        "deep_model": deep_model,
        "deep_model_wins": None if deep_model is None or best is None else not beaten_by,
    }
    if not beaten_by:
        return summary, []
    winners = " and ".join(
        f"{DISPLAY_NAMES.get(name, name)} ({metric} {scores[name]:.3f})" for name in beaten_by
    )
    sentence = f"the deep model ({metric} {deep_model:.3f}) loses to {winners} on test"
    return summary, [sentence]


def fit_simple_models(examples_uri: str, task: TaskContract) -> dict:
    """The simple models of a task, fit on train + eval and scored on test; for a task that is
    not a table, `skipped` says why and nothing is fit."""
    reason = skip_reason(task)
    if reason:
        return {"metric": task.metric, "models": {}, "skipped": reason}
    train = pd.concat(
        [read_table(examples_uri, split, task) for split in ("train", "eval")], ignore_index=True
    )
    return compute_simple_models(train, read_table(examples_uri, "test", task), task)


@component
def SimpleModels(  # noqa: N802 - TFX names components like classes
    examples: InputArtifact[standard_artifacts.Examples],
    simple_models: OutputArtifact[SimpleModelsResult],
    task: Parameter[str],
) -> None:
    """Writes simple_models.json (`fit_simple_models`)."""
    result = fit_simple_models(examples.uri, TaskContract.from_json(task))
    tf.io.gfile.makedirs(simple_models.uri)
    with tf.io.gfile.GFile(os.path.join(simple_models.uri, SIMPLE_MODELS_FILE), "w") as f:
        json.dump(result, f, indent=1)
