"""The version-folder layout: what counts as a version, and publishing whole or not at all."""

import json
import os
import pathlib

import pytest

from contract.versions import (
    list_versions,
    parse_version,
    publish_folder,
    publish_version,
    write_json,
)


def test_only_integer_named_folders_are_versions(tmp_path):
    for name in ("1", "10", "2", "notes", ".partial-3-1", "4a"):
        os.makedirs(tmp_path / name)
    (tmp_path / "7").write_text("a file named like a version")
    assert list_versions(str(tmp_path)) == [1, 2, 10]
    assert list_versions(str(tmp_path / "absent")) == []


def test_parse_version_accepts_listdir_names_only_when_numeric():
    assert parse_version("12/") == 12
    assert parse_version("１２") is None  # full-width digits are not TF Serving's versions
    assert parse_version("-1") is None


def test_publish_version_takes_the_next_number_and_leaves_no_staging(tmp_path):
    os.makedirs(tmp_path / "3")

    def fill(staging):
        with open(os.path.join(staging, "saved_model.pb"), "w") as f:
            f.write("model")

    assert publish_version(str(tmp_path), fill) == 4
    assert (tmp_path / "4" / "saved_model.pb").read_text() == "model"
    assert sorted(os.listdir(tmp_path)) == ["3", "4"]


def test_a_failed_fill_publishes_nothing(tmp_path):
    def fill(staging):
        with open(os.path.join(staging, "half"), "w") as f:
            f.write("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_version(str(tmp_path), fill)
    assert os.listdir(tmp_path) == []  # neither a version nor a staging folder


def test_publish_folder_never_replaces_a_published_folder(tmp_path):
    target = str(tmp_path / "exports" / "1")
    publish_folder(target, lambda staging: pathlib.Path(staging, "a").touch())
    with pytest.raises(FileExistsError):
        publish_folder(target, lambda staging: None)
    assert os.listdir(target) == ["a"]
    assert sorted(os.listdir(tmp_path / "exports")) == ["1"]


def test_write_json_replaces_the_file_whole(tmp_path):
    path = str(tmp_path / "deep" / "summary.json")
    write_json(path, {"a": 1})
    write_json(path, {"b": [1, 2]})
    assert json.loads(pathlib.Path(path).read_text()) == {"b": [1, 2]}
    assert os.listdir(tmp_path / "deep") == ["summary.json"]
