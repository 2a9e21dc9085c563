"""A user's CSV: typed columns, missing cells, seeded split, `split` column, clear errors."""

import pytest

from components.csv_dataset import load_csv_splits
from components.errors import BadDataError


def write(tmp_path, text, name="houses.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rows(n, pattern="{i},{color},{price}\n", header="rooms,color,price\n"):
    colors = ["red", "blue", ""]
    return header + "".join(
        pattern.format(i=i, color=colors[i % 3], price=100 + i * 0.5) for i in range(n)
    )


def test_seeded_split_is_60_20_20_and_repeatable(tmp_path):
    path = write(tmp_path, rows(100))
    first = load_csv_splits(path, "price", "regression")
    second = load_csv_splits(path, "price", "regression")
    assert {k: len(v["price"]) for k, v in first.items()} == {"train": 60, "eval": 20, "test": 20}
    assert first["test"]["rooms"] == second["test"]["rooms"]
    all_rooms = sorted(r for split in first.values() for r in split["rooms"])
    assert all_rooms == list(range(100))  # every row lands in exactly one split


def test_empty_cells_are_missing_and_types_are_inferred(tmp_path):
    path = write(tmp_path, rows(30))
    splits = load_csv_splits(path, "price", "regression")
    colors = [c for split in splits.values() for c in split["color"]]
    assert colors.count(None) == 10
    assert {c for c in colors if c is not None} == {"red", "blue"}
    assert all(isinstance(r, int) for split in splits.values() for r in split["rooms"])
    assert all(isinstance(p, float) for split in splits.values() for p in split["price"])


def test_split_column_chooses_the_split_and_is_not_a_feature(tmp_path):
    text = "x,y,split\n1,0,train\n2,1,train\n3,0,eval\n4,1,test\n5,1,train\n"
    splits = load_csv_splits(write(tmp_path, text), "y", "binary")
    assert splits["eval"]["x"] == [3]
    assert splits["train"]["x"] == [1, 2, 5]
    assert "split" not in splits["train"]


def test_unknown_split_value_names_it(tmp_path):
    text = "x,y,split\n1,0,train\n2,1,validation\n3,0,eval\n4,1,test\n"
    with pytest.raises(BadDataError, match="validation"):
        load_csv_splits(write(tmp_path, text), "y", "binary")


def test_missing_label_column_lists_the_columns(tmp_path):
    with pytest.raises(BadDataError, match="no label column 'target'.*rooms, color, price"):
        load_csv_splits(write(tmp_path, rows(20)), "target", "regression")


def test_empty_label_cell_names_the_line(tmp_path):
    text = "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)) + "11,\n"
    with pytest.raises(BadDataError, match="line.* 12"):
        load_csv_splits(write(tmp_path, text), "y", "binary")


def test_binary_label_needs_two_classes(tmp_path):
    text = "x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(12))
    with pytest.raises(BadDataError, match="2 classes.*3"):
        load_csv_splits(write(tmp_path, text), "y", "binary")


def test_regression_label_must_be_numeric(tmp_path):
    text = "x,y\n" + "".join(f"{i},{'cheap' if i % 2 else 'dear'}\n" for i in range(10))
    with pytest.raises(BadDataError, match="numeric"):
        load_csv_splits(write(tmp_path, text), "y", "regression")


def test_short_row_names_its_line(tmp_path):
    text = "a,b,c\n1,2,3\n4,5\n"
    with pytest.raises(BadDataError, match="line 3: 2 fields"):
        load_csv_splits(write(tmp_path, text), "c", "regression")


def test_duplicate_column_names_are_refused(tmp_path):
    with pytest.raises(BadDataError, match="duplicate"):
        load_csv_splits(write(tmp_path, "a,a,b\n1,2,3\n"), "b", "regression")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(BadDataError, match="nope.csv does not exist"):
        load_csv_splits(str(tmp_path / "nope.csv"), "y", "binary")
