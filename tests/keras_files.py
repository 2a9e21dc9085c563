"""Small files in the exact formats keras's dataset loaders read, for tests (no downloads).

Sizes are the smallest that the book's hold-outs allow (e.g. more than 10,000 training images
so that the last 10,000 can be held out); the pipeline tests cap examples per split.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

IMAGE_TRAIN, IMAGE_TEST = 10_050, 60
REVIEW_TRAIN, REVIEW_TEST = 10_040, 50
NEWSWIRES = 1_300  # keras keeps 80 % for train: 1,040 > the 1,000 held out for eval.
HOUSES = 120


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def write_mnist(data_dir: str, seed: int = 0, x_test_dtype=np.uint8, y_test_offset: int = 0) -> str:
    """mnist.npz with keras's keys; `x_test_dtype` and `y_test_offset` let a test break it."""
    rng = np.random.default_rng(seed)
    path = os.path.join(data_dir, "mnist.npz")
    np.savez_compressed(
        path,
        x_train=_images(rng, IMAGE_TRAIN),
        y_train=rng.integers(0, 10, IMAGE_TRAIN, dtype=np.uint8),
        x_test=_images(rng, IMAGE_TEST).astype(x_test_dtype),
        y_test=rng.integers(0, 10, IMAGE_TEST, dtype=np.uint8) + y_test_offset,
    )
    return path


def _write_idx(path: str, array: np.ndarray) -> None:
    # IDX: zero, zero, type 0x08 (unsigned byte), number of dimensions; then big-endian sizes.
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(data_dir: str, seed: int = 1) -> str:
    """The four gzipped IDX files under `fashion-mnist/`, keras's (and Debian's) layout."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(data_dir, "fashion-mnist")
    os.makedirs(folder, exist_ok=True)
    for prefix, n in (("train", IMAGE_TRAIN), ("t10k", IMAGE_TEST)):
        _write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), _images(rng, n))
        _write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), rng.integers(0, 10, n))
    return folder


def _sequences(rng: np.random.Generator, n: int, vocabulary: int) -> np.ndarray:
    # keras's npz stores reviews as an object array of Python lists of raw word indices.
    sequences = np.empty(n, dtype=object)
    for i in range(n):
        sequences[i] = rng.integers(1, vocabulary, size=rng.integers(5, 40)).tolist()
    return sequences


def write_imdb(data_dir: str, seed: int = 2) -> str:
    """imdb.npz: object arrays of index lists; indices reach past num_words=10,000 on purpose."""
    rng = np.random.default_rng(seed)
    path = os.path.join(data_dir, "imdb.npz")
    np.savez(
        path,
        x_train=_sequences(rng, REVIEW_TRAIN, 12_000),
        y_train=rng.integers(0, 2, REVIEW_TRAIN),
        x_test=_sequences(rng, REVIEW_TEST, 12_000),
        y_test=rng.integers(0, 2, REVIEW_TEST),
    )
    return path


def write_reuters(data_dir: str, seed: int = 3) -> str:
    """reuters.npz: keys x and y; keras splits it 80 / 20 itself."""
    rng = np.random.default_rng(seed)
    path = os.path.join(data_dir, "reuters.npz")
    np.savez(path, x=_sequences(rng, NEWSWIRES, 12_000), y=rng.integers(0, 46, NEWSWIRES))
    return path


def write_boston_housing(data_dir: str, seed: int = 4) -> str:
    """boston_housing.npz: x of 13 float columns, y the price in k$."""
    rng = np.random.default_rng(seed)
    path = os.path.join(data_dir, "boston_housing.npz")
    x = rng.normal(10.0, 3.0, size=(HOUSES, 13))
    np.savez(path, x=x, y=rng.uniform(5.0, 50.0, HOUSES))
    return path


WRITERS = {
    "mnist": write_mnist,
    "fashion_mnist": write_fashion_mnist,
    "imdb": write_imdb,
    "reuters": write_reuters,
    "boston_housing": write_boston_housing,
}
