"""Shared fixtures: keras-format data generated once per session, offline network, CLI runner."""

from __future__ import annotations

import json
import os

import keras_files
import pytest
from cli_runner import run_dlwp


@pytest.fixture(scope="session")
def keras_data_dir(tmp_path_factory) -> str:
    """A data folder with all five book datasets, small, in keras's own file formats."""
    data_dir = str(tmp_path_factory.mktemp("keras-datasets"))
    for write in keras_files.WRITERS.values():
        write(data_dir)
    return data_dir


@pytest.fixture
def keras_checksums_accepted(monkeypatch):
    """Stands in for keras's sha256 check of downloaded files, and only for that.

    Generated files cannot carry the published files' checksums; everything else in keras's
    loaders (cache lookup, npz/IDX parsing, index shifting, num_words, shuffling) runs for real.
    """
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)


@pytest.fixture
def offline(monkeypatch):
    """Any download attempt fails at once: a proxy on a port where nothing listens."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def run_cli():
    """`run_dlwp` as a fixture."""
    return run_dlwp


@pytest.fixture
def read_summary():
    """Reads `<home>/reports/<model>/summary.json`."""

    def read(home: str, model: str) -> dict:
        with open(os.path.join(home, "reports", model, "summary.json")) as f:
            return json.load(f)

    return read


# `make test` runs two pytest-xdist workers (`--dist loadgroup`). A costly shared fixture must
# be built by one worker only, so the tests that use it go to the same worker.
SHARED_RUNS = {
    "fashion_runs": "fashion",
    "fashion_home": "fashion",
    "pruned_fashion_run": "fashion",
    "house_runs": "houses",
    "breast_cancer_run": "breast_cancer",
    "messy_run": "messy_csv",
    "terminal_runs": "terminal",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks into the node ids
def pytest_collection_modifyitems(config, items):
    """Groups each test with the others that share its costly fixtures (xdist_group)."""
    for item in items:
        fixture_defs = getattr(item, "_fixtureinfo", None)
        if fixture_defs is None:
            continue
        names = set(fixture_defs.name2fixturedefs)
        group = next((g for name, g in SHARED_RUNS.items() if name in names), None)
        if group is None and any(
            defs[-1].scope == "module" for defs in fixture_defs.name2fixturedefs.values()
        ):
            group = item.module.__name__  # a module fixture is built once per worker
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
