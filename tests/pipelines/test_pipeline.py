"""The pipeline factory: one pipeline for every task, with train-only schema and a data gate."""

import json

import pytest

from pipelines.pipeline import create_pipeline
from pipelines.tasks import BOOK_TASKS

EXPECTED = [
    "ExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "CurateSchema",
    "ExampleValidator",
    "DataGate",
]


@pytest.mark.parametrize("name", sorted(BOOK_TASKS))
def test_every_book_task_gets_the_same_components(tmp_path, name):
    pipeline = create_pipeline(BOOK_TASKS[name], str(tmp_path / "root"), str(tmp_path))
    assert [c.id for c in pipeline.components] == EXPECTED


def test_schema_is_learnt_from_train_and_checks_eval_and_test(tmp_path):
    pipeline = create_pipeline(BOOK_TASKS["mnist"], str(tmp_path / "root"), str(tmp_path))
    components = {c.id: c for c in pipeline.components}
    assert json.loads(components["SchemaGen"].exec_properties["exclude_splits"]) == ["eval", "test"]
    assert json.loads(components["ExampleValidator"].exec_properties["exclude_splits"]) == ["train"]


def test_known_ranges_reach_the_curated_schema(tmp_path):
    pipeline = create_pipeline(BOOK_TASKS["reuters"], str(tmp_path / "root"), str(tmp_path))
    curate = next(c for c in pipeline.components if c.id == "CurateSchema")
    assert json.loads(curate.exec_properties["int_domains"]) == {
        "words": [0, 9_999],
        "label": [0, 45],
    }


def test_changed_data_changes_the_example_gen_cache_key(tmp_path):
    import keras_files

    keras_files.write_boston_housing(str(tmp_path), seed=1)
    task = BOOK_TASKS["boston_housing"]
    before = create_pipeline(task, str(tmp_path / "root"), str(tmp_path)).components[0]
    keras_files.write_boston_housing(str(tmp_path), seed=2)
    with open(tmp_path / "boston_housing.npz", "ab") as f:
        f.write(b"\0")  # a different size, whatever the clock's resolution
    after = create_pipeline(task, str(tmp_path / "root"), str(tmp_path)).components[0]
    assert before.exec_properties["input_fingerprint"] != after.exec_properties["input_fingerprint"]
