"""Maintain the model (book 6.3.4): logged production data, labelled, joins the next run's train
split through `dlwp run --extra-data DIR`."""

import os

import numpy as np
import pytest
from house_csv import learnable_rows, write_houses

pytestmark = pytest.mark.e2e
FEEDBACK_ROWS = 12


def log_feedback(folder, n):
    """What `dlwp serve --feedback-rate 1` logs for `n` :predict examples of the houses model
    (raw inputs as the signature takes them: NaN and "" for missing); returns the prices."""
    from serving.feedback import FeedbackLogger

    rng = np.random.default_rng(5)
    area = rng.uniform(30, 200, n).astype(np.float32)
    rooms = rng.integers(1, 7, n).astype(np.float32)
    prices = 2.0 * area + 15.0 * rooms
    rooms[0] = np.nan
    inputs = {"rooms": rooms, "color": np.array([b"red", b""] * (n // 2), object), "area": area}
    logger = FeedbackLogger(folder, 1.0)
    logger.observe("houses", 1, "serving_default", inputs, {"predictions": prices * 0.9})
    logger.close()
    return prices


def label_feedback(model_folder, values):
    """A person's labelling through the index (as `POST :feedback` stores it): example i of
    the request gets values[i]."""
    from serving.feedback_index import FeedbackIndex, Label

    index = FeedbackIndex(model_folder)
    rows = index.unlabelled(limit=len(values))
    index.add_labels([Label(r.request_id, r.index, float(values[r.index]), 1, "api") for r in rows])
    index.close()


def run_in_process(capsys, *args) -> tuple[int, str]:
    """`dlwp ARGS` in this process (TensorFlow is imported once for the module); (code, err)."""
    from pipelines import cli

    code = cli.main(list(args))
    return code, capsys.readouterr().err


def test_labelled_feedback_joins_train_and_only_train(house_runs, capsys, read_summary, tmp_path):
    # The run without feedback is house_runs' first: the same 300 rows (learnable_rows(300,
    # seed=0)), split the same way, since the CSV split is seeded.
    _, (without_feedback, _, _) = house_runs
    home = str(tmp_path / "home")
    csv = write_houses(tmp_path / "houses.csv", learnable_rows(300, seed=0))
    logged = str(tmp_path / "feedback")
    prices = log_feedback(logged, FEEDBACK_ROWS)
    labelled = os.path.join(logged, "houses")  # read through its index
    label_feedback(labelled, prices)

    code, err = run_in_process(
        capsys,
        "run",
        "--csv",
        csv,
        "--label",
        "price",
        "--task",
        "regression",
        "--home",
        home,
        "--epochs",
        "3",
        "--extra-data",
        labelled,
    )
    with_feedback = read_summary(home, "houses")
    assert code == 0, err
    assert with_feedback["examples"]["train"] == (
        without_feedback["examples"]["train"] + FEEDBACK_ROWS
    )
    assert {s: with_feedback["examples"][s] for s in ("eval", "test")} == {
        s: without_feedback["examples"][s] for s in ("eval", "test")
    }


def test_unlabelled_feedback_stops_the_run_naming_the_folder(capsys, tmp_path):
    home = str(tmp_path / "home")
    csv = write_houses(tmp_path / "houses.csv", learnable_rows(100, seed=0))
    logged = str(tmp_path / "feedback")
    log_feedback(logged, 4)
    folder = os.path.join(logged, "houses")
    code, err = run_in_process(
        capsys,
        "run",
        "--csv",
        csv,
        "--label",
        "price",
        "--task",
        "regression",
        "--home",
        home,
        "--epochs",
        "1",
        "--extra-data",
        folder,
    )
    assert code == 2
    assert f"extra data {folder}: none of the 4 logged examples is labelled" in err
