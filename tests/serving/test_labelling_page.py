"""The labelling page (serving/labelling.py) in headless Chromium, and its queue: the hardest
logged example first, shown as a picture; a click on a class stores the label with source
"page" and the queue moves on."""

import base64
import io
import os

import httpx
import numpy as np
import pytest
from browser import chromium
from labelled_feedback import CLASS_NAMES, CLOTHES, HOUSES, running_label_app, write_feedback
from PIL import Image
from servers import wait_for

from contract.feedback_index import IndexReader


@pytest.fixture
def feedback(tmp_path):
    return write_feedback(str(tmp_path))


@pytest.fixture
def app(feedback):
    with running_label_app(feedback) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


# Polled from here: Playwright's wait_for_function evaluates its predicate with eval, which the
# page's Content-Security-Policy forbids.
def settled(page) -> bool:
    return page.evaluate("document.body.dataset.status") != "loading"


def labelled_count(page) -> int:
    return int(page.evaluate("document.body.dataset.labelled"))


def queue(app, model: str, **params) -> httpx.Response:
    return httpx.get(f"{app.url}/label/{model}/queue", params=params, timeout=30)


def hardest_first(feedback, model: str) -> list[tuple[str, int]]:
    """The logged examples' keys by margin, smallest first (ties: the order they were sent)."""
    logged = feedback.logged(model)
    order = sorted(range(len(logged)), key=lambda i: (logged[i].margin, i))
    return [(logged[i].request_id, logged[i].index) for i in order]


def test_the_queue_is_the_hardest_examples_first_with_the_image_as_a_png(app, feedback):
    answer = queue(app, CLOTHES, limit=5)
    assert answer.status_code == 200, answer.text
    examples = answer.json()["examples"]
    keys = [(e["request_id"], e["index"]) for e in examples]
    expected = hardest_first(feedback, CLOTHES)
    # The three examples of "multi" tie at margin 0; the rest follow by margin.
    assert set(keys[:3]) == set(expected[:3]) and keys[3:] == expected[3:5]
    sent = {(s.request_id, s.index): s for s in feedback.sent}
    first = examples[3]
    original = sent[(first["request_id"], first["index"])]
    assert first["prediction"] == CLASS_NAMES[int(original.prediction)]
    assert first["choices"] == [{"id": i, "name": n} for i, n in enumerate(CLASS_NAMES)]
    assert first["margin"] == pytest.approx(original.margin, abs=1e-6)
    uri = first["example"]["image"]
    assert uri.startswith("data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    pixels = np.asarray(picture)[::4, ::4]  # enlarged 4 times, nearest neighbour
    np.testing.assert_array_equal(pixels.reshape(-1), original.pixels)


def test_a_table_example_shows_its_features_and_a_regression_has_no_choices(app, feedback):
    examples = queue(app, HOUSES, limit=100).json()["examples"]
    assert len(examples) == len(feedback.logged(HOUSES))
    first = examples[0]
    assert first["choices"] is None and first["margin"] is None
    rooms = int(first["request_id"].removeprefix("h"))
    assert first["example"] == {"table": [["rooms", f"{rooms:g}"], ["color", "red"]]}


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
def test_a_bad_limit_is_400(app, limit):
    answer = queue(app, CLOTHES, limit=limit)
    assert answer.status_code == 400
    assert "limit must be an integer from 1 to 100" in answer.json()["error"]


def test_the_page_has_a_strict_content_security_policy(app):
    page = httpx.get(f"{app.url}/label/{CLOTHES}/", timeout=30)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert f'data-model="{CLOTHES}"' in page.text
    assert httpx.get(f"{app.url}/label/.hidden/", timeout=30).status_code == 404
    moved = httpx.get(f"{app.url}/label/{CLOTHES}", timeout=30)
    assert moved.status_code == 307 and moved.headers["location"] == f"/label/{CLOTHES}/"


def test_clicking_a_class_labels_the_hardest_example_and_the_queue_moves_on(app, feedback, browser):
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(f"{app.url}/label/{CLOTHES}/")
    wait_for(lambda: settled(page), 30, "the queue")
    assert page.evaluate("document.body.dataset.status") == "ready", console
    expected = hardest_first(feedback, CLOTHES)
    labelled = []
    for step in range(4):
        shown = page.eval_on_selector(
            "#example", "e => [e.dataset.requestId, Number(e.dataset.index)]"
        )
        assert tuple(shown) in expected[:3] if step < 3 else tuple(shown) == expected[3]
        assert page.locator("#shown img").count() == 1
        assert page.inner_text("#choices").count("dress") == 1
        if step < 3:
            page.click("#choices button[data-label='3']")  # dress
        else:
            page.keyboard.press("2")  # the second class, trouser
        labelled.append(tuple(shown))
        wait_for(lambda n=step + 1: settled(page) and labelled_count(page) == n, 30, "the label")
    assert page.evaluate("document.body.dataset.status") == "ready", console
    assert (
        tuple(
            page.eval_on_selector("#example", "e => [e.dataset.requestId, Number(e.dataset.index)]")
        )
        == expected[4]
    )
    reader = IndexReader(os.path.join(feedback.folder, CLOTHES))
    try:
        stored = reader.latest_labels()
    finally:
        reader.close()
    assert {key: (label.value, label.source) for key, label in stored.items()} == {
        **{key: (3.0, "page") for key in labelled[:3]},
        labelled[3]: (1.0, "page"),
    }
    page.close()


def test_the_page_says_when_the_server_logs_no_feedback(browser):
    with running_label_app(None) as app:
        page = browser.new_page()
        page.goto(f"{app.url}/label/{CLOTHES}/")
        wait_for(lambda: settled(page), 30, "the queue")
        assert page.evaluate("document.body.dataset.status") == "error"
        assert "logs no feedback" in page.inner_text("#status")
        page.close()
