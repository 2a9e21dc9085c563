"""Trained homes shared by the e2e modules (each is costly: a real `dlwp run`)."""

import json
import os

import pytest
from house_csv import learnable_rows, write_houses


@pytest.fixture(scope="session")
def fashion_runs(tmp_path_factory):
    """Two identical runs on the real Fashion-MNIST that Debian installs, with the book's
    settings (early stopping, up to 20 epochs); returns the home and both summaries."""
    from pipelines import cli

    home = str(tmp_path_factory.mktemp("fashion-home"))
    empty_data_dir = str(tmp_path_factory.mktemp("no-keras-cache"))
    args = ["run", "fashion_mnist", "--home", home, "--data-dir", empty_data_dir]
    summaries = []
    for _ in range(2):
        assert cli.main(args) == 0
        with open(os.path.join(home, "reports", "fashion_mnist", "summary.json")) as f:
            summaries.append(json.load(f))
    return home, summaries


@pytest.fixture(scope="session")
def fashion_home(fashion_runs):
    """The home of the real Fashion-MNIST runs: version 1 pushed and exported."""
    return fashion_runs[0]


@pytest.fixture(scope="session")
def pruned_fashion_run(tmp_path_factory):
    """A short run on real Fashion-MNIST with `--prune 0.8`; returns the home and summary."""
    from pipelines import cli

    home = str(tmp_path_factory.mktemp("pruned-home"))
    empty_data_dir = str(tmp_path_factory.mktemp("no-keras-cache"))
    args = [
        "run",
        "fashion_mnist",
        "--data-dir",
        empty_data_dir,
        "--home",
        home,
        "--max-examples",
        "2000",
        "--epochs",
        "2",
        "--prune",
        "0.8",
    ]
    assert cli.main(args) == 0
    with open(os.path.join(home, "reports", "fashion_mnist", "summary.json")) as f:
        return home, json.load(f)


@pytest.fixture(scope="session")
def house_runs(tmp_path_factory):
    """A learnable CSV run three times: first, identical again, then with new rows; returns the
    home and the three summaries (the first is also the feedback test's run without feedback)."""
    from pipelines import cli

    folder = tmp_path_factory.mktemp("houses")
    home = str(folder / "home")
    csv = folder / "houses.csv"
    args = ["run", "--csv", str(csv), "--label", "price", "--task", "regression", "--home", home]
    rows = learnable_rows(300, seed=0)
    summaries = []
    for rows_now in (rows, None, rows + learnable_rows(150, seed=1)):
        if rows_now is not None:  # None: the file stays as it is (a rewrite is new data)
            write_houses(csv, rows_now)
        assert cli.main([*args, "--epochs", "40"]) == 0
        with open(os.path.join(home, "reports", "houses", "summary.json")) as f:
            summaries.append(json.load(f))
    return home, summaries
