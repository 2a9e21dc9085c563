"""Real tables benchmark: `dlwp run --csv` against a plain scikit-learn MLP on the same split.

    python -m benchmarks.tables [--tables breast_cancer,wine,...] [--work DIR]
                                [--out benchmarks/results/tables.json]

Each real table of `benchmarks.real_tables` is written as a CSV and run through the whole
workflow in a fresh home; the plain model is what a practitioner would write in a few lines
(impute, scale, one-hot, `MLPClassifier` / `MLPRegressor` with sklearn's defaults), fit on the
same non-test rows (train + eval) and scored on the same test rows. The goal (README, "Your
own data"): dlwp at most 1 point of accuracy or AUC below the plain model, or an MAE at most
10 % above it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.real_tables import TABLES, write_table
from benchmarks.reports import write_report
from benchmarks.servers import dlwp_program

DEFAULT_TABLES = ("breast_cancer", "wine", "diabetes", "taxi")
SEED = 0
# The goal: points of accuracy / AUC, or a fraction of the MAE.
GOAL = {"auc": 0.01, "accuracy": 0.01, "mae": 0.10}


def _plain_model(task: str, categorical: list[str], numeric: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore"),
                categorical,
            ),
        ]
    )
    mlp = MLPRegressor if task == "regression" else MLPClassifier
    network = mlp(
        hidden_layer_sizes=(64, 64),
        max_iter=1000,  # adam until the training loss stops improving (sklearn's tol)
        random_state=SEED,
    )
    return make_pipeline(columns, network)


def plain_score(csv_path: str, label: str, task: str) -> dict:
    """The plain MLP on dlwp's split of the file: fit on train + eval, scored on test."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

    from components.csv_dataset import load_csv_splits

    splits = load_csv_splits(csv_path, label, task)
    frames = {name: pd.DataFrame(dict(columns)) for name, columns in splits.items()}
    fit = pd.concat([frames["train"], frames["eval"]], ignore_index=True)
    test = frames["test"]
    features = [c for c in fit.columns if c != label]
    categorical = [c for c in features if fit[c].dtype == object]
    numeric = [c for c in features if c not in categorical]
    for frame in (fit, test):
        frame[numeric] = frame[numeric].astype(float)
        frame[categorical] = frame[categorical].fillna("(missing)").astype(str)
    model = _plain_model(task, categorical, numeric)
    started = time.monotonic()
    model.fit(fit[features], fit[label])
    seconds = time.monotonic() - started
    if task == "regression":
        metric, value = "mae", mean_absolute_error(test[label], model.predict(test[features]))
    elif task == "binary":
        scores = model.predict_proba(test[features])[:, 1]
        metric, value = "auc", roc_auc_score(test[label], scores)
    else:
        metric, value = "accuracy", accuracy_score(test[label], model.predict(test[features]))
    return {
        "metric": metric,
        "test": float(value),
        "fit_s": round(seconds, 2),
        "rows": {name: int(len(frame)) for name, frame in frames.items()},
        "test_label_mean": float(np.mean(test[label])),
    }


def dlwp_run(csv_path: str, label: str, task: str, home: str) -> dict:
    """`dlwp run --csv` in a fresh home; returns its summary and wall time."""
    command = [
        dlwp_program(),
        "run",
        "--csv",
        csv_path,
        "--label",
        label,
        "--task",
        task,
        "--home",
        home,
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    model = os.path.splitext(os.path.basename(csv_path))[0]
    summary_path = os.path.join(home, "reports", model, "summary.json")
    summary = None
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    return {"exit_code": done.returncode, "wall_s": round(wall, 1), "summary": summary}


def compare(name: str, work: str) -> dict:
    """One table: dlwp against the plain model, and whether the goal is reached."""
    table = TABLES[name]
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    csv_path = write_table(name, folder)
    plain = plain_score(csv_path, table.label, table.task)
    run = dlwp_run(csv_path, table.label, table.task, os.path.join(folder, "home"))
    summary = run["summary"] or {}
    dlwp_test = (summary.get("metric") or {}).get("test")
    metric = plain["metric"]
    if dlwp_test is None:
        gap, reached = None, False
    elif metric == "mae":
        gap = dlwp_test / plain["test"] - 1
        reached = gap <= GOAL[metric]
    else:
        gap = plain["test"] - dlwp_test
        reached = gap <= GOAL[metric]
    return {
        "table": name,
        "description": table.description,
        "task": table.task,
        "metric": metric,
        "dlwp": {
            "test": dlwp_test,
            "eval": (summary.get("metric") or {}).get("eval"),
            "blessed": summary.get("blessed"),
            "exit_code": run["exit_code"],
            "wall_s": run["wall_s"],
            "protocol": (summary.get("training") or {}).get("protocol"),
            "epochs": (summary.get("training") or {}).get("epochs"),
            "simple_models": summary.get("simple_models"),
            "data_warnings": len(summary.get("data_warnings") or []),
        },
        "plain_mlp": plain,
        "gap": gap,
        "goal": GOAL[metric],
        "reached": bool(reached),
    }


def table(results: list[dict]) -> str:
    """The markdown table of docs/benchmarks.md."""
    lines = [
        "| table | task | metric | dlwp test | plain MLP test | gap | goal | reached | blessed | "
        "dlwp wall (s) |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        d = r["dlwp"]
        gap = "" if r["gap"] is None else f"{r['gap']:+.3f}"
        test = "failed" if d["test"] is None else f"{d['test']:.4f}"
        unit = "MAE ×" if r["metric"] == "mae" else "points"
        lines.append(
            f"| {r['table']} | {r['task']} | {r['metric']} | {test} | "
            f"{r['plain_mlp']['test']:.4f} | {gap} | ≤ {r['goal']} {unit} | "
            f"{'yes' if r['reached'] else 'no'} | {d['blessed']} | {d['wall_s']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(DEFAULT_TABLES))
    parser.add_argument("--work", help="where CSVs and homes go (default: a temporary folder)")
    parser.add_argument("--out", default="benchmarks/results/tables.json")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dlwp-tables-")
    results = []
    for name in args.tables.split(","):
        results.append(compare(name, work))
        print(json.dumps({k: results[-1][k] for k in ("table", "gap", "reached")}), flush=True)
    write_report(args.out, results=results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
