"""The browser demo (web/demo, served by `dlwp serve` at /demo/) in headless Chromium, on a tiny
TF.js export: the page predicts what the SavedModel predicts, and fails visibly, never hangs."""

import http.client
import os
import shutil

import numpy as np
import pytest
from browser import assert_matches_golden, chromium, open_demo
from servers import running_server, settings_for
from tfjs_exports import saved_model_predict, write_saved_model, write_tiny_export

from serving.demo import default_web_dir

MODEL = "tiny"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> str:
    return write_saved_model(str(tmp_path_factory.mktemp("tiny-saved-model") / "model"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory, saved_model) -> tuple[str, dict]:
    """The exports folder with `tiny` version 1, and its golden.json."""
    exports_dir = str(tmp_path_factory.mktemp("home") / "exports")
    return exports_dir, write_tiny_export(exports_dir, MODEL, saved_model)


@pytest.fixture(scope="module")
def server(exports, tmp_path_factory):
    settings = settings_for(
        models_dir=str(tmp_path_factory.mktemp("no-models")), exports_dir=exports[0]
    )
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


def _raw_get(server, path: str) -> tuple[int, bytes]:
    """GET with the path sent as written (HTTP clients would resolve `..` themselves)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_page_predicts_the_golden_images_like_the_saved_model(server, browser, exports):
    golden = exports[1]
    demo = open_demo(browser, f"{server.url}/demo/?model={MODEL}")
    assert_matches_golden(demo, golden)
    labels = demo.page.eval_on_selector_all("#golden figure", "fs => fs.map(f => +f.dataset.label)")
    assert labels == golden["labels"]
    assert "class-" in demo.page.inner_text("#golden")


def test_drawing_is_predicted_like_the_saved_model(server, browser, saved_model):
    demo = open_demo(browser, f"{server.url}/demo/?model={MODEL}")
    assert demo.status == "ready", demo.message
    demo.draw([(0.3, 0.2), (0.7, 0.2), (0.5, 0.8)])
    demo.page.click("#predict-drawing")
    last = demo.last_prediction("#draw-result")
    pixels = np.array(last["pixels"])
    assert last["source"] == "draw" and pixels.shape == (784,)
    assert pixels.max() > 200 and pixels[0] == 0  # white strokes on black
    expected = saved_model_predict(saved_model, [pixels])
    assert last["classId"] == int(expected["class_ids"][0])
    np.testing.assert_allclose(last["scores"], expected["scores"][0], atol=1e-4)

    demo.page.click("#clear-drawing")
    assert demo.page.inner_text("#draw-result") == ""


def test_light_upload_is_inverted_and_predicted(server, browser, saved_model, tmp_path):
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(picture).rectangle((40, 20, 80, 60), fill="black")
    picture.save(tmp_path / "shirt.png")
    demo = open_demo(browser, f"{server.url}/demo/?model={MODEL}")
    assert demo.status == "ready", demo.message
    demo.page.set_input_files("#upload", str(tmp_path / "shirt.png"))
    last = demo.last_prediction("#upload-result")
    pixels = np.array(last["pixels"]).reshape(28, 28)
    assert last["source"] == "upload"
    assert pixels[0, 0] < 10 and pixels[14, 14] > 245  # dark background, light object
    expected = saved_model_predict(saved_model, [pixels.reshape(-1)])
    assert last["classId"] == int(expected["class_ids"][0])


def test_missing_export_shows_an_error(server, browser):
    demo = open_demo(browser, f"{server.url}/demo/?model=never_trained", timeout_s=30)
    assert demo.status == "error"
    assert 'No export of model "never_trained"' in demo.message


def test_missing_format_shows_an_error(server, browser):
    demo = open_demo(browser, f"{server.url}/demo/?model={MODEL}&format=tfjs_uint8", timeout_s=30)
    assert demo.status == "error"
    assert "no tfjs_uint8 model" in demo.message


def test_page_without_exports_dir_shows_an_error_and_server_keeps_serving(browser, toy_models):
    with running_server(settings_for(models_dir=toy_models)) as plain:
        demo = open_demo(browser, f"{plain.url}/demo/", timeout_s=30)
        assert demo.status == "error"
        assert 'No export of model "fashion_mnist"' in demo.message
        with plain.client() as client:
            assert client.get("/v1/models/toy").status_code == 200
            assert client.get("/exports/fashion_mnist/latest.json").status_code == 404


def test_missing_tfjs_answers_404_and_page_says_run_make_install(browser, exports, tmp_path):
    web_dir = tmp_path / "web"
    shutil.copytree(os.path.join(default_web_dir(), "demo"), web_dir / "demo")
    settings = settings_for(models_dir=str(tmp_path), exports_dir=exports[0], web_dir=str(web_dir))
    with running_server(settings) as server:
        with server.client() as client:
            response = client.get("/demo/tf.min.js")
            assert response.status_code == 404 and "make install" in response.text
        demo = open_demo(browser, f"{server.url}/demo/?model={MODEL}", timeout_s=30)
        assert demo.status == "error"
        assert "run make install" in demo.message


@pytest.mark.parametrize(
    "path",
    [
        "/exports/../outside.txt",
        "/exports/%2e%2e/outside.txt",
        "/exports/tiny/../../outside.txt",
        "/exports/..%2foutside.txt",
    ],
)
def test_path_traversal_out_of_exports_is_refused(server, exports, path):
    home = os.path.dirname(exports[0])
    with open(os.path.join(home, "outside.txt"), "w") as f:
        f.write("secret")
    status, body = _raw_get(server, path)
    assert status == 404 and b"secret" not in body


def test_exports_have_no_directory_listing(server):
    for path in ("/exports/", "/exports/tiny/", "/exports/tiny/1/tfjs_float32/"):
        assert _raw_get(server, path)[0] == 404


def test_demo_files_are_served_and_add_no_metric_series(server):
    with server.client() as client:
        before = client.get("/metrics").text
        assert client.get("/demo", follow_redirects=True).url.path == "/demo/"
        assert "app.js" in client.get("/demo/").text
        assert client.get("/demo/app.js").status_code == 200
        assert client.get("/demo/tf.min.js").status_code == 200
        assert client.get(f"/exports/{MODEL}/latest.json").json() == {"version": 1}
        assert client.get("/exports/tiny/9/golden.json").status_code == 404
        after = client.get("/metrics").text
    assert after == before
