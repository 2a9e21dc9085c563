"""The demo page with the real Fashion-MNIST TF.js export: in headless Chromium, the
page's predictions for the shown test images equal the SavedModel's (golden.json)."""

import json
import os

import pytest
from browser import assert_matches_golden, chromium, open_demo
from servers import running_server, settings_for

pytestmark = pytest.mark.e2e

MODEL = "fashion_mnist"
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


@pytest.fixture
def demo_server(fashion_home, tmp_path):
    """`dlwp serve` over the home's exports (no models needed for the page)."""
    settings = settings_for(
        models_dir=str(tmp_path), exports_dir=os.path.join(fashion_home, "exports")
    )
    with running_server(settings) as server:
        yield server


def _golden(home: str) -> dict:
    exports = os.path.join(home, "exports", MODEL)
    with open(os.path.join(exports, "latest.json")) as f:
        version = json.load(f)["version"]
    with open(os.path.join(exports, str(version), "golden.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("backend", ["", "cpu"])
def test_page_predicts_the_test_images_like_the_saved_model(
    fashion_home, demo_server, browser, backend
):
    golden = _golden(fashion_home)
    query = f"?model={MODEL}&format=tfjs_float32" + (f"&backend={backend}" if backend else "")
    demo = open_demo(browser, f"{demo_server.url}/demo/{query}")
    assert_matches_golden(demo, golden)
    first = golden["outputs"]["class_ids"][0]
    assert golden["class_names"] == CLASS_NAMES  # from the task spec
    assert CLASS_NAMES[first] in demo.page.inner_text("#golden figure")


def test_quantized_exports_load_in_the_page(fashion_home, demo_server, browser):
    golden = _golden(fashion_home)
    version_dir = os.path.join(fashion_home, "exports", MODEL, str(golden["version"]))
    for name in ("tfjs_uint8", "tfjs_float16"):
        assert os.path.isfile(os.path.join(version_dir, name, "model.json")), name
        demo = open_demo(browser, f"{demo_server.url}/demo/?model={MODEL}&format={name}")
        assert demo.status == "ready", f"{name}: {demo.message}"
        assert len(demo.predicted("#golden")) == len(golden["labels"])
