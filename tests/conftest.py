"""Shared fixtures: keras-format data generated once per session, offline network, CLI runner."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

import keras_files
import pytest


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


def run_dlwp(*args: str) -> tuple[int, str, str]:
    """Runs `dlwp` in this process; returns (exit code, terminal output, error output)."""
    from pipelines import cli

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        # pytest replaces sys.stdout/err with objects of its own: point them at the descriptors.
        stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = cli.main(list(args))
        finally:
            stdout.close()
            stderr.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(), err.read().decode()


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
