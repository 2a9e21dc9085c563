"""Exports of real runs (docs/exports.md): TFLite and TF.js files, each checked in its own
runtime, the parity gate, and pruning."""

import json
import os
import subprocess

import numpy as np
import pytest

from components.exporting.formats import FORMATS

pytestmark = pytest.mark.e2e
MODEL = "fashion_mnist"
WEB_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "web")


def version_folder(home: str, model: str = MODEL) -> str:
    exports = os.path.join(home, "exports", model)
    with open(os.path.join(exports, "latest.json")) as f:
        return os.path.join(exports, str(json.load(f)["version"]))


def read(folder: str, name: str) -> dict:
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def published(parity: dict, runtime: str) -> list[str]:
    return [n for n, r in parity["formats"].items() if r["published"] and r["runtime"] == runtime]


def test_every_format_is_recorded_and_only_published_ones_are_on_disk(fashion_runs):
    home, (first, second) = fashion_runs
    folder = version_folder(home)
    parity = read(folder, "parity.json")
    assert parity["version"] == first["pushed_version"] == 1
    assert set(parity["formats"]) == {f.name for f in FORMATS}
    assert parity["test_examples"] == first["examples"]["test"]
    for name, result in parity["formats"].items():
        assert os.path.isdir(os.path.join(folder, name)) == result["published"], name
        assert first["exports"][name]["published"] == result["published"]
        assert first["exports"][name]["size_bytes"] == result.get("size_bytes")
    assert second["exports"] is None  # the second run exported nothing new


def test_fashion_exports_reach_their_size_and_accuracy_goals(fashion_home):
    formats = read(version_folder(fashion_home), "parity.json")["formats"]
    assert all(result["input"] == "raw" for result in formats.values())  # no Transform op lost
    tflite32 = formats["tflite_float32"]["size_bytes"]
    tfjs32 = formats["tfjs_float32"]["weight_bytes"]
    for name in ("tflite_dynamic_int8", "tflite_int8"):
        assert formats[name]["size_bytes"] <= 0.27 * tflite32, name
        assert abs(formats[name]["delta"]) <= 0.005 and formats[name]["published"], name
    assert 0.45 <= formats["tflite_float16"]["size_bytes"] / tflite32 <= 0.55
    assert abs(formats["tflite_float16"]["delta"]) <= 0.001
    assert formats["tfjs_uint8"]["weight_bytes"] <= 0.27 * tfjs32
    assert abs(formats["tfjs_uint8"]["delta"]) <= 0.005
    assert abs(formats["tfjs_float16"]["delta"]) <= 0.001
    assert all(result["published"] for result in formats.values())


def _agree(name: str, scores: np.ndarray, golden: dict) -> None:
    expected = np.asarray(golden["outputs"]["scores"])
    same_class = np.argmax(scores, axis=1) == np.asarray(golden["outputs"]["class_ids"])
    if "float32" in name:
        assert same_class.all(), name
        np.testing.assert_allclose(scores, expected, atol=1e-5)
    else:  # quantized: a borderline image may flip, scores move a little
        assert same_class.mean() >= 7 / 8, name
        np.testing.assert_allclose(scores, expected, atol=0.1)


def test_tflite_files_reproduce_the_saved_model_in_the_interpreter(fashion_home):
    import tensorflow as tf

    folder = version_folder(fashion_home)
    parity, golden = read(folder, "parity.json"), read(folder, "golden.json")
    images = np.asarray(golden["inputs"]["image"], np.int64)
    assert len(images) == 8 and len(published(parity, "tflite")) == 4
    for name in published(parity, "tflite"):
        interpreter = tf.lite.Interpreter(model_path=os.path.join(folder, name, "model.tflite"))
        outputs = interpreter.get_signature_runner("serving_default")(image=images)
        _agree(name, outputs["scores"], golden)


def test_tfjs_in_node_reproduces_the_saved_model_on_the_golden_set(fashion_home, tmp_path):
    folder = version_folder(fashion_home)
    parity, golden = read(folder, "parity.json"), read(folder, "golden.json")
    images = golden["inputs"]["image"]
    assert len(published(parity, "tfjs")) == 3
    for name in published(parity, "tfjs"):
        request = {
            "model_dir": os.path.join(folder, name),
            "inputs": {
                "image": {
                    "dtype": "int32",
                    "shape": [len(images), 784],
                    "values": [v for row in images for v in row],
                }
            },
        }
        (tmp_path / "request.json").write_text(json.dumps(request))
        done = subprocess.run(
            [
                "node",
                os.path.join(WEB_DIR, "predict.mjs"),
                str(tmp_path / "request.json"),
                str(tmp_path / "response.json"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        scores = json.loads((tmp_path / "response.json").read_text())["outputs"]["scores"]
        _agree(name, np.asarray(scores["values"]).reshape(scores["shape"]), golden)


def _latest_artifact(home: str, *parts: str) -> str:
    folder = os.path.join(home, "pipelines", MODEL, *parts)
    return os.path.join(folder, max(os.listdir(folder), key=int))


def test_a_format_that_misses_the_tolerance_is_recorded_and_not_published(fashion_home, tmp_path):
    from components.exporting.exporter import ExportSettings, export_model, publish_exports
    from pipelines.tasks import BOOK_TASKS

    model = _latest_artifact(fashion_home, "Trainer", "model")
    # A tolerance no export can meet: it would have to beat the SavedModel by 50 points.
    settings = ExportSettings(tolerance=-0.5, max_examples=300)
    report = export_model(
        os.path.join(model, "Format-Serving"),
        os.path.join(model, "Format-Keras"),
        _latest_artifact(fashion_home, "ExampleGen", "examples"),
        _latest_artifact(fashion_home, "Transform", "transform_graph"),
        str(tmp_path / "work"),
        BOOK_TASKS[MODEL].contract(),
        settings,
        formats=(FORMATS[0], FORMATS[4]),
    )
    target = publish_exports(report, str(tmp_path / "work"), str(tmp_path / "exports"), MODEL, 7)
    for name in ("tflite_float32", "tfjs_float32"):
        result = report.formats[name].to_json()
        assert not result["published"] and "below the SavedModel" in result["reason"]
        assert result["agreement"] == 1.0  # the files themselves are fine
        assert os.path.exists(os.path.join(tmp_path, "work", name))  # kept in the artifact
    assert sorted(os.listdir(target)) == ["golden.json", "parity.json"]
    assert read(str(tmp_path / "exports"), "latest.json") == {"version": 7}


def test_pruned_run_reports_its_sparsity_and_smaller_gzipped_exports(
    pruned_fashion_run, fashion_home
):
    home, summary = pruned_fashion_run
    assert summary["training"]["pruning"]["target"] == 0.8
    assert summary["training"]["pruning"]["sparsity"] == pytest.approx(0.8, abs=0.01)
    pruned = summary["exports"]["tflite_float32"]
    dense = read(version_folder(fashion_home), "parity.json")["formats"]["tflite_float32"]
    assert pruned["size_bytes"] == pytest.approx(dense["size_bytes"], rel=0.01)  # same shape
    assert pruned["gzip_bytes"] < 0.5 * dense["gzip_bytes"]
