"""AtomicPusher: publishes a blessed model as `<serving_dir>/<version>/`, all at once.

TF Serving's layout: integer version folders, each a SavedModel. The version is copied beside
(a hidden folder), completed, then renamed, so that a server polling the folder never sees half a
version. `assets.extra/` carries the monitoring reference: the train statistics, the schema,
the eval split's predictions, and the drift monitor's reference (serving/drift_reference.py).
"""

import json
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from components.monitoring_reference import build_reference
from components.schema_curation import read_schema
from components.trainer import EVAL_PREDICTIONS_FILE
from serving.drift_reference import REFERENCE_FILE

ASSETS_EXTRA = "assets.extra"
TRAIN_STATISTICS_FILE = "train_statistics.pb"
SCHEMA_FILE = "schema.pbtxt"
# Names the model artifact a version was published from, so that it is published only once.
SOURCE_FILE = "source_model.txt"


def version_of_model(serving_dir: str, model_uri: str) -> int | None:
    """The version already published from `model_uri`, if any."""
    for version in existing_versions(serving_dir):
        path = os.path.join(serving_dir, str(version), ASSETS_EXTRA, SOURCE_FILE)
        if tf.io.gfile.exists(path) and tf.io.gfile.GFile(path).read().strip() == model_uri:
            return version
    return None


def existing_versions(serving_dir: str) -> list[int]:
    """The integer version folders under `serving_dir` (others are ignored)."""
    if not tf.io.gfile.isdir(serving_dir):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(serving_dir))
    return sorted(int(name) for name in names if name.isdigit())


def publish(
    files: dict[str, str], model_dir: str, serving_dir: str, texts: dict[str, str] | None = None
) -> int:
    """Copies `model_dir` plus `files` (relative path in the version → source file) and `texts`
    (relative path → content) as a new version.

    Returns:
        The published version number.
    """
    tf.io.gfile.makedirs(serving_dir)
    version = (existing_versions(serving_dir) or [0])[-1] + 1
    staging = os.path.join(serving_dir, f".partial-{version}-{os.getpid()}")
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    io_utils.copy_dir(model_dir, staging)
    for relative, source in files.items():
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(staging, relative)))
        tf.io.gfile.copy(source, os.path.join(staging, relative), overwrite=True)
    for relative, content in (texts or {}).items():
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(staging, relative)))
        with tf.io.gfile.GFile(os.path.join(staging, relative), "w") as f:
            f.write(content)
    while True:
        target = os.path.join(serving_dir, str(version))
        if not tf.io.gfile.exists(target):
            tf.io.gfile.rename(staging, target)
            return version
        version += 1  # another run published this number meanwhile


@tfx.dsl.components.component
def AtomicPusher(  # noqa: N802 - TFX names components like classes
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    model_blessing: tfx.dsl.components.InputArtifact[standard_artifacts.ModelBlessing],
    model_run: tfx.dsl.components.InputArtifact[standard_artifacts.ModelRun],
    statistics: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleStatistics],
    schema: tfx.dsl.components.InputArtifact[standard_artifacts.Schema],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    pushed_model: tfx.dsl.components.OutputArtifact[standard_artifacts.PushedModel],
    serving_dir: tfx.dsl.components.Parameter[str],
    features: tfx.dsl.components.Parameter[str],
    problem_type: tfx.dsl.components.Parameter[str],
) -> None:
    """Pushes when the blessing says so and the model is not published yet.

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
    }
    with tf.io.gfile.GFile(os.path.join(model_run.uri, EVAL_PREDICTIONS_FILE)) as f:
        eval_predictions = json.load(f)
    reference = build_reference(
        examples.uri,
        read_schema(schema.uri),
        eval_predictions,
        [tuple(f) for f in json.loads(features)],
        problem_type,
    )
    version = publish(
        files,
        path_utils.serving_model_path(model.uri),
        serving_dir,
        texts={
            f"{ASSETS_EXTRA}/{SOURCE_FILE}": model.uri,
            f"{ASSETS_EXTRA}/{REFERENCE_FILE}": json.dumps(reference),
        },
    )
    pushed_model.set_int_custom_property("pushed", 1)
    pushed_model.set_int_custom_property("pushed_version", version)
    pushed_model.set_string_custom_property(
        "pushed_destination", os.path.join(serving_dir, str(version))
    )
