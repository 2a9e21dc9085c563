"""Publishing: the next integer version, complete when it appears, never a half version."""

import json
import os

from components.pusher import publish
from contract.versions import list_versions


def make_model(path):
    os.makedirs(path / "variables")
    (path / "saved_model.pb").write_bytes(b"model")
    (path / "variables" / "variables.index").write_bytes(b"index")
    return str(path)


def test_next_version_follows_the_highest_integer_folder(tmp_path):
    serving = tmp_path / "serving"
    for name in ("1", "3", "notes", ".partial-9-1"):
        os.makedirs(serving / name)
    extra = tmp_path / "schema.pbtxt"
    extra.write_text("feature {}")
    version = publish(
        {"assets.extra/schema.pbtxt": str(extra)}, make_model(tmp_path / "m"), str(serving)
    )
    assert version == 4
    assert (serving / "4" / "saved_model.pb").read_bytes() == b"model"
    assert (serving / "4" / "variables" / "variables.index").exists()
    assert (serving / "4" / "assets.extra" / "schema.pbtxt").read_text() == "feature {}"
    assert list_versions(str(serving)) == [1, 3, 4]


def test_no_staging_folder_is_left_behind(tmp_path):
    serving = tmp_path / "serving"
    publish({}, make_model(tmp_path / "m"), str(serving))
    assert sorted(os.listdir(serving)) == ["1"]


def test_a_model_is_published_once(tmp_path):
    from components.pusher import version_of_model
    from contract.version_assets import SOURCE_FILE

    serving = str(tmp_path / "serving")
    model = make_model(tmp_path / "m")
    publish({}, model, serving, texts={f"assets.extra/{SOURCE_FILE}": "/pipeline/Trainer/model/7"})
    assert version_of_model(serving, "/pipeline/Trainer/model/7") == 1
    assert version_of_model(serving, "/pipeline/Trainer/model/8") is None


def pusher_inputs(tmp_path, threshold: dict | None):
    """The artifacts AtomicPusher reads, as files: a blessed model and its run, statistics,
    schema and drift reference."""
    from tfx.types import standard_artifacts

    from components.drift_reference_gen import DriftReferenceArtifact

    def artifact(kind, name, files):
        instance = kind()
        instance.uri = str(tmp_path / name)
        for relative, content in files.items():
            (tmp_path / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / relative).write_text(content)
        return instance

    make_model(tmp_path / "model" / "Format-Serving")
    run_files = {"eval_predictions.json": "[0.3]"}
    if threshold is not None:
        run_files["threshold.json"] = json.dumps(threshold)
    blessing = artifact(standard_artifacts.ModelBlessing, "blessing", {})
    blessing.set_int_custom_property("blessed", 1)
    return {
        "model": artifact(standard_artifacts.Model, "model", {}),
        "model_blessing": blessing,
        "model_run": artifact(standard_artifacts.ModelRun, "run", run_files),
        "statistics": artifact(
            standard_artifacts.ExampleStatistics, "stats", {"Split-train/FeatureStats.pb": "s"}
        ),
        "schema": artifact(standard_artifacts.Schema, "schema", {"schema.pbtxt": "feature {}"}),
        "drift_reference": artifact(
            DriftReferenceArtifact, "drift", {"drift_reference.json": "{}"}
        ),
        "pushed_model": artifact(standard_artifacts.PushedModel, "pushed", {}),
    }


def test_a_version_carries_its_task_and_launch_threshold(tmp_path):
    from components.pusher import AtomicPusher
    from contract.task import TaskContract
    from serving.version_task import launch_threshold, read_version_task

    task = TaskContract(
        features=({"name": "rooms", "kind": "numeric"},),
        label="spam",
        problem_type="binary",
        metric="auc",
        num_classes=2,
        class_names=("ham", "spam"),
    )
    threshold = {"live": 0.73, "rule": {"kind": "target_fpr", "value": 0.05}}
    serving = tmp_path / "serving"
    AtomicPusher.test_call(
        **pusher_inputs(tmp_path, threshold), serving_dir=str(serving), task=task.to_json()
    )
    assert json.loads((serving / "1" / "assets.extra" / "threshold.json").read_text()) == threshold
    assert read_version_task(str(serving / "1")) == task
    assert launch_threshold(str(serving / "1")) == 0.73


def test_a_version_without_a_threshold_serves_at_one_half(tmp_path):
    from components.pusher import AtomicPusher
    from serving.version_task import launch_threshold, read_version_task

    serving = tmp_path / "serving"
    AtomicPusher.test_call(**pusher_inputs(tmp_path, None), serving_dir=str(serving))
    assert not (serving / "1" / "assets.extra" / "threshold.json").exists()
    assert read_version_task(str(serving / "1")) is None
    assert launch_threshold(str(serving / "1")) == 0.5
