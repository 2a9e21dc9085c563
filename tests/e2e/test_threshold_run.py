"""`dlwp run --csv breast_cancer.csv --target-fpr 0.05`: the real UCI table (benchmarks/
real_tables.py), one run. The Trainer chooses the launch threshold on its held-out eval
predictions (K-fold's out-of-fold ones: this table is small), writes threshold.json, and the
pushed SavedModel answers class_ids = scores > that threshold. The eval FPR is recounted with
numpy from eval_predictions.json and the labels read back from ExampleGen's own files."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.public import tfxio

from benchmarks.real_tables import write_table
from components.exporting.split_inputs import raw_inputs, read_split
from components.launch_threshold import THRESHOLD_FILE
from contract.version_assets import EVAL_PREDICTIONS_FILE

pytestmark = pytest.mark.e2e

TARGET_FPR = 0.05
MODEL = "breast_cancer"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The home of one run, and its exit code."""
    from pipelines import cli

    folder = tmp_path_factory.mktemp("threshold")
    csv = write_table(MODEL, str(folder))
    home = str(folder / "home")
    argv = ["run", "--csv", csv, "--label", "diagnosis", "--task", "binary", "--home", home]
    code = cli.main([*argv, "--epochs", "8", "--target-fpr", str(TARGET_FPR)])
    return home, code


def _model_run(home: str) -> str:
    (folder,) = glob.glob(os.path.join(home, "pipelines", MODEL, "Trainer", "model_run", "*"))
    return folder


def _read(folder: str, name: str):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def _pool_labels(home: str) -> np.ndarray:
    """The labels of every non-test row, read as TFX's Trainer reads its pool (tfx_bsl's
    TFExampleRecord over the train and eval files, which interleaves them): the rows K-fold
    predicted out of fold, in the order of eval_predictions.json."""
    (examples,) = glob.glob(os.path.join(home, "pipelines", MODEL, "ExampleGen", "examples", "*"))
    patterns = [os.path.join(examples, f"Split-{split}", "*") for split in ("train", "eval")]
    schema = schema_utils.schema_from_feature_spec(
        {"diagnosis": tf.io.FixedLenFeature([], tf.int64)}
    )
    options = tfxio.TensorFlowDatasetOptions(batch_size=1024, shuffle=False, num_epochs=1)
    dataset = tfxio.TFExampleRecord(file_pattern=patterns, schema=schema).TensorFlowDataset(options)
    return np.concatenate([batch["diagnosis"].reshape(-1) for batch in dataset.as_numpy_iterator()])


def test_the_threshold_is_chosen_on_eval_within_the_target_fpr(run):
    home, code = run
    assert code == 0
    folder = _model_run(home)
    threshold = _read(folder, THRESHOLD_FILE)
    assert threshold["rule"] == {"kind": "target_fpr", "value": TARGET_FPR}
    assert threshold["chosen_on"] == "eval"
    scores = np.asarray(_read(folder, EVAL_PREDICTIONS_FILE), np.float64).reshape(-1)
    labels = _pool_labels(home)
    assert threshold["eval_examples"] == labels.size == scores.size
    flagged = scores > threshold["live"]
    fpr = np.sum(flagged & (labels == 0)) / np.sum(labels == 0)
    recall = np.sum(flagged & (labels == 1)) / np.sum(labels == 1)
    assert fpr <= TARGET_FPR
    assert threshold["eval"]["fpr"] == pytest.approx(fpr)
    assert threshold["eval"]["recall"] == pytest.approx(recall)
    assert threshold["live"] != 0.5


def test_the_pushed_model_answers_class_ids_above_the_live_threshold(run):
    home, _ = run
    live = _read(_model_run(home), THRESHOLD_FILE)["live"]
    serving = os.path.join(home, "serving", MODEL)
    version = max(int(v) for v in os.listdir(serving))
    loaded = tf.saved_model.load(os.path.join(serving, str(version)))
    assert float(loaded.decision_threshold.numpy()) == live
    (examples,) = glob.glob(os.path.join(home, "pipelines", MODEL, "ExampleGen", "examples", "*"))
    test = read_split(examples, "test")
    signature = loaded.signatures["serving_default"]
    names = list(signature.structured_input_signature[1])
    spec = {name: tf.io.VarLenFeature(tf.float32) for name in names}
    inputs = raw_inputs(test, spec, [(name, "numeric") for name in names])
    outputs = signature(**{name: tf.constant(values) for name, values in inputs.items()})
    scores = outputs["scores"].numpy()
    expected = (scores > np.float32(live)).astype(np.int64)
    assert outputs["class_ids"].numpy().tolist() == expected.tolist()
    # The threshold decides some test rows that 0.5 would classify otherwise, or none lie
    # between: either way the ids are those of the live threshold, not of 0.5.
    between = (scores > min(live, 0.5)) & (scores <= max(live, 0.5))
    assert np.array_equal(outputs["class_ids"].numpy()[between], np.full(between.sum(), live < 0.5))


def test_the_report_counts_the_test_errors_at_the_live_threshold(run):
    """The report's live row and per-class recall (and so summary.json's per_class) are the
    served model's class ids on test, recounted here: at the live threshold, not at 0.5."""
    home, _ = run
    live = _read(_model_run(home), THRESHOLD_FILE)["live"]
    serving = os.path.join(home, "serving", MODEL)
    version = max(int(v) for v in os.listdir(serving))
    report = _read(os.path.join(home, "reports", MODEL, str(version)), "report.json")
    summary = _read(os.path.join(home, "reports", MODEL), "summary.json")
    assert report["threshold"]["live"] == pytest.approx(live)
    assert report["threshold"]["rule"] == {"kind": "target_fpr", "value": TARGET_FPR}
    assert report["threshold"]["chosen_on"] == "eval"

    (examples,) = glob.glob(os.path.join(home, "pipelines", MODEL, "ExampleGen", "examples", "*"))
    test = read_split(examples, "test")
    labels = tf.io.parse_example(test, {"diagnosis": tf.io.FixedLenFeature([], tf.int64)})[
        "diagnosis"
    ].numpy()
    loaded = tf.saved_model.load(os.path.join(serving, str(version)))
    scores = loaded.signatures["from_examples"](examples=tf.constant(test))["scores"].numpy()
    flagged = scores > np.float32(live)
    negatives, positives = labels == 0, labels == 1
    row = report["threshold"]["live_row"]
    assert row["fpr"] == pytest.approx(np.sum(flagged & negatives) / np.sum(negatives))
    assert row["fnr"] == pytest.approx(np.sum(~flagged & positives) / np.sum(positives))
    per_day = report["threshold"]["cases_per_day"] * np.sum(flagged & negatives) / labels.size
    assert row["false_positives_per_day"] == pytest.approx(per_day)
    recall = np.sum(flagged & positives) / np.sum(positives)
    assert report["classes"]["recall"][1] == pytest.approx(recall)
    assert summary["per_class"]["recall"]["malignant"] == pytest.approx(recall)
    assert sum(map(sum, report["classes"]["confusion"])) == labels.size
