"""`dlwp`: the command line. It only wires flags to the task specs and the runners.

    dlwp datasets [--json]
    dlwp run DATASET | --csv FILE --label COL --task T  [--home] [--data-dir] [--max-examples N]
             [--epochs N] [--tpu NAME] [--mixed-precision] [--tune [--tune-trials N]]
             [--no-cache]

Exit codes: 0 ok, 1 the workflow ran and said no (anomalies), 2 bad usage or missing data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from components.errors import DlwpError


class UnknownDatasetError(DlwpError):
    """DATASET is not one of the book's datasets (exit 2)."""


def _home(flag: str | None) -> str:
    return os.path.abspath(flag or os.environ.get("DLWP_HOME") or "dlwp-home")


def _data_dir(flag: str | None) -> str:
    from components.keras_datasets import default_data_dir

    return os.path.abspath(os.path.expanduser(flag)) if flag else default_data_dir()


def _datasets(args: argparse.Namespace) -> int:
    from components.keras_datasets import KERAS_DATASETS, find_files, missing_message
    from pipelines.tasks import BOOK_TASKS

    data_dir = _data_dir(args.data_dir)
    rows = []
    for task in BOOK_TASKS.values():
        dataset = KERAS_DATASETS[task.source.dataset]
        found = find_files(dataset, data_dir)
        missing = [relative for relative, path in found.items() if path is None]
        rows.append(
            {
                "name": task.name,
                "task": task.problem_type,
                "metric": task.metric,
                "protocol": task.protocol,
                "description": task.description,
                "available": not missing,
                "files": found,
                "what_to_do": missing_message(dataset, data_dir, missing) if missing else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'dataset':<16}{'task':<12}{'metric':<10}{'protocol':<10}data")
    for row in rows:
        where = "found" if row["available"] else "missing"
        print(f"{row['name']:<16}{row['task']:<12}{row['metric']:<10}{row['protocol']:<10}{where}")
    for row in rows:
        if not row["available"]:
            print(f"\n{row['what_to_do']}")
    print("\nYour own data: dlwp run --csv FILE --label COLUMN --task binary|multiclass|regression")
    return 0


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from components.csv_dataset import csv_model_name
    from pipelines.logs import library_output_to, log_path_for

    if (args.dataset is None) == (args.csv is None):
        parser.error("give either a DATASET or --csv FILE")
    if args.csv is not None and (not args.label or not args.task):
        parser.error("--csv needs --label COLUMN and --task binary|multiclass|regression")
    if args.max_examples < 0:
        parser.error("--max-examples must be positive (0 means all)")
    if args.tune_trials < 1:
        parser.error("--tune-trials must be at least 1")
    if args.epochs < 0:
        parser.error("--epochs must be positive (0 means the book's maximum)")
    home = _home(args.home)
    model = csv_model_name(args.csv) if args.csv else args.dataset
    log_path = log_path_for(home, model)
    # Everything TensorFlow, TFX and Beam print, from their import on, goes to the log.
    with library_output_to(log_path) as terminal:
        terminal.write(f"dlwp run {model}: logs in {log_path}\n")
        from pipelines import local_runner
        from pipelines.pipeline import TrainingOptions
        from pipelines.tasks import BOOK_TASKS, csv_task

        if args.csv is not None:
            task = csv_task(os.path.abspath(args.csv), args.label, args.task)
        elif args.dataset in BOOK_TASKS:
            task = BOOK_TASKS[args.dataset]
        else:
            raise UnknownDatasetError(
                f"unknown dataset {args.dataset!r}; choose from {', '.join(BOOK_TASKS)} "
                "or use --csv FILE"
            )
        settings = local_runner.RunSettings(
            home=home,
            data_dir=_data_dir(args.data_dir),
            max_examples=args.max_examples,
            enable_cache=not args.no_cache,
            training=TrainingOptions(
                max_epochs=args.epochs,
                tpu=args.tpu or os.environ.get("TPU_NAME", ""),
                mixed_precision=args.mixed_precision,
                tune_trials=args.tune_trials if args.tune else 0,
            ),
        )
        summary = local_runner.run(task, settings, terminal, log_path)
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `dlwp` (no parsing at import time)."""
    parser = argparse.ArgumentParser(
        prog="dlwp", description="The universal workflow of machine learning, as a service."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    datasets = commands.add_parser("datasets", help="the book's datasets and where their data is")
    datasets.add_argument("--json", action="store_true", help="machine-readable output")
    datasets.add_argument("--data-dir", help="folder of keras's dataset files")

    run = commands.add_parser("run", help="run the workflow on a dataset or a CSV")
    run.add_argument(
        "dataset", nargs="?", help="mnist, fashion_mnist, imdb, reuters, boston_housing"
    )
    run.add_argument("--csv", help="your own tabular data")
    run.add_argument("--label", help="the CSV's label column")
    run.add_argument("--task", choices=("binary", "multiclass", "regression"))
    run.add_argument("--home", help="where outputs go (default $DLWP_HOME, else ./dlwp-home)")
    run.add_argument(
        "--data-dir", help="folder of keras's dataset files (default $KERAS_HOME/datasets)"
    )
    run.add_argument("--max-examples", type=int, default=0, help="at most N examples per split")
    run.add_argument(
        "--epochs", type=int, default=0, help="at most N epochs (default: the book's maximum)"
    )
    run.add_argument("--tpu", help="train on this TPU (default $TPU_NAME)")
    run.add_argument(
        "--mixed-precision", action="store_true", help="float16 compute when training on a GPU"
    )
    run.add_argument(
        "--tune", action="store_true", help="search units, dropout, L2, learning rate first"
    )
    run.add_argument("--tune-trials", type=int, default=10, help="models tried by --tune")
    run.add_argument("--no-cache", action="store_true", help="rerun every step")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `dlwp`; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "datasets":
            return _datasets(args)
        return _run(args, parser)
    except DlwpError as error:
        print(f"dlwp: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
