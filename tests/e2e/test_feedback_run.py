"""Maintain the model (book 6.3.4): logged production data, labelled, joins the next run's train
split through `dlwp run --extra-data DIR`."""

import glob
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


def label_feedback(source_folder, target_folder, label, values):
    """A person's labelling: each logged example gets its label feature, in order."""
    import tensorflow as tf

    values = iter(values)
    os.makedirs(target_folder, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(source_folder, "*.tfrecord.gz"))):
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        target = os.path.join(target_folder, os.path.basename(path))
        with tf.io.TFRecordWriter(target, options) as writer:
            for record in tf.data.TFRecordDataset(path, "GZIP").as_numpy_iterator():
                example = tf.train.Example.FromString(record)
                example.features.feature[label].float_list.value.append(float(next(values)))
                writer.write(example.SerializeToString())


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
    labelled = str(tmp_path / "labelled")
    label_feedback(os.path.join(logged, "houses"), labelled, "price", prices)

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


def test_unlabelled_feedback_stops_the_run_naming_the_file(capsys, tmp_path):
    home = str(tmp_path / "home")
    csv = write_houses(tmp_path / "houses.csv", learnable_rows(100, seed=0))
    logged = str(tmp_path / "feedback")
    log_feedback(logged, 4)
    (path,) = glob.glob(os.path.join(logged, "houses", "*.tfrecord.gz"))
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
        logged,
    )
    assert code == 2
    assert f"{path}: 4 of 4 examples have no label 'price'" in err
