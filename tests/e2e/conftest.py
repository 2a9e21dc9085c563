"""Trained homes shared by the e2e modules (each is costly: a real `dlwp run`)."""

import json
import os

import pytest


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
    args = ["run", "fashion_mnist", "--data-dir", empty_data_dir, "--home", home,
            "--max-examples", "4000", "--epochs", "4", "--prune", "0.8"]  # fmt: skip
    assert cli.main(args) == 0
    with open(os.path.join(home, "reports", "fashion_mnist", "summary.json")) as f:
        return home, json.load(f)
