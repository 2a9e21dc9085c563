"""`POST /v1/models/<model>:feedback` (serving/feedback_api.py): labels join the examples the
feedback log kept, on a real log written by the feedback logger, all or nothing."""

import os

import httpx
import pytest
from labelled_feedback import CLOTHES, HOUSES, RATE, running_label_app, write_feedback

from contract.feedback_index import IndexReader


@pytest.fixture
def feedback(tmp_path):
    return write_feedback(str(tmp_path))


@pytest.fixture
def app(feedback):
    with running_label_app(feedback) as running:
        yield running


def post(app, model: str, body, **kwargs) -> httpx.Response:
    with httpx.Client(base_url=app.url, timeout=30) as client:
        if isinstance(body, bytes):
            return client.post(f"/v1/models/{model}:feedback", content=body, **kwargs)
        return client.post(f"/v1/models/{model}:feedback", json=body, **kwargs)


def stored_labels(feedback, model: str) -> dict:
    """(request_id, index) -> Label, read back from every index file of the folder."""
    reader = IndexReader(os.path.join(feedback.folder, model))
    try:
        return reader.latest_labels()
    finally:
        reader.close()


def single(feedback, model: str):
    """Logged one-example requests of `model`."""
    return [s for s in feedback.logged(model) if s.request_id != "multi"]


def test_labels_of_logged_requests_are_stored_by_class_id_and_name(app, feedback):
    first, second, third = single(feedback, CLOTHES)[:3]
    answer = post(app, CLOTHES, {"request_id": first.request_id, "label": 2})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "relabelled": 0}
    answer = post(
        app,
        CLOTHES,
        [
            {"request_id": second.request_id, "label": "dress"},
            {"request_id": third.request_id, "label": 1.0, "source": "page"},
        ],
    )
    assert answer.json() == {"accepted": 2, "relabelled": 0}
    labels = stored_labels(feedback, CLOTHES)
    assert {key: (label.value, label.source) for key, label in labels.items()} == {
        (first.request_id, 0): (2.0, "api"),
        (second.request_id, 0): (3.0, "api"),
        (third.request_id, 0): (1.0, "page"),
    }


def test_a_regression_label_is_a_number(app, feedback):
    house = single(feedback, HOUSES)[0]
    answer = post(app, HOUSES, {"request_id": house.request_id, "label": 251.5})
    assert answer.status_code == 200, answer.text
    assert stored_labels(feedback, HOUSES)[(house.request_id, 0)].value == 251.5


def test_a_relabel_replaces_the_label_and_is_counted(app, feedback):
    example = single(feedback, CLOTHES)[0]
    assert post(app, CLOTHES, {"request_id": example.request_id, "label": 0}).status_code == 200
    answer = post(app, CLOTHES, [{"request_id": example.request_id, "label": 3}])
    assert answer.json() == {"accepted": 1, "relabelled": 1}
    assert stored_labels(feedback, CLOTHES)[(example.request_id, 0)].value == 3.0


def test_an_unknown_request_id_is_404_naming_it_and_the_rate(app, feedback):
    sent = {s.request_id for s in feedback.sent if s.model == CLOTHES}
    dropped = next(r for r in sorted(sent) if (r, 0) not in feedback.logged_keys(CLOTHES))
    for request_id in ("never-answered", dropped):
        answer = post(app, CLOTHES, {"request_id": request_id, "label": 1})
        assert answer.status_code == 404
        message = answer.json()["error"]
        assert f"request id {request_id} is not in the feedback log of {CLOTHES}" in message
        assert f"--feedback-rate {RATE:g}" in message


@pytest.mark.parametrize(
    ("label", "says"),
    [
        (4, "out of range; give a class id 0 to 3"),
        (-1, "out of range"),
        (2.5, "not a class id (an integer)"),
        (True, "is a boolean"),
        ("cat", "'cat' is not a class name"),
        (None, "is not a class"),
        ([1], "is not a class"),
    ],
)
def test_a_bad_class_label_in_a_list_is_400_naming_it_and_nothing_is_stored(
    app, feedback, label, says
):
    good, bad = single(feedback, CLOTHES)[:2]
    body = [
        {"request_id": good.request_id, "label": 1},
        {"request_id": bad.request_id, "label": label},
    ]
    answer = post(app, CLOTHES, body)
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]
    assert message.startswith("item 1: label") and says in message, message
    assert stored_labels(feedback, CLOTHES) == {}


@pytest.mark.parametrize("label", ["NaN", "Infinity", '"250"', "true"])
def test_a_regression_label_must_be_a_finite_number(app, feedback, label):
    house = single(feedback, HOUSES)[0]
    body = f'{{"request_id": "{house.request_id}", "label": {label}}}'.encode()
    answer = post(app, HOUSES, body)
    assert answer.status_code == 400, answer.text
    assert "label" in answer.json()["error"]
    assert stored_labels(feedback, HOUSES) == {}


def test_an_unknown_id_in_a_list_is_404_naming_its_item_and_nothing_is_stored(app, feedback):
    good = single(feedback, CLOTHES)[0]
    body = [{"request_id": good.request_id, "label": 1}, {"request_id": "nope", "label": 1}]
    answer = post(app, CLOTHES, body)
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("item 1: request id nope is not in")
    assert stored_labels(feedback, CLOTHES) == {}


def test_a_request_of_several_examples_needs_the_index(app, feedback):
    answer = post(app, CLOTHES, {"request_id": "multi", "label": 1})
    assert answer.status_code == 400
    assert (
        'logged its examples [0, 1, 2]: say which one the label is for with "index"'
        in (answer.json()["error"])
    )
    answer = post(app, CLOTHES, {"request_id": "multi", "index": 2, "label": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": 1, "relabelled": 0}
    assert post(app, CLOTHES, {"request_id": "multi", "index": 7, "label": 1}).status_code == 404
    assert set(stored_labels(feedback, CLOTHES)) == {("multi", 2)}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[]", "a non-empty list"),
        (b'"label"', "a non-empty list"),
        (b"{not json", "not valid JSON"),
        (b'{"request_id": "c1"}', "no label for request c1"),
        (b'{"request_id": "", "label": 1}', "request_id must be"),
        (b'{"request_id": "c1", "label": 1, "lable": 2}', "unknown field lable"),
        (b'{"request_id": "c1", "label": 1, "index": -1}', "index must be"),
        (b'{"request_id": "c1", "label": 1, "index": 1.0}', "index must be"),
        (b'{"request_id": "c1", "label": 1, "source": "me"}', "source must be"),
    ],
)
def test_a_malformed_body_is_400_saying_what_is_wrong(app, body, says):
    answer = post(app, CLOTHES, body)
    assert answer.status_code == 400
    assert says in answer.json()["error"]


def test_the_same_example_twice_in_one_body_is_refused(app, feedback):
    example = single(feedback, CLOTHES)[0]
    body = [{"request_id": example.request_id, "label": i} for i in (1, 2)]
    answer = post(app, CLOTHES, body)
    assert answer.status_code == 400
    assert "item 1: it labels the same example as item 0" in answer.json()["error"]
    assert stored_labels(feedback, CLOTHES) == {}


def test_more_than_a_thousand_labels_or_a_large_body_is_refused(feedback):
    with running_label_app(feedback, max_body_bytes=4096) as app:
        many = [{"request_id": "c1", "label": 1}] * 1001
        assert post(app, CLOTHES, many).status_code == 413
    with running_label_app(feedback) as app:
        answer = post(app, CLOTHES, many)
        assert answer.status_code == 400
        assert "1001 labels, more than 1000" in answer.json()["error"]


def test_a_server_without_feedback_refuses_labels_with_failed_precondition(feedback):
    with running_label_app(None) as app:
        answer = post(app, CLOTHES, {"request_id": "c1", "label": 1})
    assert answer.status_code == 400
    assert "logs no feedback" in answer.json()["error"]
    assert "--feedback-rate" in answer.json()["error"]


def test_a_model_name_that_is_not_plain_is_404(app):
    with httpx.Client(base_url=app.url, timeout=30) as client:
        answer = client.post("/v1/models/..:feedback", json={"request_id": "c1", "label": 1})
    assert answer.status_code == 404
    assert "a model name is letters" in answer.json()["error"]


def test_feedback_requests_are_counted_with_their_code(app, feedback):
    example = single(feedback, CLOTHES)[0]
    post(app, CLOTHES, {"request_id": example.request_id, "label": 1})
    post(app, CLOTHES, {"request_id": "nope", "label": 1})
    post(app, CLOTHES, {"request_id": example.request_id, "label": 9})

    def count(code: str) -> float | None:
        return app.registry.get_sample_value(
            "dlwp_request_count_total",
            {"model": CLOTHES, "version": "", "api": "feedback", "protocol": "rest", "code": code},
        )

    assert (count("OK"), count("NOT_FOUND"), count("INVALID_ARGUMENT")) == (1.0, 1.0, 1.0)
