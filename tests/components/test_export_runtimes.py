"""TF.js exports run in Node on TF.js's WebAssembly backend, and on its pure-JS one when the graph
needs a kernel the WebAssembly backend lacks (docs/exports.md); expected values come from numpy."""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from components.exporting import runtimes
from components.exporting.formats import FORMATS

TFJS_FLOAT32 = next(f for f in FORMATS if f.name == "tfjs_float32")
WEIGHTS = np.arange(6, dtype=np.float32).reshape(3, 2) / 6
INPUTS = np.random.default_rng(0).random((5, 3)).astype(np.float32)


def _tfjs_model(tmp_path, product) -> str:
    """A TF.js graph model of `serving_default`: {"scores": product(x, WEIGHTS)}."""

    @tf.function(input_signature=[{"x": tf.TensorSpec([None, 3], tf.float32, name="x")}])
    def serve(features):
        return {"scores": product(features["x"], tf.constant(WEIGHTS))}

    saved_model = str(tmp_path / "saved_model")
    tf.saved_model.save(
        tf.Module(), saved_model, signatures={"serving_default": serve.get_concrete_function()}
    )
    folder = str(tmp_path / "tfjs")
    TFJS_FLOAT32.convert(saved_model, folder, lambda: iter([]))
    return folder


def _run_in_node(tmp_path, folder: str, **request) -> dict:
    try:
        command = runtimes.node_command()
    except runtimes.RuntimeUnavailableError as error:
        pytest.skip(str(error))
    values = INPUTS.reshape(-1).tolist()
    request = {
        "model_dir": folder,
        "inputs": {"x": {"dtype": "float32", "shape": list(INPUTS.shape), "values": values}},
        **request,
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    response = tmp_path / "response.json"
    done = subprocess.run(
        [*command, str(tmp_path / "request.json"), str(response)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(response.read_text())


def _scores(response: dict) -> np.ndarray:
    scores = response["outputs"]["scores"]
    return np.asarray(scores["values"]).reshape(scores["shape"])


def test_a_dense_graph_runs_on_the_webassembly_backend_with_the_pure_js_answers(tmp_path):
    folder = _tfjs_model(tmp_path, tf.matmul)
    wasm = _run_in_node(tmp_path, folder)  # the default backend
    pure_js = _run_in_node(tmp_path, folder, backend="cpu")
    assert (wasm["backend"], pure_js["backend"]) == ("wasm", "cpu")
    np.testing.assert_allclose(_scores(wasm), INPUTS @ WEIGHTS, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_scores(pure_js), INPUTS @ WEIGHTS, rtol=1e-5, atol=1e-6)


def test_a_graph_with_a_kernel_webassembly_lacks_runs_on_the_pure_js_backend(tmp_path):
    # Einsum is a kernel of the pure-JS backend only (TF.js 4.17).
    folder = _tfjs_model(tmp_path, lambda x, w: tf.einsum("ij,jk->ik", x, w))
    response = _run_in_node(tmp_path, folder, backend="wasm", latency_examples=2)
    assert response["backend"] == "cpu"
    assert len(response["latency_ms"]) == 2
    np.testing.assert_allclose(_scores(response), INPUTS @ WEIGHTS, rtol=1e-5, atol=1e-6)


def test_tfjs_predict_answers_for_every_row_and_times_single_examples(tmp_path):
    folder = _tfjs_model(tmp_path, tf.matmul)
    try:
        outputs, latency_ms = runtimes.tfjs_predict(folder, {"x": INPUTS}, latency_examples=3)
    except runtimes.RuntimeUnavailableError as error:
        pytest.skip(str(error))
    np.testing.assert_allclose(outputs["scores"], INPUTS @ WEIGHTS, rtol=1e-5, atol=1e-6)
    assert latency_ms is not None and latency_ms > 0


def test_a_missing_webassembly_backend_is_named_with_the_install_hint(monkeypatch, tmp_path):
    web = tmp_path / "web"
    for name in ("tfjs-core", "tfjs-converter", "tfjs-backend-cpu"):
        (web / "node_modules" / "@tensorflow" / name).mkdir(parents=True)
        (web / "node_modules" / "@tensorflow" / name / "package.json").write_text("{}")
    (web / runtimes.NODE_RUNNER).write_text("")
    monkeypatch.setattr(runtimes, "WEB_DIR", str(web))
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: "/usr/bin/node")
    with pytest.raises(runtimes.RuntimeUnavailableError) as raised:
        runtimes.node_command()
    message = str(raised.value)
    assert os.path.join("@tensorflow", "tfjs-backend-wasm", "package.json") in message
    assert "tfjs-core" not in message
    assert "make install" in message
