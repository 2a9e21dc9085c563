"""Real public tables that ship inside installed packages, written as the CSV a user would have.

No one on the team prepared them: scikit-learn's bundled datasets (the UCI breast cancer, wine
and diabetes tables) and the Chicago taxi trips that TFX ships with its taxi example (15,002
real trips with empty cells, company names and a `tips` column that gives the label away).

    path = write_table("breast_cancer", folder)   # -> folder/breast_cancer.csv
    RealTable = TABLES["breast_cancer"]            # label column and task
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable

TAXI_CSV = ("tfx", "examples", "chicago_taxi_pipeline", "data", "big_tipper_label", "data.csv")


@dataclasses.dataclass(frozen=True)
class RealTable:
    """A real table: what to predict and how to get the rows."""

    name: str
    label: str
    task: str
    rows: Callable[[], tuple[list[str], list[list[str]]]]
    description: str


def _sklearn_rows(loader_name: str, label: str) -> Callable[[], tuple[list[str], list[list]]]:
    def rows() -> tuple[list[str], list[list]]:
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)(as_frame=True)
        frame = bunch.frame.rename(columns={bunch.target.name: label})
        if loader_name != "load_diabetes":  # classes by name, as a user's file has them
            names = list(bunch.target_names)
            frame[label] = [names[i] for i in bunch.target]
        return list(frame.columns), frame.astype(object).values.tolist()

    return rows


def _taxi_path() -> str:
    import tfx

    return os.path.join(os.path.dirname(os.path.dirname(tfx.__file__)), *TAXI_CSV)


def _taxi_rows(keep_leak: bool) -> Callable[[], tuple[list[str], list[list[str]]]]:
    def rows() -> tuple[list[str], list[list[str]]]:
        with open(_taxi_path(), newline="") as f:
            header, *body = list(csv.reader(f))
        if keep_leak:
            return header, body
        # `big_tipper` is tips > 20 % of the fare: with `tips` in, the label is given away.
        leak = header.index("tips")
        return (
            [name for i, name in enumerate(header) if i != leak],
            [[cell for i, cell in enumerate(row) if i != leak] for row in body],
        )

    return rows


TABLES = {
    table.name: table
    for table in (
        RealTable(
            "breast_cancer",
            "diagnosis",
            "binary",
            _sklearn_rows("load_breast_cancer", "diagnosis"),
            "569 tumours, 30 numeric measurements, malignant or benign (UCI)",
        ),
        RealTable(
            "wine",
            "cultivar",
            "multiclass",
            _sklearn_rows("load_wine", "cultivar"),
            "178 wines, 13 chemical measurements, 3 cultivars (UCI)",
        ),
        RealTable(
            "diabetes",
            "progression",
            "regression",
            _sklearn_rows("load_diabetes", "progression"),
            "442 patients, 10 baseline variables, disease progression after a year",
        ),
        RealTable(
            "taxi",
            "big_tipper",
            "binary",
            _taxi_rows(keep_leak=False),
            "15,002 Chicago taxi trips (TFX's example data): did the rider tip over 20 %?",
        ),
        RealTable(
            "taxi_with_tips",
            "big_tipper",
            "binary",
            _taxi_rows(keep_leak=True),
            "the same trips with the `tips` column, which gives the label away",
        ),
    )
}


def write_table(name: str, folder: str) -> str:
    """Writes the real table `name` as `<folder>/<name>.csv`; returns its path."""
    header, rows = TABLES[name].rows()
    path = os.path.join(folder, f"{name}.csv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
