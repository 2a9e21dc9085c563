"""A user's CSV: typed columns, missing cells, empty labels, stratified seeded split, `split`
column, left-out columns, clear errors."""

from collections import Counter

import pytest

from components.csv_dataset import load_csv_splits, load_csv_table
from components.errors import BadDataError


def write(tmp_path, text, name="houses.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rows(n, pattern="{i},{color},{price}\n", header="rooms,color,price\n"):
    colors = ["red", "blue", ""]
    return header + "".join(
        pattern.format(i=i % 7, color=colors[i % 3], price=100 + i * 0.5) for i in range(n)
    )


def test_seeded_split_is_60_20_20_and_repeatable(tmp_path):
    path = write(tmp_path, rows(100))
    first = load_csv_splits(path, "price", "regression")
    second = load_csv_splits(path, "price", "regression")
    assert {k: len(v["price"]) for k, v in first.items()} == {"train": 60, "eval": 20, "test": 20}
    assert first["test"]["price"] == second["test"]["price"]
    all_prices = sorted(p for split in first.values() for p in split["price"])
    assert all_prices == [100 + i * 0.5 for i in range(100)]  # each row in exactly one split


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


def test_rows_with_an_empty_label_are_left_out_of_every_split_and_counted(tmp_path):
    text = "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)) + "\n11,\n12,NA\n13,1\n"
    table = load_csv_table(write(tmp_path, text), "y", "binary")
    assert table.rows_read == 13
    assert table.empty_label_lines == (13, 14)  # line 12 is blank; the header is line 1
    xs = sorted(x for split in table.splits.values() for x in split["x"])
    assert xs == [*range(10), 13]


def test_a_label_empty_everywhere_names_the_column_and_the_remedy(tmp_path):
    text = "x,y\n" + "".join(f"{i},\n" for i in range(10))
    with pytest.raises(BadDataError, match="'y' is empty on every row.*--label"):
        load_csv_splits(write(tmp_path, text), "y", "binary")


def test_missing_markers_leave_a_number_column_numeric(tmp_path):
    text = "x,y\n" + "".join(f"{'NA' if i % 4 == 0 else i},{i}\n" for i in range(20))
    text += "nan,1\nNULL,2\n"
    splits = load_csv_splits(write(tmp_path, text), "y", "regression")
    xs = [x for split in splits.values() for x in split["x"]]
    assert xs.count(None) == 7
    assert all(isinstance(x, int) for x in xs if x is not None)


def test_a_file_sorted_by_label_is_split_with_every_class_in_every_split(tmp_path):
    # 90 rows of class "a", then 10 of class "b": a contiguous split would miss "b" somewhere.
    text = "x,y\n" + "".join(f"{i}.5,{'a' if i < 90 else 'b'}\n" for i in range(100))
    splits = load_csv_splits(write(tmp_path, text), "y", "binary")
    counts = {name: Counter(split["y"]) for name, split in splits.items()}
    assert counts == {
        "train": {0: 54, 1: 6},
        "eval": {0: 18, 1: 2},
        "test": {0: 18, 1: 2},
    }


def test_regression_split_is_shuffled_not_in_file_order(tmp_path):
    splits = load_csv_splits(write(tmp_path, rows(100)), "price", "regression")
    test_prices = splits["test"]["price"]
    assert max(test_prices) - min(test_prices) > 25  # spread over the file, not its last fifth


def test_columns_that_cannot_help_are_left_out_of_the_splits(tmp_path):
    header = "code,kind,size,y\n"
    body = "".join(f"ID{i:04d},same,{i % 3},{i % 2}\n" for i in range(40))
    table = load_csv_table(write(tmp_path, header + body), "y", "binary")
    assert set(table.left_out) == {"code", "kind"}
    assert "ID-like" in table.left_out["code"] and "constant" in table.left_out["kind"]
    assert set(table.splits["train"]) == {"size", "y"}
    assert table.features == {"size": "numeric"}


def test_only_useless_columns_is_an_error_that_names_them(tmp_path):
    text = "kind,y\n" + "".join(f"same,{i % 2}\n" for i in range(10))
    with pytest.raises(BadDataError, match="no column can be a feature.*kind: constant"):
        load_csv_splits(write(tmp_path, text), "y", "binary")


def test_string_classes_are_indices_in_sorted_order_with_their_names(tmp_path):
    weather = ["sun", "rain", "fog"]
    text = "x,weather\n" + "".join(f"{i}.5,{weather[i % 3]}\n" for i in range(30))
    table = load_csv_table(write(tmp_path, text), "weather", "multiclass")
    assert table.class_names == ("fog", "rain", "sun")
    label_of = {
        x: y
        for split in table.splits.values()
        for x, y in zip(split["x"], split["weather"], strict=True)
    }
    assert (label_of[0.5], label_of[1.5], label_of[2.5]) == (2, 1, 0)  # sun, rain, fog


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


def test_column_names_become_names_a_saved_model_accepts(tmp_path):
    header = "mean radius,(area),price in k$\n"
    table = load_csv_table(write(tmp_path, rows(40, header=header)), "price in k$", "regression")
    assert list(table.features) == ["mean_radius", "f_area_"]
    assert table.label == "price_in_k_"
    assert set(table.splits["train"]) == {"mean_radius", "f_area_", "price_in_k_"}


def test_columns_that_become_one_feature_name_are_refused_by_name(tmp_path):
    with pytest.raises(BadDataError, match="'a b' and 'a_b' become the same feature name"):
        load_csv_splits(write(tmp_path, "a b,a_b,c\n1,2,3\n"), "c", "regression")
