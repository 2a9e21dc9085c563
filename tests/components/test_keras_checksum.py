"""A file that fails keras's checksum is reported, and never deleted (keras deletes it)."""

import hashlib
import pathlib

import keras_files
import pytest

from components.errors import DataMissingError
from components.keras_datasets import KERAS_DATASETS, load_keras_dataset


def test_file_with_wrong_checksum_is_reported_and_kept(tmp_path, offline):
    path = keras_files.write_boston_housing(str(tmp_path))
    before = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    with pytest.raises(DataMissingError) as error:
        load_keras_dataset(KERAS_DATASETS["boston_housing"], str(tmp_path))
    assert "checksum" in str(error.value)
    assert path in str(error.value)
    assert hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest() == before
