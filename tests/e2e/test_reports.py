"""The report of a pushed version (docs/reports.md), from real runs: what a person opens after
`make demo`, recounted independently from the served model's own answers."""

import json
import os

import numpy as np
import pytest

from contract.report_files import MODEL_CARD_JSON, REPORT_HTML, REPORT_JSON

pytestmark = pytest.mark.e2e


def read_report(home, model, version):
    folder = os.path.join(home, "reports", model, str(version))
    with open(os.path.join(folder, REPORT_JSON)) as f:
        return folder, json.load(f)


def confusion_from_page(page):
    """{(true, predicted): count} as the page's confusion matrix shows it."""
    cells = page.eval_on_selector_all(
        "#confusion td[data-count]",
        "cells => cells.map(c => [+c.dataset.true, +c.dataset.predicted, +c.dataset.count])",
    )
    return {(t, p): n for t, p, n in cells}


def test_fashion_report_shows_the_confusions_and_wrong_images_as_the_served_model_answers(
    fashion_runs,
):
    """After the demo's run, the report served at /reports/ is the page a person opens: its
    confusion matrix is the served model's own, recounted here on keras's test images."""
    import tensorflow as tf
    from browser import chromium
    from servers import running_server, settings_for

    from components.keras_datasets import KERAS_DATASETS, load_keras_dataset
    from pipelines.tasks import FASHION_MNIST_CLASSES

    home, (first, second) = fashion_runs
    assert first["report"] == os.path.join(home, "reports", "fashion_mnist", "1", REPORT_HTML)
    assert second["report"] is None  # the second run pushed nothing: no new report
    folder, report = read_report(home, "fashion_mnist", 1)
    assert {REPORT_HTML, REPORT_JSON, MODEL_CARD_JSON} <= set(os.listdir(folder))

    (_, _), (images, labels) = load_keras_dataset(
        KERAS_DATASETS["fashion_mnist"], os.path.join(home, "no-keras-cache")
    )
    model = tf.saved_model.load(os.path.join(home, "serving", "fashion_mnist", "1"))
    serve = model.signatures["serving_default"]
    predicted = np.concatenate(
        [
            serve(image=tf.constant(images[i : i + 2000].reshape(-1, 784).astype(np.int64)))[
                "class_ids"
            ].numpy()
            for i in range(0, len(images), 2000)
        ]
    )
    recount = np.zeros((10, 10), dtype=int)
    np.add.at(recount, (labels.astype(int), predicted), 1)
    assert report["success"]["right"] == int(np.trace(recount))
    assert report["success"]["low"] < report["success"]["test"] < report["success"]["high"]

    with (
        running_server(
            settings_for(
                models_dir=os.path.join(home, "serving"), reports_dir=os.path.join(home, "reports")
            )
        ) as server,
        chromium() as browser,
    ):
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(f"{server.url}/reports/fashion_mnist/1/")
        assert response.status == 200
        shown = confusion_from_page(page)
        names = page.eval_on_selector_all("#confusion th", "cells => cells.map(c => c.innerText)")
        images_shown = page.eval_on_selector_all(
            "img[src^='data:image/png']", "images => images.length"
        )
        text = page.inner_text("body")
    assert not errors
    assert sum(shown.values()) == len(labels) == 10_000
    assert shown == {(t, p): int(recount[t, p]) for t in range(10) for p in range(10)}
    assert {"Shirt", "T-shirt/top", "Ankle boot"} <= set(names)
    # The wrong images are shown as pictures, beside the training curves.
    assert images_shown >= len(report["failure_modes"]["examples"]) >= 10
    wrong = report["failure_modes"]["examples"][0]
    assert wrong["true"] != wrong["predicted"]
    assert {wrong["true"], wrong["predicted"]} <= set(FASHION_MNIST_CLASSES)
    # The most confused pair is the largest off-diagonal cell of the recount.
    off = recount - np.diag(np.diag(recount))
    top = report["classes"]["most_confused"][0]
    assert off[top["true"], top["predicted"]] == off.max()
    assert FASHION_MNIST_CLASSES[top["true"]] in text


def test_dlwp_report_prints_one_screen_and_the_path_of_the_page(fashion_runs, capsys):
    from pipelines import cli

    home, _ = fashion_runs
    assert cli.main(["report", "fashion_mnist", "--home", home]) == 0
    lines = capsys.readouterr().out.splitlines()
    page = os.path.join(home, "reports", "fashion_mnist", "1", REPORT_HTML)
    assert page in lines[-1] and os.path.isfile(page)
    assert len(lines) <= 30 and max(map(len, lines)) <= 100
    # A version without a report names the versions that have one.
    assert cli.main(["report", "fashion_mnist", "--home", home, "--version", "7"]) == 2
    assert "reported versions: 1" in capsys.readouterr().err


def test_regression_report_shows_rows_with_their_columns_and_errors_within_a_tolerance(
    house_runs,
):
    """A CSV regression: the worst rows as tables with the column names, and the share within
    the tolerance recounted from the served model's predictions on the test rows."""
    import tensorflow as tf

    home, summaries = house_runs
    version = summaries[0]["pushed_version"]
    _, report = read_report(home, "houses", version)
    assert report["classes"] is None and report["threshold"] is None
    assert report["failure_modes"]["kind"] == "table"
    worst = report["failure_modes"]["examples"]
    assert set(worst[0]["row"]) == {"rooms", "color", "area"}
    errors = [example["error"] for example in worst]
    assert errors == sorted(errors, reverse=True)

    regression = report["regression"]
    assert regression["abs_errors"]["max"] == pytest.approx(errors[0], rel=1e-5)
    sample = np.asarray(regression["sorted_sample"])
    assert list(sample) == sorted(sample)
    within = np.mean(sample <= regression["tolerance"])
    assert regression["within_tolerance"] == pytest.approx(within, abs=0.02)
    # The MAE in plain words is the served model's on test: TFMA's, which the summary has.
    assert report["success"]["test"] == pytest.approx(summaries[0]["metric"]["test"], rel=1e-4)
    model = tf.saved_model.load(os.path.join(home, "serving", "houses", str(version)))
    assert "predictions" in model.signatures["serving_default"].structured_outputs


IMDB_WORDS = ["the", "film", "was", "great", "awful", "plot", "actor", "scene", "end", "music"]


def write_learnable_imdb(data_dir, train=10_400, test=300, seed=0):
    """imdb.npz and imdb_word_index.json in keras's formats, where "great" makes a review
    positive and "awful" negative, but for 10 % of the labels, flipped: the model's mistakes
    (keras stores word ranks; its loader adds index_from=3). The book's eval split takes 10,000
    of train, so train has a few hundred more."""
    rng = np.random.default_rng(seed)
    ranks = {word: rank for rank, word in enumerate(IMDB_WORDS, start=1)}
    neutral = [ranks[w] for w in IMDB_WORDS if w not in ("great", "awful")]

    def reviews(n):
        labels = rng.integers(0, 2, n)
        sequences = np.empty(n, dtype=object)
        for i, label in enumerate(labels):
            words = list(rng.choice(neutral, size=rng.integers(6, 20)))
            words.insert(int(rng.integers(0, len(words))), ranks["great" if label else "awful"])
            sequences[i] = [int(w) for w in words]
        flipped = rng.random(n) < 0.1
        return sequences, np.where(flipped, 1 - labels, labels)

    (x_train, y_train), (x_test, y_test) = reviews(train), reviews(test)
    np.savez(
        os.path.join(data_dir, "imdb.npz"),
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
    )
    with open(os.path.join(data_dir, "imdb_word_index.json"), "w") as f:
        json.dump(ranks, f)


@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
def test_word_sequence_report_decodes_the_failure_modes_to_words(run_cli, tmp_path):
    data_dir, home = tmp_path / "data", str(tmp_path / "home")
    data_dir.mkdir()
    write_learnable_imdb(str(data_dir))
    code, _, err = run_cli(
        "run",
        "imdb",
        "--home",
        home,
        "--data-dir",
        str(data_dir),
        "--max-examples",
        "400",
        "--epochs",
        "3",
    )
    assert code == 0, err
    _, report = read_report(home, "imdb", 1)
    assert report["failure_modes"]["kind"] == "sequence"
    assert report["failure_modes"]["examples"]  # the flipped labels, at least
    assert report["threshold"]["live"] == pytest.approx(0.5)  # the default rule
    assert report["threshold"]["rule"] == {"kind": "threshold", "value": 0.5}
    for example in report["failure_modes"]["examples"]:
        words = example["words"].split()
        assert "#" not in example["words"]
        assert set(words) & set(IMDB_WORDS)
