"""`dlwp run` end to end: TFX LocalDagRunner, SQLite ML Metadata, Beam DirectRunner, real data."""

import glob
import os

import keras_files
import numpy as np
import pytest
import tensorflow_data_validation as tfdv

pytestmark = pytest.mark.e2e
STEPS = ["ExampleGen", "StatisticsGen", "SchemaGen", "CurateSchema", "ExampleValidator", "DataGate"]


def split_statistics(home, model, split):
    """TFDV's statistics of one split, as StatisticsGen wrote them in the latest run."""
    pattern = os.path.join(home, "pipelines", model, "StatisticsGen", "statistics", "*")
    latest = max(glob.glob(pattern), key=lambda path: int(os.path.basename(path)))
    stats = tfdv.load_stats_binary(os.path.join(latest, f"Split-{split}", "FeatureStats.pb"))
    return {f.path.step[0]: f for f in stats.datasets[0].features}


def numeric_range(feature):
    return feature.num_stats.min, feature.num_stats.max


@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
@pytest.mark.parametrize("name", sorted(keras_files.WRITERS))
def test_each_keras_format_runs_through_the_pipeline(
    run_cli, read_summary, keras_data_dir, tmp_path, name
):
    home = str(tmp_path / "home")
    code, out, err = run_cli(
        "run", name, "--home", home, "--data-dir", keras_data_dir, "--max-examples", "200"
    )
    summary = read_summary(home, name)
    assert code == 0, err
    assert summary["anomalies"] == []
    assert all(0 < n <= 200 for n in summary["examples"].values())
    assert set(summary["examples"]) == {"train", "eval", "test"}
    assert list(summary["timings_s"]) == ["total", *STEPS]


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory):
    """Two identical runs on the real Fashion-MNIST that Debian installs (no cap, no cache)."""
    from pipelines import cli

    home = str(tmp_path_factory.mktemp("fashion-home"))
    empty_data_dir = str(tmp_path_factory.mktemp("no-keras-cache"))
    args = ["run", "fashion_mnist", "--home", home, "--data-dir", empty_data_dir]
    codes = [cli.main(args), cli.main(args)]
    return home, codes


def test_real_fashion_mnist_has_the_book_splits(fashion_runs, read_summary):
    home, codes = fashion_runs
    summary = read_summary(home, "fashion_mnist")
    assert codes[0] == 0
    assert summary["examples"] == {"train": 50_000, "eval": 10_000, "test": 10_000}
    for split in ("train", "eval", "test"):
        features = split_statistics(home, "fashion_mnist", split)
        assert numeric_range(features["image"]) == (0, 255)
        assert numeric_range(features["label"]) == (0, 9)
        assert features["image"].num_stats.common_stats.min_num_values == 784


def test_second_identical_run_reuses_every_component(fashion_runs, read_summary):
    home, codes = fashion_runs
    summary = read_summary(home, "fashion_mnist")
    assert codes[1] == 0
    assert summary["cached"] == STEPS
    assert summary["examples"] == {"train": 50_000, "eval": 10_000, "test": 10_000}


def write_csv(path, rows):
    path.write_text(
        "rooms,color,area,price,split\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return str(path)


def house_rows(split, n, color=lambda i: ["red", "blue", ""][i % 3], rooms=lambda i: 1 + i % 5):
    return [(rooms(i), color(i), 50.5 + i, 100 + 3 * i, split) for i in range(n)]


def clean_rows():
    return house_rows("train", 30) + house_rows("eval", 9) + house_rows("test", 9)


def test_csv_with_missing_values_and_a_string_column(run_cli, read_summary, tmp_path):
    home = str(tmp_path / "home")
    csv = write_csv(tmp_path / "houses.csv", clean_rows())
    code, out, err = run_cli(
        "run", "--csv", csv, "--label", "price", "--task", "regression", "--home", home
    )
    summary = read_summary(home, "houses")
    train = split_statistics(home, "houses", "train")
    assert code == 0, err
    assert summary["task"] == "regression"
    assert summary["examples"] == {"train": 30, "eval": 9, "test": 9}
    assert train["color"].string_stats.common_stats.num_missing == 10
    assert train["color"].string_stats.unique == 2
    assert "split" not in train


def test_progress_is_one_line_per_step_and_library_logs_go_to_the_log(run_cli, tmp_path):
    home = tmp_path / "home"
    csv = write_csv(tmp_path / "houses.csv", clean_rows())
    code, out, err = run_cli(
        "run", "--csv", csv, "--label", "price", "--task", "regression", "--home", str(home)
    )
    lines = out.splitlines()
    (log,) = glob.glob(str(home / "logs" / "houses-*.log"))
    assert code == 0, err
    for step in STEPS:
        assert sum(line.endswith(f"] {step} ...") for line in lines) == 1
        assert sum(f"] {step} done in " in line for line in lines) == 1
    assert "tensorflow" not in out + err
    assert "Component ExampleGen is running." in open(log).read()


@pytest.mark.parametrize(
    "case, rows, split, feature, kind",
    [
        (
            "value out of the schema's domain",
            house_rows("train", 30) + house_rows("eval", 9)
            + house_rows("test", 9, color=lambda i: "purple"),
            "test", "color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
        ),
        (
            "missing feature",
            house_rows("train", 30) + house_rows("eval", 9, rooms=lambda i: "")
            + house_rows("test", 9),
            "eval", "rooms", "SCHEMA_MISSING_COLUMN",
        ),
    ],
)  # fmt: skip
def test_data_gate_stops_a_csv_run(
    run_cli, read_summary, tmp_path, case, rows, split, feature, kind
):
    home = str(tmp_path / "home")
    csv = write_csv(tmp_path / "houses.csv", rows)
    code, out, err = run_cli(
        "run", "--csv", csv, "--label", "price", "--task", "regression", "--home", home
    )
    anomalies = read_summary(home, "houses")["anomalies"]
    assert code == 1, case
    assert f"split {split!r}, feature {feature!r}: {kind}" in err
    assert {(a["split"], a["feature"], a["kind"]) for a in anomalies} >= {(split, feature, kind)}
    assert "Traceback" not in err


@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
@pytest.mark.parametrize(
    "case, broken, feature, kind",
    [
        ("type change", {"x_test_dtype": np.float32}, "image", "UNEXPECTED_DATA_TYPE"),
        ("label out of range", {"y_test_offset": 10}, "label", "INT_TYPE_BIG_INT"),
    ],
)
def test_data_gate_stops_a_broken_mnist(
    run_cli, read_summary, tmp_path, case, broken, feature, kind
):
    keras_files.write_mnist(str(tmp_path), **broken)
    home = str(tmp_path / "home")
    code, out, err = run_cli(
        "run", "mnist", "--home", home, "--data-dir", str(tmp_path), "--max-examples", "100"
    )
    assert code == 1, case
    assert f"split 'test', feature {feature!r}" in err
    assert kind in err
    assert "DataGate ..." in out and "DataGate done" not in out
