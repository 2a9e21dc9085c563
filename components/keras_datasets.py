"""The book's datasets, loaded through keras's own `keras.datasets.*.load_data` code.

Keras looks for its files in one cache folder (`$KERAS_HOME/datasets`, else `~/.keras/datasets`)
and downloads what is missing. dlwp keeps that code path and only decides *which* files keras
sees: the files found in the data folder (or in a system folder such as the one Debian's
`dataset-fashion-mnist` installs) are linked into a private staging cache, keras loads from
there, and a file keras had to download is moved into the data folder for the next run. Keras
deletes a file whose download fails; staging means it only ever deletes a link, never user data.

Usage:
    dataset = KERAS_DATASETS["fashion_mnist"]
    (x_train, y_train), (x_test, y_test) = load_keras_dataset(dataset, data_dir)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from components.errors import BadDataError, DataMissingError

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# Debian's dataset-* packages install keras's cache layout under this folder.
SYSTEM_DATA_DIRS = ("/usr/share/datasets",)


@dataclasses.dataclass(frozen=True)
class KerasDataset:
    """One of `keras.datasets`: its module, its files (relative to the cache) and load options."""

    name: str
    module: str
    files: tuple[str, ...]
    load_kwargs: tuple[tuple[str, Any], ...] = ()
    debian_package: str | None = None

    def origin(self, relative_path: str) -> str:
        return KERAS_ORIGIN + os.path.basename(relative_path)


FASHION_MNIST_FILES = tuple(
    f"fashion-mnist/{name}"
    for name in (
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    )
)

# The book keeps the 10,000 most frequent words (listings 4.1 and 4.15).
NUM_WORDS = 10_000

KERAS_DATASETS = {
    d.name: d
    for d in (
        KerasDataset("mnist", "mnist", ("mnist.npz",)),
        KerasDataset(
            "fashion_mnist",
            "fashion_mnist",
            FASHION_MNIST_FILES,
            debian_package="dataset-fashion-mnist",
        ),
        KerasDataset("imdb", "imdb", ("imdb.npz",), (("num_words", NUM_WORDS),)),
        KerasDataset("reuters", "reuters", ("reuters.npz",), (("num_words", NUM_WORDS),)),
        KerasDataset("boston_housing", "boston_housing", ("boston_housing.npz",)),
    )
}


def default_data_dir() -> str:
    """Keras's own cache folder for datasets: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "datasets")


def find_files(
    dataset: KerasDataset, data_dir: str, system_dirs: Sequence[str] = SYSTEM_DATA_DIRS
) -> dict[str, str | None]:
    """Where each file of `dataset` is: the data folder first, then the system folders.

    Returns:
        A map from the file's path relative to the cache to its absolute path, or None.
    """
    found: dict[str, str | None] = {}
    for relative in dataset.files:
        candidates = [os.path.join(d, relative) for d in (data_dir, *system_dirs)]
        found[relative] = next((c for c in candidates if os.path.isfile(c)), None)
    return found


def missing_message(dataset: KerasDataset, data_dir: str, missing: Sequence[str]) -> str:
    """The user-facing message for missing files: which file, where to put it, its origin."""
    parts = [
        f"{rel} (put it at {os.path.join(data_dir, rel)}; origin {dataset.origin(rel)})"
        for rel in missing
    ]
    remedies = ["download it"]
    if dataset.debian_package:
        remedies.append(f"install the Debian package {dataset.debian_package}")
    remedies.append("pass --data-dir")
    what_to_do = ", ".join(remedies[:-1]) + " or " + remedies[-1]
    return f"dataset {dataset.name} is missing {'; '.join(parts)}. To fix: {what_to_do}."


@contextlib.contextmanager
def _keras_cache(cache_root: str) -> Iterator[None]:
    # Keras reads KERAS_HOME once, at import; its loaders take no cache argument.
    from keras.src.backend import config

    previous = config._KERAS_DIR
    config._KERAS_DIR = cache_root
    try:
        yield
    finally:
        config._KERAS_DIR = previous


def load_keras_dataset(
    dataset: KerasDataset, data_dir: str, system_dirs: Sequence[str] = SYSTEM_DATA_DIRS
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Loads `dataset` with keras's `load_data`, from local files, downloading only what is missing.

    Args:
        dataset: one of KERAS_DATASETS.
        data_dir: the folder that holds the files in keras's cache layout (`~/.keras/datasets`).
        system_dirs: further read-only folders with the same layout.

    Returns:
        `(x_train, y_train), (x_test, y_test)` exactly as keras returns them.

    Raises:
        DataMissingError: a file is missing (or corrupt) and could not be downloaded.
    """
    import keras

    found = find_files(dataset, data_dir, system_dirs)
    with tempfile.TemporaryDirectory(prefix="dlwp-keras-") as cache_root:
        staged = os.path.join(cache_root, "datasets")
        for relative, path in found.items():
            if path is not None:
                os.makedirs(os.path.dirname(os.path.join(staged, relative)), exist_ok=True)
                os.symlink(os.path.abspath(path), os.path.join(staged, relative))
        loader = getattr(keras.datasets, dataset.module).load_data
        try:
            with _keras_cache(cache_root):
                result = loader(**dict(dataset.load_kwargs))
        except Exception as error:  # noqa: BLE001 - keras raises a bare Exception on download
            raise _loading_error(dataset, data_dir, found, staged, error) from None
        _keep_downloads(staged, data_dir, found)
    return result


def _loading_error(
    dataset: KerasDataset,
    data_dir: str,
    found: dict[str, str | None],
    staged: str,
    error: Exception,
) -> Exception:
    """Turns keras's failure into an error that names the file and what to do about it."""
    missing = [rel for rel, path in found.items() if path is None]
    if missing:
        return DataMissingError(missing_message(dataset, data_dir, missing))
    # Keras re-downloads a file whose checksum does not match and removes it when that fails.
    rejected = [rel for rel in found if not os.path.lexists(os.path.join(staged, rel))]
    if rejected:
        return DataMissingError(
            f"dataset {dataset.name}: {found[rejected[0]]} does not match keras's checksum and a "
            f"fresh copy could not be downloaded ({error}); replace it with the file from "
            f"{dataset.origin(rejected[0])}."
        )
    files = ", ".join(str(path) for path in found.values())
    return BadDataError(f"dataset {dataset.name}: keras could not read {files}: {error!r}")


def _keep_downloads(staged: str, data_dir: str, found: dict[str, str | None]) -> None:
    """Moves files keras downloaded (regular files, not our links) into the data folder."""
    for relative in found:
        path = os.path.join(staged, relative)
        if os.path.isfile(path) and not os.path.islink(path):
            target = os.path.join(data_dir, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(path, target)
