"""InferenceExporter: every pushed model also ships as TFLite and TF.js, behind a parity gate.

For each format (components/exporting/formats.py) the exporter converts the model, runs the
file in its real runtime on the test split (the TFLite interpreter; TF.js in Node) and compares
it with the SavedModel (components/exporting/parity.py). Formats within tolerance are published
under `<exports_dir>/<version>/<format>/`, next to `parity.json` (every format, published or
not, and why) and `golden.json` (a few test examples with the SavedModel's answers, for the
browser page and for runtime checks). The version folder appears at once (written beside, then
renamed) and `latest.json` names the newest. A format that fails is recorded, not published;
the run still succeeds.

Inputs: an export takes the raw features of `serving_default` when its runtime can run the
Transform ops in the graph; otherwise it takes the transformed features (the Keras model alone)
and parity.json says `"input": "transformed"`.
"""

import dataclasses
import gzip
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.keras_lib import tf_keras as keras
from tfx import v1 as tfx
from tfx.types import artifact, standard_artifacts
from tfx.utils import io_utils, path_utils

from components.exporting import runtimes, split_inputs
from components.exporting.formats import FORMATS, TFJS, ExportFormat
from components.exporting.parity import compare
from components.signatures import SERVING_DEFAULT, model_outputs
from components.trainer import keras_model_path

PARITY_FILE = "parity.json"
GOLDEN_FILE = "golden.json"
LATEST_FILE = "latest.json"
RAW, TRANSFORMED = "raw", "transformed"
TEST_SPLIT, TRAIN_SPLIT = "test", "train"

log = logging.getLogger(__name__)


class InferenceExports(artifact.Artifact):
    """parity.json of the exports of one model version (the files are published elsewhere)."""

    TYPE_NAME = "dlwp.InferenceExports"


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """What the exporter needs to know about the task, and its knobs."""

    features: tuple[tuple[str, str], ...]
    label: str
    problem_type: str
    metric: str
    tolerance: float | None = None  # None: parity.py's defaults
    max_examples: int = 0  # test examples scored; 0: all
    representative_examples: int = 300
    latency_examples: int = 100
    golden_examples: int = 8
    class_names: tuple[str, ...] | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ExportSettings":
        fields = json.loads(text)
        fields["features"] = tuple(tuple(f) for f in fields["features"])
        if fields.get("class_names") is not None:
            fields["class_names"] = tuple(fields["class_names"])
        return cls(**fields)


def folder_bytes(path: str) -> int:
    """The size of a file, or of all files under a folder."""
    if not tf.io.gfile.isdir(path):
        return tf.io.gfile.stat(path).length
    return sum(
        tf.io.gfile.stat(os.path.join(root, name)).length
        for root, _, files in tf.io.gfile.walk(path)
        for name in files
    )


def checkpoint_weight_bytes(model_dir: str) -> int:
    """Bytes of the weights in a SavedModel's checkpoint (the Keras model alone has no
    optimizer slots), the float32 size every export is compared with."""
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    return sum(
        int(np.prod(shape)) * dtypes[name].size
        for name, shape in reader.get_variable_to_shape_map().items()
        if dtypes[name].is_floating
    )


def _gzip_bytes(path: str) -> int:
    """Compressed size (what pruning shrinks): all files of the export, gzipped together."""
    files = sorted(
        os.path.join(root, name) for root, _, names in tf.io.gfile.walk(path) for name in names
    )
    content = b"".join(tf.io.gfile.GFile(f, "rb").read() for f in files)
    return len(gzip.compress(content, compresslevel=9))


def _weight_bytes(path: str, export_format: ExportFormat) -> int:
    """Bytes of weights: a TF.js model's shards (model.json is the graph), a whole .tflite."""
    if export_format.runtime != TFJS:
        return folder_bytes(path)
    return sum(
        tf.io.gfile.stat(os.path.join(path, name)).length
        for name in tf.io.gfile.listdir(path)
        if name.endswith(".bin")
    )


def _write_json(path: str, content: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(content, f, indent=1, allow_nan=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON: {type(value)}")


def _finite(array: np.ndarray) -> Any:
    """Nested lists for JSON, with NaN (a missing number) as null."""
    if array.dtype.kind != "f":
        return array
    values = array.astype(object)
    values[np.isnan(array)] = None
    return values.tolist()


class _Inputs:
    """The test and representative examples, raw and (on demand) transformed."""

    def __init__(self, examples_uri: str, tft_output, settings: ExportSettings):
        self._tft_output = tft_output
        self._features = list(settings.features)
        test = split_inputs.read_split(examples_uri, TEST_SPLIT, settings.max_examples)
        train = split_inputs.read_split(examples_uri, TRAIN_SPLIT, settings.representative_examples)
        if not test:
            raise ValueError(f"the test split under {examples_uri} is empty")
        self.labels = split_inputs.labels(test, settings.label, settings.problem_type)
        self._serialized = {TEST_SPLIT: test, TRAIN_SPLIT: train}
        raw_spec = tft_output.raw_feature_spec()
        self._cache = {
            (RAW, split): split_inputs.raw_inputs(records, raw_spec, self._features)
            for split, records in self._serialized.items()
        }

    def get(self, mode: str, split: str) -> dict[str, np.ndarray]:
        if (mode, split) not in self._cache:
            self._cache[(mode, split)] = split_inputs.transformed_inputs(
                self._serialized[split], self._tft_output, self._features
            )
        return self._cache[(mode, split)]

    def representative(self, mode: str):
        """The converter's representative dataset: train examples, one at a time."""
        train = self.get(mode, TRAIN_SPLIT)

        def examples() -> Iterator[dict[str, np.ndarray]]:
            for i in range(len(next(iter(train.values())))):
                yield {name: values[i : i + 1] for name, values in train.items()}

        return examples


def _save_transformed_source(keras_model_dir: str, tft_output, settings, target: str) -> None:
    """A SavedModel whose `serving_default` takes transformed features: the model alone."""
    model = keras.models.load_model(keras_model_dir, compile=False)
    spec = tft_output.transformed_feature_spec()
    inputs = {
        name: tf.TensorSpec([None, *spec[name].shape], spec[name].dtype, name=name)
        for name, _ in settings.features
    }

    @tf.function(input_signature=[inputs])
    def serve(features):
        return model_outputs(settings.problem_type, model(features))

    module = tf.Module()
    module.model = model
    tf.saved_model.save(module, target, signatures={SERVING_DEFAULT: serve.get_concrete_function()})


def _run(export_format: ExportFormat, path: str, inputs, latency_examples: int):
    model_path = os.path.join(path, export_format.model_file)
    if export_format.runtime == TFJS:
        return runtimes.tfjs_predict(path, inputs, latency_examples)
    return runtimes.tflite_predict(model_path, inputs, latency_examples)


def _short(error: Exception) -> str:
    """The part of a converter or runtime error that names the problem (converters also print
    MLIR locations, TF.js a banner about its Node backend)."""
    text = str(error)
    if "TF Select ops:" in text:
        ops = text.split("TF Select ops:", 1)[1].splitlines()[0].strip()
        return f"needs TensorFlow ops that the runtime lacks: {ops}"
    lines = [
        line
        for line in text.splitlines()
        if line.strip()
        and "=====" not in line
        and "tfjs-node" not in line
        and "TensorFlow.js in Node.js" not in line
    ]
    return " ".join(lines)[:800]


def _input_description(inputs: dict[str, np.ndarray]) -> dict[str, dict]:
    return {
        name: {
            "dtype": str(array.dtype) if array.dtype.kind != "S" else "string",
            "shape": [None, *array.shape[1:]],
        }
        for name, array in inputs.items()
    }


def export_model(
    served_model_dir: str,
    keras_model_dir: str,
    examples_uri: str,
    transform_graph_uri: str,
    work_dir: str,
    settings: ExportSettings,
    formats: tuple[ExportFormat, ...] = FORMATS,
) -> dict[str, Any]:
    """Converts, runs and judges every format; the files are left under `work_dir/<format>/`.

    Returns:
        The parity report (parity.json), with the golden examples under the key "golden".
    """
    tft_output = tft.TFTransformOutput(transform_graph_uri)
    inputs = _Inputs(examples_uri, tft_output, settings)
    signature = tf.saved_model.load(served_model_dir).signatures[SERVING_DEFAULT]
    reference, reference_latency = runtimes.saved_model_predict(
        signature, inputs.get(RAW, TEST_SPLIT), settings.latency_examples
    )
    reference_size = checkpoint_weight_bytes(keras_model_dir)
    sources = {RAW: served_model_dir}
    report_formats: dict[str, dict] = {}
    unconvertible: dict[tuple[str, str], str] = {}  # (runtime, input) -> format that failed
    for export_format in formats:
        path = os.path.join(work_dir, export_format.name)
        errors = []
        for mode in (RAW, TRANSFORMED):
            if mode not in sources:
                sources[mode] = os.path.join(work_dir, "transformed_source")
                _save_transformed_source(keras_model_dir, tft_output, settings, sources[mode])
            if tf.io.gfile.exists(path):
                tf.io.gfile.rmtree(path)
            base_error = unconvertible.get((export_format.runtime, mode))
            if base_error:  # an optimized variant fails on the same ops (int8 calibration
                # even crashes the process on them), so it is not tried
                errors.append(f"{mode} input: as for {base_error}")
                continue
            try:
                export_format.convert(sources[mode], path, inputs.representative(mode))
                outputs, latency = _run(
                    export_format, path, inputs.get(mode, TEST_SPLIT), settings.latency_examples
                )
            except runtimes.RuntimeUnavailableError as error:
                errors.append(str(error))
                break  # the other input form needs the same runtime
            except Exception as error:  # noqa: BLE001 - any converter or runtime failure
                log.warning("%s with %s input failed: %s", export_format.name, mode, error)
                errors.append(f"{mode} input: {type(error).__name__}: {_short(error)}")
                unconvertible.setdefault((export_format.runtime, mode), export_format.name)
                continue
            comparison = compare(
                settings.metric,
                settings.problem_type,
                outputs,
                reference,
                inputs.labels,
                settings.tolerance,
            )
            weight_bytes = _weight_bytes(path, export_format)
            report_formats[export_format.name] = {
                "runtime": export_format.runtime,
                "description": export_format.description,
                "input": mode,
                "inputs": _input_description(inputs.get(mode, TEST_SPLIT)),
                "size_bytes": folder_bytes(path),
                "weight_bytes": weight_bytes,
                "gzip_bytes": _gzip_bytes(path),
                "size_ratio": round(weight_bytes / reference_size, 4),
                "metric": comparison.metric,
                "delta": comparison.delta,
                "agreement": comparison.agreement,
                "max_abs_diff": comparison.max_abs_diff,
                "latency_ms": latency,
                "published": comparison.passed,
                "reason": comparison.reason,
                "errors": errors,
            }
            log.info("%s: %s", export_format.name, report_formats[export_format.name])
            break
        if export_format.name not in report_formats:
            report_formats[export_format.name] = {
                "runtime": export_format.runtime,
                "description": export_format.description,
                "published": False,
                "reason": "; ".join(errors),
                "errors": errors,
            }
    golden = settings.golden_examples
    raw_test = inputs.get(RAW, TEST_SPLIT)
    golden_inputs = {name: _finite(values[:golden]) for name, values in raw_test.items()}
    used = {f.get("input") for f in report_formats.values()}
    return {
        "metric": settings.metric,
        "test_examples": int(len(inputs.labels)),
        "tolerance": settings.tolerance,
        "reference": {
            "format": "saved_model",
            "weight_bytes": reference_size,
            "gzip_bytes": _gzip_bytes(os.path.join(keras_model_dir, "variables")),
            "metric": compare(
                settings.metric, settings.problem_type, reference, reference, inputs.labels
            ).metric,
            "latency_ms": reference_latency,
        },
        "formats": report_formats,
        "golden": {
            "input": report_formats.get("tfjs_float32", {}).get("input", RAW),
            "inputs": golden_inputs,
            "transformed_inputs": (
                {k: v[:golden] for k, v in inputs.get(TRANSFORMED, TEST_SPLIT).items()}
                if TRANSFORMED in used
                else None
            ),
            "labels": inputs.labels[:golden],
            "outputs": {key: value[:golden] for key, value in reference.items()},
            "class_names": list(settings.class_names) if settings.class_names else None,
        },
    }


def publish_exports(
    report: dict[str, Any], work_dir: str, exports_dir: str, model: str, version: int
) -> str:
    """Publishes the formats that passed as `<exports_dir>/<version>/`, all at once; moves
    `latest.json` forward. Returns the version folder."""
    target = os.path.join(exports_dir, str(version))
    staging = os.path.join(exports_dir, f".partial-{version}-{os.getpid()}")
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)
    tf.io.gfile.makedirs(staging)
    for name, result in report["formats"].items():
        if result["published"]:
            io_utils.copy_dir(os.path.join(work_dir, name), os.path.join(staging, name))
    golden = {"model": model, "version": version, **report["golden"]}
    parity = {
        "model": model,
        "version": version,
        **{k: v for k, v in report.items() if k != "golden"},
    }
    _write_json(os.path.join(staging, GOLDEN_FILE), golden)
    _write_json(os.path.join(staging, PARITY_FILE), parity)
    tf.io.gfile.rename(staging, target)
    latest_path = os.path.join(exports_dir, LATEST_FILE)
    latest = 0
    if tf.io.gfile.exists(latest_path):
        latest = json.loads(tf.io.gfile.GFile(latest_path).read()).get("version", 0)
    if version >= latest:
        _write_json(latest_path + ".partial", {"version": version})
        tf.io.gfile.rename(latest_path + ".partial", latest_path, overwrite=True)
    return target


def pushed_version(pushed_model) -> int | None:
    """The serving version the Pusher published this model as (now or in an earlier run)."""
    if pushed_model.get_int_custom_property("pushed") == 1:
        return pushed_model.get_int_custom_property("pushed_version")
    if pushed_model.has_custom_property("serving_version"):
        return pushed_model.get_int_custom_property("serving_version")
    return None


@tfx.dsl.components.component
def InferenceExporter(  # noqa: N802 - TFX names components like classes
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    pushed_model: tfx.dsl.components.InputArtifact[standard_artifacts.PushedModel],
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    transform_graph: tfx.dsl.components.InputArtifact[standard_artifacts.TransformGraph],
    exports: tfx.dsl.components.OutputArtifact[InferenceExports],
    exports_dir: tfx.dsl.components.Parameter[str],
    model_name: tfx.dsl.components.Parameter[str],
    settings: tfx.dsl.components.Parameter[str],
) -> None:
    """Exports the pushed version of `model`; records `exported_version` (0: nothing pushed) and
    `reused` (1: that version was exported by an earlier run)."""
    version = pushed_version(pushed_model)
    exports.set_int_custom_property("exported_version", version or 0)
    if version is None:
        return
    published = os.path.join(exports_dir, str(version), PARITY_FILE)
    exports.set_int_custom_property("reused", 0)
    if tf.io.gfile.exists(published):  # exported when it was pushed; exports never change
        tf.io.gfile.copy(published, os.path.join(exports.uri, PARITY_FILE), overwrite=True)
        exports.set_int_custom_property("reused", 1)
        return
    # Every format's files stay in the artifact, published or not, for a closer look.
    work_dir = os.path.join(exports.uri, "formats")
    report = export_model(
        path_utils.serving_model_path(model.uri),
        keras_model_path(model.uri),
        examples.uri,
        transform_graph.uri,
        work_dir,
        ExportSettings.from_json(settings),
    )
    target = publish_exports(report, work_dir, exports_dir, model_name, version)
    tf.io.gfile.copy(
        os.path.join(target, PARITY_FILE), os.path.join(exports.uri, PARITY_FILE), overwrite=True
    )
