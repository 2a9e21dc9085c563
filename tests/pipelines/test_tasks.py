"""Task specs: the CSV task's training budget, class names, and real public tables (scikit-learn's
bundled UCI tables written as the CSV a user would have) understood without a pipeline run."""

import io
import json

import pytest

from contract.features import FeatureKind
from pipelines.tasks import BOOK_TASKS, csv_task, csv_training_budget


@pytest.mark.parametrize(
    ("rows", "batch_size", "max_epochs"),
    [
        (50, 16, 500),  # 4 steps an epoch: 750 epochs for 3,000 steps, capped at 500
        (341, 16, 137),  # 22 steps: the breast cancer train split of the issue
        (455, 16, 104),  # 29 steps
        (1_999, 16, 24),  # 125 steps
        (2_000, 32, 48),  # 63 steps
        (12_000, 128, 32),  # 94 steps
        (200_000, 512, 20),  # 391 steps: 8 epochs would do, at least 20
    ],
)
def test_batch_and_epochs_follow_the_data_size(rows, batch_size, max_epochs):
    assert csv_training_budget(rows) == (batch_size, max_epochs)


def test_book_tasks_keep_the_book_settings_and_carry_class_names():
    assert BOOK_TASKS["fashion_mnist"].training.batch_size == 128
    assert BOOK_TASKS["imdb"].training.max_epochs == 20
    assert BOOK_TASKS["boston_housing"].training.batch_size == 16
    assert BOOK_TASKS["imdb"].class_names == ("negative", "positive")
    assert BOOK_TASKS["mnist"].class_names[7] == "7"
    assert BOOK_TASKS["fashion_mnist"].class_names[9] == "Ankle boot"
    assert BOOK_TASKS["boston_housing"].class_names is None


def write_sklearn_table(tmp_path, loader_name, label, names_as_text):
    from sklearn import datasets

    bunch = getattr(datasets, loader_name)(as_frame=True)
    frame = bunch.frame.rename(columns={bunch.target.name: label})
    if names_as_text:
        frame[label] = [bunch.target_names[i] for i in bunch.target]
    path = tmp_path / f"{loader_name}.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("loader_name", "label", "problem", "features", "class_names", "train_rows"),
    [
        ("load_breast_cancer", "diagnosis", "binary", 30, ("benign", "malignant"), 341),
        ("load_wine", "cultivar", "multiclass", 13, ("class_0", "class_1", "class_2"), 106),
        ("load_diabetes", "progression", "regression", 10, None, 264),
    ],
)
def test_real_tables_keep_every_measurement_as_a_numeric_feature(
    tmp_path, loader_name, label, problem, features, class_names, train_rows
):
    path = write_sklearn_table(tmp_path, loader_name, label, names_as_text=class_names is not None)
    task = csv_task(path, label, problem)
    assert len(task.features) == features
    assert {f.kind for f in task.features} == {FeatureKind.NUMERIC}
    assert task.data_report.left_out == {}
    assert task.class_names == class_names
    assert task.num_classes == (len(class_names) if class_names else None)
    assert task.data_report.split_counts["train"] == train_rows
    assert task.data_report.possible_leaks == ()
    assert task.training.batch_size == 16  # fewer than 2,000 rows
    assert task.protocol == "kfold"


def test_a_messy_csv_becomes_dates_numbers_and_names(tmp_path):
    rows = []
    for i in range(80):
        day = f"2012-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 2 else f"2012/{1 + i % 12:02d}/03"
        label = "" if i == 5 else ("sun" if i % 4 else "rain")
        rows.append(f"row-{i:04d},{day},{i % 2},{(i * 13) % 97},{label}\n")
    path = tmp_path / "weather.csv"
    path.write_text("id,day,windy,pressure,weather\n" + "".join(rows))
    task = csv_task(str(path), "weather", "binary")
    assert [(f.name, f.kind) for f in task.features] == [
        ("day", FeatureKind.DATE),
        ("windy", FeatureKind.NUMERIC),
        ("pressure", FeatureKind.NUMERIC),
    ]
    assert task.class_names == ("rain", "sun")
    assert task.contract().class_names == ("rain", "sun")
    assert "ID-like" in task.data_report.left_out["id"]
    assert task.data_report.to_json()["empty_label_rows"] == 1


def test_the_local_run_prints_the_column_report_once_and_saves_it(tmp_path, monkeypatch):
    from pipelines import local_runner

    class Stop(Exception):
        pass

    def no_pipeline(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(local_runner, "create_pipeline", no_pipeline)
    path = write_sklearn_table(tmp_path, "load_wine", "cultivar", names_as_text=True)
    task = csv_task(path, "cultivar", "multiclass")
    terminal = io.StringIO()
    settings = local_runner.RunSettings(home=str(tmp_path / "home"), data_dir=str(tmp_path))
    with pytest.raises(Stop):
        local_runner.run(task, settings, terminal, log_path="log")
    assert terminal.getvalue().count("columns of ") == 1
    assert "proline" in terminal.getvalue()
    saved = json.loads((tmp_path / "home" / "reports" / "load_wine" / "columns.json").read_text())
    assert saved["class_names"] == ["class_0", "class_1", "class_2"]
    assert len(saved["columns"]) == 14
