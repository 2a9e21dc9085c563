"""AtomicPusher: publishes a blessed model as `<serving_dir>/<version>/`, all at once.

TF Serving's layout (contract/versions.py): integer version folders, each a SavedModel. The
version is copied beside (a hidden folder), completed, then renamed, so that a server polling
the folder never sees half a version. `assets.extra/` (contract/version_assets.py) carries the
monitoring reference: the train statistics, the schema, the held-out predictions and the drift
reference that DriftReferenceGen produced, plus what the server needs to read its answers and
labels: the task contract and a binary model's launch threshold. Like TFX's own Pusher, it only
copies and records.
"""

import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from components import launch_threshold
from components.drift_reference_gen import DriftReferenceArtifact, reference_path
from contract.version_assets import (
    ASSETS_EXTRA,
    EVAL_PREDICTIONS_FILE,
    REFERENCE_FILE,
    SCHEMA_FILE,
    SOURCE_FILE,
    TASK_FILE,
    THRESHOLD_FILE,
    TRAIN_STATISTICS_FILE,
)
from contract.versions import list_versions, publish_version


def version_of_model(serving_dir: str, model_uri: str) -> int | None:
    """The version already published from `model_uri`, if any."""
    for version in list_versions(serving_dir):
        path = os.path.join(serving_dir, str(version), ASSETS_EXTRA, SOURCE_FILE)
        if tf.io.gfile.exists(path) and tf.io.gfile.GFile(path).read().strip() == model_uri:
            return version
    return None


def publish(
    files: dict[str, str], model_dir: str, serving_dir: str, texts: dict[str, str] | None = None
) -> int:
    """Copies `model_dir` plus `files` (relative path in the version → source file) and `texts`
    (relative path → content) as a new version.

    Returns:
        The published version number.
    """

    def fill(staging: str) -> None:
        tf.io.gfile.rmtree(staging)  # copy_dir creates the folder itself
        io_utils.copy_dir(model_dir, staging)
        for relative, source in files.items():
            tf.io.gfile.makedirs(os.path.dirname(os.path.join(staging, relative)))
            tf.io.gfile.copy(source, os.path.join(staging, relative), overwrite=True)
        for relative, content in (texts or {}).items():
            tf.io.gfile.makedirs(os.path.dirname(os.path.join(staging, relative)))
            with tf.io.gfile.GFile(os.path.join(staging, relative), "w") as f:
                f.write(content)

    return publish_version(serving_dir, fill)


@component
def AtomicPusher(  # noqa: N802 - TFX names components like classes
    model: InputArtifact[standard_artifacts.Model],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    drift_reference: InputArtifact[DriftReferenceArtifact],
    pushed_model: OutputArtifact[standard_artifacts.PushedModel],
    serving_dir: Parameter[str],
    task: Parameter[str] = "",
) -> None:
    """Pushes when the blessing says so and the model is not published yet; `task` (the
    TaskContract JSON) is published as `assets.extra/task.json`, the model run's launch
    threshold as `assets.extra/threshold.json` (a binary task's; others have none).

    Records `pushed` (1 or 0) and, when pushed, `pushed_version`.
    """
    already = version_of_model(serving_dir, model.uri)
    if model_blessing.get_int_custom_property("blessed") != 1 or already is not None:
        pushed_model.set_int_custom_property("pushed", 0)
        if already is not None:
            pushed_model.set_int_custom_property("serving_version", already)
        return
    files = {
        f"{ASSETS_EXTRA}/{TRAIN_STATISTICS_FILE}": os.path.join(
            statistics.uri, "Split-train", "FeatureStats.pb"
        ),
        f"{ASSETS_EXTRA}/{SCHEMA_FILE}": os.path.join(schema.uri, SCHEMA_FILE),
        f"{ASSETS_EXTRA}/{EVAL_PREDICTIONS_FILE}": os.path.join(
            model_run.uri, EVAL_PREDICTIONS_FILE
        ),
        f"{ASSETS_EXTRA}/{REFERENCE_FILE}": reference_path(drift_reference.uri),
    }
    threshold = os.path.join(model_run.uri, launch_threshold.THRESHOLD_FILE)
    if tf.io.gfile.exists(threshold):
        files[f"{ASSETS_EXTRA}/{THRESHOLD_FILE}"] = threshold
    texts = {f"{ASSETS_EXTRA}/{SOURCE_FILE}": model.uri}
    if task:
        texts[f"{ASSETS_EXTRA}/{TASK_FILE}"] = task
    version = publish(files, path_utils.serving_model_path(model.uri), serving_dir, texts=texts)
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_int_custom_property("pushed_version", version)
    pushed_model.set_string_custom_property(
        "pushed_destination", os.path.join(serving_dir, str(version))
    )
