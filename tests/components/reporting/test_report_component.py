"""ModelReportGen on a real pushed model (docs/reports.md): the Trainer's `run_fn` trains a
tiny binary model with a launch threshold chosen for a recall of 0.75 on eval, the Pusher's
`publish` serves it as version 3 (version 1 is the last blessed model, version 2 another one),
TFX's own Evaluator scores both on test, and the report's numbers are recounted from the
model's `serving_default` outputs."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from table_statistics import table_statistics
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils
from trainer_inputs import (
    TASK,
    split_columns,
    trainer_fn_args,
    trainer_settings,
    write_trainer_inputs,
)

from components import trainer
from components.autograph_rules import leave_libraries_unconverted
from components.baseline import BASELINE_FILE, BaselineResult, compute_baseline, read_labels
from components.csv_columns import ColumnReport, ColumnSummary, PossibleLeak
from components.data_gate import GATE_FILE, DataGateResult
from components.evaluation import eval_config
from components.example_writer import write_splits
from components.exporting.exporter import InferenceExports
from components.exporting.publishing import PARITY_FILE
from components.launch_threshold import ThresholdRule
from components.pusher import publish
from components.reporting.component import ModelReport, ModelReportGen
from components.simple_models import SIMPLE_MODELS_FILE, SimpleModelsResult, fit_simple_models
from contract.report_files import MODEL_CARD_JSON, REPORT_HTML, REPORT_JSON
from contract.version_assets import ASSETS_EXTRA, SOURCE_FILE

TEST_ROWS = 60
RULE = ThresholdRule("target_recall", 0.75)
CASES_PER_DAY = 500


def artifact(kind, uri, **properties):
    instance = kind()
    instance.uri = str(uri)
    for name, value in properties.items():
        if isinstance(value, int):
            instance.set_int_custom_property(name, value)
        else:
            instance.set_string_custom_property(name, value)
    return instance


def evaluate(examples, candidate_uri, baseline_uri, output):
    """TFX's Evaluator on the test split, the candidate against the last blessed model."""
    model = artifact(standard_artifacts.Model, candidate_uri)
    baseline = artifact(standard_artifacts.Model, baseline_uri)
    evaluation = artifact(standard_artifacts.ModelEvaluation, output)
    blessing = artifact(standard_artifacts.ModelBlessing, output + "-blessing")
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )
    evaluator_executor.Executor(context).Do(
        {"examples": [examples], "model": [model], "baseline_model": [baseline]},
        {"evaluation": [evaluation], "blessing": [blessing]},
        {
            "eval_config": proto_utils.proto_to_json(eval_config("auc", "label", "binary")),
            "example_splits": json.dumps(["test"]),
        },
    )


def columns_report() -> dict:
    return ColumnReport(
        path="/data/table.csv",
        label="label",
        rows_read=188,
        empty_label_lines=(7,),
        split="stratified shuffle, seed 0",
        split_counts={"train": 96, "eval": 32, "test": TEST_ROWS},
        class_names=None,
        columns=(
            ColumnSummary("a", "numeric", 0.0, 188, "z-score"),
            ColumnSummary("b", "numeric", 0.0, 188, "z-score"),
            ColumnSummary("id", "left_out", 0.0, 188, "", "an identifier"),
        ),
        duplicate_rows={"eval": 0, "test": 2},
        possible_leaks=(PossibleLeak("a", "accuracy on eval + test alone", 0.99),),
    ).to_json()


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """Everything ModelReportGen reads, for version 3 of a real tiny model."""
    leave_libraries_unconverted()
    root = tmp_path_factory.mktemp("report")
    inputs = write_trainer_inputs(str(root / "pipeline"), train_rows=96, eval_rows=32)
    examples_uri = os.path.dirname(os.path.dirname(inputs.train_files[0]))
    test = split_columns(TEST_ROWS, 2)
    write_splits({"test": test}, examples_uri)
    settings = trainer_settings(max_epochs=4, threshold_rule=RULE)
    fn_args = trainer_fn_args(inputs, settings, execution=1)
    trainer.run_fn(fn_args)
    model_uri = os.path.dirname(fn_args.serving_model_dir)  # .../Trainer/model/1
    serving = root / "serving"
    sources = {}
    for version, execution in ((1, 1), (2, 7), (3, 9)):
        uri = os.path.join(os.path.dirname(model_uri), str(execution))
        if uri != model_uri:
            shutil.copytree(model_uri, uri)
        sources[version] = uri
        texts = {f"{ASSETS_EXTRA}/{SOURCE_FILE}": uri}
        assert publish({}, os.path.join(uri, "Format-Serving"), str(serving), texts) == version
    examples = artifact(standard_artifacts.Examples, examples_uri)
    examples.split_names = artifact_utils.encode_split_names(["train", "eval", "test"])
    evaluation = str(root / "evaluation")
    evaluate(examples, sources[3], sources[1], evaluation)

    baseline_dir = root / "baseline"
    baseline_dir.mkdir()
    baseline = compute_baseline(
        read_labels(examples_uri, "train", "label", "binary"), test["label"], "binary", "auc"
    )
    (baseline_dir / BASELINE_FILE).write_text(json.dumps(baseline))
    simple_dir = root / "simple_models"
    simple_dir.mkdir()
    simple = fit_simple_models(examples_uri, TASK)
    (simple_dir / SIMPLE_MODELS_FILE).write_text(json.dumps(simple))
    gate_dir = root / "data_gate"
    gate_dir.mkdir()
    warning = {
        "split": "test",
        "feature": "b",
        "kind": "FEATURE_TYPE_LOW_FRACTION_PRESENT",
        "description": "fewer values",
        "count": 3,
    }
    (gate_dir / GATE_FILE).write_text(json.dumps({"passed": True, "warnings": [warning]}))
    statistics_dir = root / "statistics"
    counts = {"train": 96, "eval": 32, "test": TEST_ROWS}
    for split, rows in counts.items():
        (statistics_dir / f"Split-{split}").mkdir(parents=True)
        columns = split_columns(rows, {"train": 0, "eval": 1, "test": 2}[split])
        stats = table_statistics(
            [
                {k: float(v) for k, v in zip(columns, row, strict=True)}
                for row in zip(*columns.values(), strict=True)
            ]
        )
        (statistics_dir / f"Split-{split}" / "FeatureStats.pb").write_bytes(
            stats.SerializeToString()
        )
    exports_dir = root / "exports"
    exports_dir.mkdir()
    parity = {
        "formats": {
            "tflite": {
                "size_bytes": 1200,
                "gzip_bytes": 900,
                "input": "raw",
                "metric": 0.91,
                "delta": 0.0,
                "published": True,
                "reason": None,
            }
        }
    }
    (exports_dir / PARITY_FILE).write_text(json.dumps(parity))
    reports = root / "reports" / "tiny"
    reports.mkdir(parents=True)
    (reports / "columns.json").write_text(json.dumps(columns_report()))
    return {
        "examples": examples,
        "model_run": artifact(standard_artifacts.ModelRun, fn_args.model_run_dir),
        "pushed_model": artifact(
            standard_artifacts.PushedModel,
            root / "pushed",
            pushed=1,
            pushed_version=3,
            pushed_destination=str(serving / "3"),
        ),
        "evaluation": artifact(standard_artifacts.ModelEvaluation, evaluation),
        "baseline": artifact(BaselineResult, baseline_dir),
        "simple_models": artifact(SimpleModelsResult, simple_dir),
        "data_gate": artifact(DataGateResult, gate_dir),
        "statistics": artifact(standard_artifacts.ExampleStatistics, statistics_dir),
        "exports": artifact(InferenceExports, exports_dir, exported_version=3),
        "reports_dir": str(reports),
        "served": str(serving / "3"),
        "test": test,
        "root": root,
    }


def run_component(pushed, report_uri, **overrides):
    report = artifact(ModelReport, report_uri)
    inputs = {
        k: pushed[k]
        for k in (
            "examples",
            "model_run",
            "pushed_model",
            "evaluation",
            "baseline",
            "simple_models",
            "data_gate",
            "statistics",
            "exports",
        )
    }
    inputs.update(overrides)
    ModelReportGen.test_call(
        **inputs,
        report=report,
        reports_dir=pushed["reports_dir"],
        model_name="tiny",
        task=TASK.to_json(),
        data_dir="",
        cases_per_day=CASES_PER_DAY,
    )
    return report


@pytest.fixture(scope="module")
def written(pushed):
    report = run_component(pushed, pushed["root"] / "report")
    folder = os.path.join(pushed["reports_dir"], "3")
    with open(os.path.join(folder, REPORT_JSON)) as f:
        numbers = json.load(f)
    model = tf.saved_model.load(pushed["served"])
    test = pushed["test"]
    outputs = model.signatures["serving_default"](
        a=tf.constant(test["a"]), b=tf.constant(test["b"])
    )
    return report, folder, numbers, outputs["scores"].numpy().astype(np.float64), test["label"]


def test_the_folder_is_published_with_the_page_numbers_and_card(written):
    report, folder, numbers, _, _ = written
    assert sorted(os.listdir(folder)) == sorted([REPORT_HTML, REPORT_JSON, MODEL_CARD_JSON])
    assert report.get_int_custom_property("written") == 1
    assert report.get_int_custom_property("version") == 3
    assert report.get_string_custom_property("report_path") == os.path.join(folder, REPORT_HTML)
    assert numbers["schema_version"] == 1 and numbers["model"] == "tiny"
    assert numbers["version"] == 3
    assert numbers["task"]["problem_type"] == "binary" and numbers["task"]["metric"] == "auc"


def test_success_is_the_served_models_test_auc_against_the_last_blessed_version(written):
    _, _, numbers, scores, labels = written
    success = numbers["success"]
    assert success["test"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
    assert success["examples"] == TEST_ROWS and success["method"] == "bootstrap"
    assert success["low"] <= success["test"] <= success["high"]
    # Version 1 was published from the model TFMA compared with; version 2 was not.
    assert success["last_blessed"]["version"] == 1
    # The same weights: TFMA's score of the last blessed model is this model's test AUC.
    assert success["last_blessed"]["test"] == pytest.approx(success["test"], abs=1e-3)
    train_labels = split_columns(96, 0)["label"]
    assert success["baseline"]["name"] == "constant_prediction_auc"
    assert success["baseline"]["test"] == 0.5 and len(train_labels) == 96
    assert set(success["simple_models"]["models"]) == {"linear", "gradient_boosted_trees"}


def test_the_threshold_and_classes_are_the_live_thresholds_counts(written, pushed):
    _, _, numbers, scores, labels = written
    threshold = numbers["threshold"]
    with open(os.path.join(pushed["model_run"].uri, "threshold.json")) as f:
        chosen = json.load(f)
    assert np.float32(threshold["live"]) == np.float32(chosen["live"])
    assert threshold["live"] != 0.5
    assert threshold["rule"] == {"kind": "target_recall", "value": 0.75}
    assert threshold["chosen_on"] == "eval" and threshold["eval_examples"] == 32
    assert threshold["eval"] == chosen["eval"]
    flagged = scores > np.float32(threshold["live"])
    assert 0 < flagged.sum() < TEST_ROWS  # the live row is not a trivial one
    row = threshold["live_row"]
    negatives, positives = np.sum(labels == 0), np.sum(labels == 1)
    assert row["threshold"] == threshold["live"]
    assert row["fpr"] == pytest.approx(np.sum(flagged & (labels == 0)) / negatives)
    assert row["recall"] == pytest.approx(np.sum(flagged & (labels == 1)) / positives)
    assert row["flagged_per_day"] == pytest.approx(flagged.mean() * CASES_PER_DAY)
    assert row["false_positives_per_day"] == pytest.approx(
        np.sum(flagged & (labels == 0)) / TEST_ROWS * CASES_PER_DAY
    )
    assert threshold["test_positive_rate"] == pytest.approx(labels.mean())
    assert [r["threshold"] for r in threshold["table"]] == sorted(
        [round(0.05 * i, 2) for i in range(1, 20)] + [threshold["live"]]
    )
    counted = [[int(np.sum((labels == t) & (flagged == p))) for p in (0, 1)] for t in (0, 1)]
    assert numbers["classes"]["confusion"] == counted
    assert numbers["classes"]["names"] == ["0", "1"]


def test_failure_modes_are_the_most_confidently_wrong_rows(written):
    _, _, numbers, scores, labels = written
    flagged = scores > np.float32(numbers["threshold"]["live"])
    wrong = np.flatnonzero(flagged != (labels == 1))
    confidence = np.where(flagged, scores, 1 - scores)
    expected = wrong[np.argsort(-confidence[wrong], kind="stable")][:12]
    examples = numbers["failure_modes"]["examples"]
    assert numbers["failure_modes"]["kind"] == "table"
    assert len(examples) == len(expected)
    assert [e["confidence"] for e in examples] == pytest.approx(confidence[expected].tolist())
    test = split_columns(TEST_ROWS, 2)
    first = expected[0]
    assert examples[0]["row"] == {
        "a": np.format_float_positional(test["a"][first], trim="-"),
        "b": np.format_float_positional(test["b"][first], trim="-"),
    }
    assert examples[0]["true"] == str(labels[first])


def test_training_data_and_exports_are_read_from_their_artifacts(written):
    _, _, numbers, _, labels = written
    assert numbers["training"]["protocol"] == "holdout"
    assert numbers["training"]["figures"] == ["loss.png", "auc.png"]
    data = numbers["data"]
    assert data["splits"] == {"train": 96, "eval": 32, "test": TEST_ROWS}
    assert data["class_balance"]["train"] == np.bincount(split_columns(96, 0)["label"]).tolist()
    assert data["class_balance"]["test"] == np.bincount(labels).tolist()
    assert data["columns"]["left_out"] == {"id": "an identifier"}
    assert data["columns"]["empty_label_rows"] == 1
    assert any("'a' alone predicts the label" in w for w in data["warnings"])
    assert any("2 test rows are exact copies" in w for w in data["warnings"])
    assert data["anomalies"] == [
        "split 'test', feature 'b': FEATURE_TYPE_LOW_FRACTION_PRESENT in 3 examples"
    ]
    assert numbers["exports"] == {
        "tflite": {
            "size_bytes": 1200,
            "gzip_bytes": 900,
            "metric": 0.91,
            "delta": 0.0,
            "published": True,
            "reason": None,
        }
    }


def test_nothing_is_written_when_nothing_was_pushed(pushed, tmp_path):
    not_pushed = artifact(standard_artifacts.PushedModel, tmp_path / "pushed", pushed=0)
    report = run_component(pushed, tmp_path / "report", pushed_model=not_pushed)
    assert report.get_int_custom_property("written") == 0
    assert not report.has_custom_property("report_path")
