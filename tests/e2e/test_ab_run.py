"""The demo model in a randomized A/B test (book 6.3.3): the real Fashion-MNIST model, served as
two labelled versions with a 50/50 split, answers real test images; people's labels arrive
through `POST :feedback`; `dlwp ab` and /metrics then show each arm's live accuracy, which must
equal a recount of the answers the clients saw."""

import json
import os
import shutil
import time

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers import running_server, settings_for

pytestmark = pytest.mark.e2e
MODEL = "fashion_mnist"
REQUESTS = 400
ARMS = {"stable": 1, "canary": 2}


def two_version_config(fashion_home, root) -> tuple[str, str]:
    """Version 1 of the demo run, published again as version 2 (an A/A test: the arms differ
    by chance only), behind labels stable:1 and canary:2; returns the config and reports."""
    base = os.path.join(root, "models", MODEL)
    reports = os.path.join(root, "reports", MODEL)
    for version in ARMS.values():
        shutil.copytree(os.path.join(fashion_home, "serving", MODEL, "1"), f"{base}/{version}")
        shutil.copytree(os.path.join(fashion_home, "reports", MODEL, "1"), f"{reports}/{version}")
    config = os.path.join(root, "models.config")
    with open(config, "w") as f:
        f.write(
            f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" '
            'model_platform: "tensorflow" '
            "model_version_policy { specific { versions: 1 versions: 2 } } "
            'version_labels { key: "stable" value: 1 } '
            'version_labels { key: "canary" value: 2 } } }'
        )
    return config, os.path.dirname(reports)


def real_test_images(tmp_path_factory):
    """REQUESTS real Fashion-MNIST test images and their labels (keras's own loading code)."""
    from components.keras_datasets import KERAS_DATASETS, load_keras_dataset

    empty = str(tmp_path_factory.mktemp("no-keras-cache"))
    _, (images, labels) = load_keras_dataset(KERAS_DATASETS[MODEL], empty)
    return images[:REQUESTS].reshape(REQUESTS, -1), labels[:REQUESTS]


def predicted_class(prediction) -> int:
    scores = prediction["scores"] if isinstance(prediction, dict) else prediction
    return int(np.argmax(scores))


def live_series(metrics_text: str) -> dict[tuple[str, str], float]:
    """(arm, metric) -> value of the model's dlwp_live_metric series."""
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "dlwp_live_metric":
            for sample in family.samples:
                if sample.labels["model"] == MODEL:
                    found[sample.labels["arm"], sample.labels["metric"]] = sample.value
    return found


def test_the_demo_model_in_an_ab_test_shows_each_arms_recounted_live_accuracy(
    fashion_home, tmp_path, tmp_path_factory, capsys
):
    from pipelines import cli

    config, reports = two_version_config(fashion_home, str(tmp_path))
    feedback = str(tmp_path / "feedback")
    images, labels = real_test_images(tmp_path_factory)
    settings = settings_for(
        model_config_file=config,
        split=((MODEL, (("stable", 50.0), ("canary", 50.0))),),
        feedback_rate=1.0,
        feedback_dir=feedback,
        reports_dir=reports,
        drift=None,
    )
    answers = []  # (request id, arm, predicted class, true class)
    with running_server(settings) as server, httpx.Client(base_url=server.url) as client:
        for image, label in zip(images, labels, strict=True):
            response = client.post(
                f"/v1/models/{MODEL}:predict", json={"instances": [image.tolist()]}
            )
            assert response.status_code == 200, response.text
            version = int(response.headers["X-Model-Version"])
            arm = {v: a for a, v in ARMS.items()}[version]
            prediction = predicted_class(response.json()["predictions"][0])
            answers.append((response.headers["X-Request-Id"], arm, prediction, int(label)))
        arms_seen = {arm: sum(a[1] == arm for a in answers) for arm in ARMS}
        assert min(arms_seen.values()) >= 150, arms_seen  # 50/50 of 400: 3 sigma is +-30

        labelled = [{"request_id": rid, "label": true} for rid, _, _, true in answers]
        # The feedback log writes a second after the answers at most; labels of examples
        # not written yet are a 404, so send them until every one is stored.
        for _ in range(30):
            stored = client.post(f"/v1/models/{MODEL}:feedback", json=labelled)
            if stored.status_code != 404:
                break
            time.sleep(1)
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"accepted": REQUESTS, "relabelled": 0}
        metrics_text = client.get("/metrics").text

    recount = {arm: float(np.mean([p == t for _, a, p, t in answers if a == arm])) for arm in ARMS}
    series = live_series(metrics_text)
    for arm, accuracy in recount.items():
        assert series[arm, "accuracy"] == pytest.approx(accuracy, abs=1e-9), arm
        assert series[arm, "accuracy_lower"] < accuracy < series[arm, "accuracy_upper"], arm
    assert np.mean([p == t for _, _, p, t in answers]) > 0.8  # the demo model, not noise

    code = cli.main(["ab", MODEL, "--feedback-dir", feedback, "--reports-dir", reports, "--json"])
    test = json.loads(capsys.readouterr().out)
    assert code in (0, 1), test
    by_name = {test["a"]["name"]: test["a"], test["b"]["name"]: test["b"]}
    assert set(by_name) == set(ARMS)
    for arm, accuracy in recount.items():
        assert by_name[arm]["labelled"] == arms_seen[arm]
        assert by_name[arm]["live"]["value"] == pytest.approx(accuracy, abs=1e-9), arm
    difference = recount[test["b"]["name"]] - recount[test["a"]["name"]]
    assert test["difference"] == pytest.approx(difference, abs=1e-9)
    assert test["lower"] < difference < test["upper"]
    assert test["verdict"]
