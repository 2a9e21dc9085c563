"""Real tables no one on the team prepared, and a messy CSV, through the whole `dlwp run --csv`.

The real ones ship inside installed packages (benchmarks/real_tables.py). The messy one is
generated with what real files have: dates in several formats, empty labels, an ID column, a
constant column, a 0/1 integer column with a 2 only in test, a category only test has, and rows
sorted by label.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.real_tables import write_table
from benchmarks.tables import plain_score

pytestmark = pytest.mark.e2e


def _run(args, home):
    from pipelines import cli

    code = cli.main(["run", *args, "--home", home])
    with open(os.path.join(home, "reports", os.path.basename(args[1])[:-4], "summary.json")) as f:
        return code, json.load(f)


def _serve_raw(home, model, inputs):
    """The pushed SavedModel's `serving_default` on raw inputs, as TF Serving runs it."""
    folder = os.path.join(home, "serving", model)
    version = max(int(v) for v in os.listdir(folder))
    loaded = tf.saved_model.load(os.path.join(folder, str(version)))
    outputs = loaded.signatures["serving_default"](**inputs)
    return {name: value.numpy() for name, value in outputs.items()}


@pytest.fixture(scope="module")
def breast_cancer_run(tmp_path_factory):
    """The UCI breast cancer table (569 rows, 30 columns, string labels) with dlwp's defaults."""
    folder = tmp_path_factory.mktemp("breast-cancer")
    csv = write_table("breast_cancer", str(folder))
    home = str(folder / "home")
    code, summary = _run(["--csv", csv, "--label", "diagnosis", "--task", "binary"], home)
    return csv, home, code, summary


def test_real_breast_cancer_is_blessed_and_reaches_a_plain_mlp(breast_cancer_run):
    csv, home, code, summary = breast_cancer_run
    plain = plain_score(csv, "diagnosis", "binary")
    assert code == 0
    assert summary["blessed"], summary["blessing_reasons"]
    # The benchmark's goal (docs/benchmarks.md): at most 1 AUC point below the plain model.
    assert summary["metric"]["test"] >= plain["test"] - 0.01, (summary["metric"], plain)


def test_small_table_is_k_folded_with_honest_fold_scores_and_trained_to_convergence(
    breast_cancer_run,
):
    _, _, _, summary = breast_cancer_run
    metric, training = summary["metric"], summary["training"]
    assert len(metric["folds"]) == 4
    assert metric["eval"] == pytest.approx(np.mean(metric["folds"]))
    assert metric["fold_std"] == pytest.approx(np.std(metric["folds"]))
    # 341 + 114 rows at the small-data batch: many steps, never a budget's last epoch.
    assert training["convergence"]["stopped_by"] == "early_stopping"
    assert training["global_batch_size"] == 16 and training["protocol"] == "kfold"


def test_every_column_of_a_real_table_is_understood_and_reported(breast_cancer_run):
    _, home, _, summary = breast_cancer_run
    with open(os.path.join(home, "reports", "breast_cancer", "columns.json")) as f:
        report = json.load(f)
    kinds = {c["name"]: c["kind"] for c in report["columns"]}
    assert sum(kind == "numeric" for kind in kinds.values()) == 30
    assert report["left_out"] == {} and summary["columns"]["left_out"] == {}
    assert report["class_names"] == ["benign", "malignant"]


def test_real_table_is_compared_with_simple_models_and_per_class_recall(breast_cancer_run):
    _, _, _, summary = breast_cancer_run
    simple = summary["simple_models"]
    assert set(simple["models"]) == {"linear", "gradient_boosted_trees"}
    assert all(0.9 < score <= 1.0 for score in simple["models"].values())
    per_class = summary["per_class"]
    assert set(per_class["recall"]) == {"benign", "malignant"}
    assert per_class["balanced_accuracy"] == pytest.approx(
        np.mean(list(per_class["recall"].values()))
    )


def test_pushed_csv_model_answers_with_the_class_names(breast_cancer_run):
    csv, home, _, summary = breast_cancer_run
    import pandas as pd

    from components.csv_dataset import feature_name

    frame = pd.read_csv(csv)
    rows = frame[frame["diagnosis"] == "malignant"].head(5)
    inputs = {  # `mean radius` is served as `mean_radius` (docs/data.md)
        feature_name(name): tf.constant(rows[name].to_numpy(np.float32))
        for name in frame.columns
        if name != "diagnosis"
    }
    outputs = _serve_raw(home, "breast_cancer", inputs)
    names = [c.decode() for c in outputs["classes"]]
    assert set(names) <= {"benign", "malignant"}
    assert names == ["malignant" if s > 0.5 else "benign" for s in outputs["scores"]]
    assert names.count("malignant") >= 4


def _messy_rows(n=240, seed=0):
    """A binary label driven by the weekday of `sold_on` and by `area`, sorted by label."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        day = np.datetime64("2012-01-01") + int(rng.integers(0, 3 * 365))
        weekend = day.astype("datetime64[D]").item().weekday() >= 5
        area = rng.uniform(30, 200)
        label = int(weekend) if rng.uniform() < 0.9 else int(not weekend)
        label = label if area < 170 else 1
        split = ("train", "train", "train", "eval", "test")[i % 5]
        text = str(day)
        sold_on = (text, text.replace("-", "/") + " 13:45", text + "T08:00:00")[i % 3]
        color = ["red", "blue", "green"][i % 3] if split != "test" or i % 4 else "violet"
        garage = int(rng.integers(0, 2)) if split != "test" or i % 9 else 2
        empty_label = i % 37 == 0
        rows.append(
            [
                f"id-{i:05d}",
                sold_on,
                f"{area:.1f}",
                color,
                str(garage),
                "Chicago",
                split,
                "" if empty_label else ("yes" if label else "no"),
            ]
        )
    return sorted(rows, key=lambda row: row[-1])


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messy")
    csv = folder / "sales.csv"
    header = "listing,sold_on,area,color,garage,city,split,sold_fast\n"
    csv.write_text(header + "".join(",".join(row) + "\n" for row in _messy_rows()))
    home = str(folder / "home")
    code, summary = _run(["--csv", str(csv), "--label", "sold_fast", "--task", "binary"], home)
    return home, code, summary


def test_messy_csv_runs_with_warnings_instead_of_stopping(messy_run):
    _, code, summary = messy_run
    assert code == 0, summary["anomalies"]
    assert summary["anomalies"] == []
    warned = {(w["split"], w["feature"]) for w in summary["data_warnings"]}
    assert ("test", "color") in warned  # "violet" only in test
    assert not any(w["kind"].startswith("BOOL") for w in summary["data_warnings"])


def test_messy_csv_columns_are_understood_left_out_and_counted(messy_run):
    _, _, summary = messy_run
    columns = summary["columns"]
    assert columns["kinds"]["sold_on"] == "date"
    assert columns["kinds"]["garage"] == "numeric"
    assert set(columns["left_out"]) == {"listing", "city"}
    assert columns["empty_label_rows"] == len([i for i in range(240) if i % 37 == 0])


def test_messy_csv_model_learns_from_the_date_and_serves_date_strings(messy_run):
    home, _, summary = messy_run
    assert summary["blessed"], summary["blessing_reasons"]
    assert summary["metric"]["test"] > 0.8  # the weekday of the date drives the label
    outputs = _serve_raw(
        home,
        "sales",
        {
            "sold_on": tf.constant(["2013-06-01", "2013/06/04 10:00", ""]),  # Sat, Tue, missing
            "area": tf.constant([80.0, 80.0, 80.0]),
            "color": tf.constant(["red", "red", "red"]),
            "garage": tf.constant([0.0, 1.0, np.nan]),
        },
    )
    assert [c.decode() for c in outputs["classes"]][:2] == ["yes", "no"]


def _artifact(home, model, component, kind):
    """The newest artifact folder of `component`'s output `kind` in the home's pipeline."""
    folder = os.path.join(home, "pipelines", model, component, kind)
    return os.path.join(folder, max(os.listdir(folder), key=int))


def _split_records(home, model, split):
    folder = os.path.join(_artifact(home, model, "ExampleGen", "examples"), f"Split-{split}")
    files = sorted(tf.io.gfile.glob(os.path.join(folder, "*.gz")))
    # Re-serialized deterministically: a map's order in the bytes differs between processes.
    return sorted(
        tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
        for r in tf.data.TFRecordDataset(files, "GZIP")
    )


def _numeric_stats(home, model, split):
    """feature -> (num_non_missing, mean, std_dev) of StatisticsGen's statistics of `split`."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = os.path.join(
        _artifact(home, model, "StatisticsGen", "statistics"), f"Split-{split}", "FeatureStats.pb"
    )
    with open(path, "rb") as f:
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
    (dataset,) = stats.datasets
    found = {"_examples": (dataset.num_examples, 0.0, 0.0)}
    for feature in dataset.features:
        if feature.HasField("num_stats"):
            numbers = feature.num_stats
            found[feature.path.step[0]] = (
                numbers.common_stats.num_non_missing,
                numbers.mean,
                numbers.std_dev,
            )
    return found


def _assert_same_as_in_memory(in_memory, summary, other, other_summary, model):
    """The examples of every split, the statistics, the transform graph's outputs and the
    pushed model's metric of the run in `other` equal those of the in-memory run."""
    import tensorflow_transform as tft

    for split in ("train", "eval", "test"):
        records = _split_records(in_memory, model, split)
        assert records and _split_records(other, model, split) == records, split
        expected = _numeric_stats(in_memory, model, split)
        got = _numeric_stats(other, model, split)
        assert got.keys() == expected.keys() and len(expected) > 20, split
        for name, (count, mean, std) in expected.items():
            assert got[name][0] == count, (split, name)
            assert got[name][1:] == pytest.approx((mean, std), rel=1e-9, abs=1e-12), (split, name)

    raw = tf.io.parse_example(
        _split_records(in_memory, model, "test")[:50],
        tft.TFTransformOutput(
            _artifact(in_memory, model, "Transform", "transform_graph")
        ).raw_feature_spec(),
    )
    transformed = [
        tft.TFTransformOutput(
            _artifact(home, model, "Transform", "transform_graph")
        ).transform_features_layer()(dict(raw))
        for home in (in_memory, other)
    ]
    assert transformed[0].keys() == transformed[1].keys() and transformed[0]
    for name, value in transformed[0].items():
        np.testing.assert_allclose(transformed[1][name].numpy(), value.numpy(), rtol=1e-6)

    assert other_summary["metric"]["test"] == pytest.approx(summary["metric"]["test"], abs=1e-6)
    assert other_summary["metric"]["folds"] == pytest.approx(summary["metric"]["folds"], abs=1e-6)
    assert other_summary["pushed_version"] == summary["pushed_version"] == 1


def _csv_run_args(csv, beam_args):
    return [
        "--csv",
        csv,
        "--label",
        "diagnosis",
        "--task",
        "binary",
        *(f"--beam-arg={arg}" for arg in beam_args),
    ]


def test_beams_multi_process_runner_makes_the_same_data_graph_and_model(
    breast_cancer_run, tmp_path
):
    # The path Dataflow, Flink and Spark take in part: Beam's steps run in 2 worker processes
    # (pickled DoFns, module functions imported by path there), not in this one.
    csv, in_memory, code, summary = breast_cancer_run
    multi = str(tmp_path / "home")
    beam_args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    multi_code, multi_summary = _run(_csv_run_args(csv, beam_args), multi)
    assert (multi_code, code) == (0, 0)
    _assert_same_as_in_memory(in_memory, summary, multi, multi_summary, os.path.basename(csv)[:-4])


def test_beams_portable_runner_with_separate_sdk_workers_makes_the_same_data_graph_and_model(
    breast_cancer_run, tmp_path
):
    # The path Flink, Spark and Dataflow take: each Beam step is a job submitted over the Fn
    # API to a job server (a process of its own), whose stages run in SDK worker processes
    # started by an external worker pool (a third process).
    from benchmarks.beam_services import jobs_run, portable_beam, workers_started

    csv, in_memory, code, summary = breast_cancer_run
    portable = str(tmp_path / "home")
    services = str(tmp_path / "beam")
    with portable_beam(services) as beam_args:
        portable_code, portable_summary = _run(_csv_run_args(csv, beam_args), portable)
    assert (portable_code, code) == (0, 0)
    # The Beam steps, StatisticsGen, Transform and Evaluator: a job each on the job server.
    assert jobs_run(services) >= 3
    assert workers_started(services) >= 1
    _assert_same_as_in_memory(
        in_memory, summary, portable, portable_summary, os.path.basename(csv)[:-4]
    )
