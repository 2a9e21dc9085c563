"""The pipeline factory: one pipeline for every task, with train-only schema and a data gate."""

import json

import pytest

from contract.task import TaskContract
from pipelines.pipeline import create_pipeline
from pipelines.settings import TrainingOptions
from pipelines.tasks import BOOK_TASKS

EXPECTED = [
    "ExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "CurateSchema",
    "ExampleValidator",
    "DataGate",
    "Transform",
    "Trainer",
    "Baseline",
    "SimpleModels",
    "LastBlessedModel",
    "Evaluator",
    "BlessingGate",
    "DriftReferenceGen",
    "Pusher",
    "Exporter",
    "ModelReportGen",
]


def build(task, tmp_path, **kwargs):
    return create_pipeline(
        task,
        str(tmp_path / "root"),
        str(tmp_path),
        str(tmp_path / "serving"),
        str(tmp_path / "exports"),
        str(tmp_path / "reports"),
        **kwargs,
    )


@pytest.mark.parametrize("name", sorted(BOOK_TASKS))
def test_every_book_task_gets_the_same_components(tmp_path, name):
    pipeline = build(BOOK_TASKS[name], tmp_path)
    assert sorted(c.id for c in pipeline.components) == sorted(EXPECTED)


def test_schema_is_learnt_from_train_and_checks_eval_and_test(tmp_path):
    pipeline = build(BOOK_TASKS["mnist"], tmp_path)
    components = {c.id: c for c in pipeline.components}
    assert json.loads(components["SchemaGen"].exec_properties["exclude_splits"]) == ["eval", "test"]
    assert json.loads(components["ExampleValidator"].exec_properties["exclude_splits"]) == ["train"]


def test_known_ranges_reach_the_curated_schema(tmp_path):
    from components.schema_curation import declared_int_domains

    pipeline = build(BOOK_TASKS["reuters"], tmp_path)
    curate = next(c for c in pipeline.components if c.id == "CurateSchema")
    task = TaskContract.from_json(curate.exec_properties["task"])
    assert declared_int_domains(task) == {"words": (0, 9_999), "label": (0, 45)}


def test_a_curated_schema_file_replaces_the_inferred_one(tmp_path):
    pipeline = build(BOOK_TASKS["boston_housing"], tmp_path, schema_file="/data/schema.pbtxt")
    components = {c.id: c for c in pipeline.components}
    assert "SchemaGen" not in components
    assert components["ImportSchemaGen"].exec_properties["schema_file"] == "/data/schema.pbtxt"
    assert "ImportSchemaGen" in {node.id for node in components["CurateSchema"].upstream_nodes}
    assert sorted(components) == sorted(
        ["ImportSchemaGen" if c == "SchemaGen" else c for c in EXPECTED]
    )


def test_changed_data_changes_the_example_gen_cache_key(tmp_path):
    import keras_files

    keras_files.write_boston_housing(str(tmp_path), seed=1)
    task = BOOK_TASKS["boston_housing"]
    before = build(task, tmp_path).components[0]
    keras_files.write_boston_housing(str(tmp_path), seed=2)
    with open(tmp_path / "boston_housing.npz", "ab") as f:
        f.write(b"\0")  # a different size, whatever the clock's resolution
    after = build(task, tmp_path).components[0]
    assert before.exec_properties["input_fingerprint"] != after.exec_properties["input_fingerprint"]


def test_new_feedback_changes_the_example_gen_cache_key(tmp_path):
    """New labelled feedback is read again, not served from the ExampleGen's cache."""
    feedback = tmp_path / "feedback"
    feedback.mkdir()
    (feedback / "a.tfrecord.gz").write_bytes(b"1")
    task = BOOK_TASKS["reuters"]

    def key():
        pipeline = build(task, tmp_path, extra_data_dir=str(feedback))
        return pipeline.components[0].exec_properties["input_fingerprint"]

    before = key()
    (feedback / "b.tfrecord.gz").write_bytes(b"2")
    assert key() != before
    assert build(task, tmp_path).components[0].exec_properties["input_fingerprint"] != before


def test_nothing_is_transformed_or_trained_before_the_data_gate(tmp_path):
    components = {c.id: c for c in build(BOOK_TASKS["imdb"], tmp_path).components}
    assert "DataGate" in {node.id for node in components["Transform"].upstream_nodes}
    assert json.loads(components["Evaluator"].exec_properties["example_splits"]) == ["test"]


def test_epochs_flag_overrides_the_book_maximum(tmp_path):
    pipeline = build(BOOK_TASKS["boston_housing"], tmp_path, training=TrainingOptions(max_epochs=7))
    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    config = json.loads(trainer.exec_properties["custom_config"])
    assert config["max_epochs"] == 7 and config["protocol"] == "kfold"
    assert config["batch_size"] == 16  # the book's batch for Boston


def test_exporter_exports_what_the_pusher_pushed_and_knows_the_task(tmp_path):
    components = {c.id: c for c in build(BOOK_TASKS["fashion_mnist"], tmp_path).components}
    exporter = components["Exporter"]
    assert "Pusher" in {node.id for node in exporter.upstream_nodes}
    task = TaskContract.from_json(exporter.exec_properties["task"])
    assert [(f.name, f.kind) for f in task.features] == [("image", "image")]
    assert task.metric == "accuracy"
    assert task.class_names[9] == "Ankle boot"
    assert exporter.exec_properties["exports_dir"] == str(tmp_path / "exports")


@pytest.mark.parametrize("name", ["imdb", "boston_housing"])
def test_every_step_that_needs_the_task_gets_the_same_contract(tmp_path, name):
    components = {c.id: c for c in build(BOOK_TASKS[name], tmp_path).components}
    handed = {
        "Transform": json.loads(components["Transform"].exec_properties["custom_config"])["task"],
        "Trainer": json.loads(components["Trainer"].exec_properties["custom_config"])["task"],
        "DriftReferenceGen": components["DriftReferenceGen"].exec_properties["task"],
        "Exporter": components["Exporter"].exec_properties["task"],
        "SimpleModels": components["SimpleModels"].exec_properties["task"],
        "CurateSchema": components["CurateSchema"].exec_properties["task"],
        "DataGate": components["DataGate"].exec_properties["task"],
        "ModelReportGen": components["ModelReportGen"].exec_properties["task"],
    }
    assert len(set(handed.values())) == 1
    task = TaskContract.from_json(handed["Trainer"])
    assert task.label == BOOK_TASKS[name].label
    assert task.problem_type == BOOK_TASKS[name].problem_type


def test_the_pusher_only_publishes_the_drift_reference_and_the_task(tmp_path):
    components = {c.id: c for c in build(BOOK_TASKS["imdb"], tmp_path).components}
    pusher = components["Pusher"]
    assert "DriftReferenceGen" in {node.id for node in pusher.upstream_nodes}
    assert "examples" not in pusher.inputs
    assert set(pusher.exec_properties) == {"serving_dir", "task"}
    trainer_config = json.loads(components["Trainer"].exec_properties["custom_config"])
    assert pusher.exec_properties["task"] == trainer_config["task"]  # the same task.json


def test_prune_flag_reaches_the_trainer(tmp_path):
    pipeline = build(BOOK_TASKS["mnist"], tmp_path, training=TrainingOptions(prune_sparsity=0.6))
    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    assert json.loads(trainer.exec_properties["custom_config"])["prune_sparsity"] == 0.6


def test_the_report_comes_last_and_reads_the_pushed_version_and_its_exports(tmp_path):
    components = {c.id: c for c in build(BOOK_TASKS["imdb"], tmp_path).components}
    report = components["ModelReportGen"]
    assert {"Pusher", "Exporter", "Evaluator"} <= {node.id for node in report.upstream_nodes}
    assert report.exec_properties["reports_dir"] == str(tmp_path / "reports")
    assert report.exec_properties["cases_per_day"] == 1000
