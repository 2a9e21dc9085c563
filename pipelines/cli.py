"""`dlwp`: the command line. It only wires flags to the task specs and the runners.

    dlwp datasets [--json]
    dlwp run DATASET | --csv FILE --label COL --task T  [--home] [--data-dir] [--max-examples N]
             [--epochs N] [--kfold-repeats P] [--tpu NAME] [--mixed-precision]
             [--tune [--tune-trials N]]
             [--prune SPARSITY] [--extra-data DIR] [--schema FILE] [--no-cache] [--json]
             [--threshold T | --target-fpr F | --target-recall R] [--cases-per-day N]
             [--beam-arg=--name=value ...] [--workers N [--gpus-per-worker G] [--worker-image I]]
    dlwp report MODEL [--version V] [--home DIR] [--json]
    dlwp audit MODEL [--home DIR] [--feedback-dir DIR] [--reports-dir DIR] [--json]
    dlwp ab MODEL [--home DIR] [--feedback-dir DIR] [--reports-dir DIR] [--json]
    dlwp retrain MODEL [--home DIR] [--feedback-dir DIR] [-- dlwp run flags]
    dlwp request MODEL [--home DIR] [--count N] [--output FILE]
    dlwp drift MODEL [--url http://localhost:8501] [--home DIR | --plots DIR]
    dlwp serve [--home DIR | --model-base DIR | --model-config-file F] [--port 8501]
               [--grpc-port 8500] [--workers N] [--enable-batching ...]
               [--backend inprocess|tfserving]
               [--feedback-rate R [--feedback-hard-rate H] [--feedback-dir DIR]]
               [--reports-dir DIR] [--split MODEL=LABEL:W,LABEL:W ...]
    dlwp compile DATASET --target kubeflow|vertex --output FILE --pipeline-root gs://... [--image I]
                 [--beam-runner R --beam-arg=--name=value ...] [--gpus N | --tpu-topology 2x2]
                 [--workers N [--gpus-per-worker G]] [--machine-type M --project P --region R]
    dlwp k8s run DATASET [--namespace dlwp] [--image I] [--gpus N] [--follow | --dry-run]
                 [-- dlwp run flags]
    dlwp retrain-receiver [--port 9095] [--host H] [--namespace dlwp] [--image I] [--models M1,M2]
    dlwp train-worker --workers N --job J --service S --namespace NS -- run_executor flags
                 (a pod of the Trainer's indexed Job; started by the Trainer)

Flags that fill a settings dataclass (`ServeSettings`, `TrainingOptions`, ...) have no default
of their own: a flag left out keeps the dataclass's default, and the dataclass refuses a bad
value (`__post_init__`), which is reported here as a usage error.

Exit codes: 0 ok, 1 the workflow ran and said no (anomalies), 2 bad usage or missing data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from components.errors import DlwpError, SettingsError
from pipelines.logs import library_output_to, log_path_for

if TYPE_CHECKING:  # imported where used: a command that does not need them does not load them
    from pipelines.settings import ReportOptions, TrainingOptions
    from serving.settings import ServeSettings


class UnknownDatasetError(DlwpError):
    """DATASET is not one of the book's datasets (exit 2)."""


def _home(flag: str | None) -> str:
    return os.path.abspath(flag or os.environ.get("DLWP_HOME") or "dlwp-home")


def _book_task(name: str, alternative: str = ""):
    """The task spec of one of the book's datasets, or UnknownDatasetError listing them."""
    from pipelines.tasks import BOOK_TASKS

    if name not in BOOK_TASKS:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; choose from {', '.join(BOOK_TASKS)}{alternative}"
        )
    return BOOK_TASKS[name]


def _local_or_remote(path: str) -> str:
    """An absolute path; a URL (gs://...) as it is."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def _data_dir(flag: str | None) -> str:
    from components.keras_datasets import default_data_dir

    return os.path.abspath(os.path.expanduser(flag)) if flag else default_data_dir()


def _given(args: argparse.Namespace, *names: str, **dests: str) -> dict[str, Any]:
    """The fields of a settings dataclass (or a function's keywords) whose flags were given.

    A flag that fills a setting defaults to None, so that a setting left out keeps the default
    its dataclass declares: each default is spelt once, there. `names` are flags whose dest is
    the field's name; `dests` maps a field to its flag's dest.
    """
    fields = {**{name: name for name in names}, **dests}
    values = {field: getattr(args, dest) for field, dest in fields.items()}
    return {field: value for field, value in values.items() if value is not None}


@contextlib.contextmanager
def _usage_error_on(parser: argparse.ArgumentParser, error_type: type[Exception]) -> Iterator[None]:
    """Reports `error_type` (a settings dataclass refusing a flag's value) as argparse reports a
    bad flag: usage and one line, exit 2. Enter it before `library_output_to`, so that the line
    goes to the terminal, not to the log."""
    try:
        yield
    except error_type as error:
        parser.error(str(error))


def _datasets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from components.keras_datasets import KERAS_DATASETS, find_files, missing_message
    from components.sources import KerasSource
    from pipelines.tasks import BOOK_TASKS

    data_dir = _data_dir(args.data_dir)
    rows = []
    for task in BOOK_TASKS.values():
        if not isinstance(task.source, KerasSource):
            continue  # the book's datasets all come from keras.datasets
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

    started = time.monotonic()
    if (args.dataset is None) == (args.csv is None):
        parser.error("give either a DATASET or --csv FILE")
    if args.csv is not None and (not args.label or not args.task):
        parser.error("--csv needs --label COLUMN and --task binary|multiclass|regression")
    _check_training_flags(args, parser)
    home = _home(args.home)
    model = csv_model_name(args.csv) if args.csv else args.dataset
    log_path = log_path_for(home, model)
    with _usage_error_on(parser, SettingsError):  # checked before TensorFlow loads
        training = _training_options(args, tpu=args.tpu or os.environ.get("TPU_NAME", ""))
        if any(v is not None for v in (args.threshold, args.target_fpr, args.target_recall)):
            # Only then: the task specs' import takes 0.4 s before the first line.
            problem_type = args.task or _book_task(args.dataset, " or use --csv FILE").problem_type
            training.check_task(model, problem_type)
        schema = _read_schema_flag(args.schema) if args.schema else None
        report = _report_options(args)
        from pipelines.settings import beam_options

        beam_args = beam_options(args.beam_arg)
        pools = _worker_pools(args, image=args.worker_image or "")
    # Everything TensorFlow, TFX and Beam print, from their import on, goes to the log.
    with library_output_to(log_path) as terminal:
        terminal.write(f"dlwp run {model}: logs in {log_path}\n")
        terminal.write("loading TensorFlow, TFX and Beam ...\n")
        terminal.flush()
        loading = time.monotonic()
        from pipelines import local_runner
        from pipelines.tasks import csv_task

        terminal.write(f"loaded in {time.monotonic() - loading:.1f} s\n")

        if args.csv is not None:
            task = csv_task(os.path.abspath(args.csv), args.label, args.task)
        else:
            task = _book_task(args.dataset, " or use --csv FILE")
        extra_data: dict[str, Any] = (
            {"extra_data_dir": _local_or_remote(args.extra_data)} if args.extra_data else {}
        )
        if schema is not None:  # before the pipeline runs: it must declare the whole task
            _check_schema_declares(schema, args.schema, [f.name for f in task.features], task.label)
        settings = local_runner.RunSettings(
            home=home,
            data_dir=_data_dir(args.data_dir),
            enable_cache=not args.no_cache,
            training=training,
            report=report,
            beam_args=beam_args,
            trainer_pools=pools,
            **extra_data,
            **({"schema_file": os.path.abspath(args.schema)} if args.schema else {}),
            **_given(args, "max_examples"),
        )
        summary = local_runner.run(task, settings, terminal, log_path)
    _print_outcome(summary, args.json, home, log_path, time.monotonic() - started)
    return 0


def _print_outcome(
    summary: dict[str, Any], as_json: bool, home: str, log_path: str, total_s: float
) -> None:
    """The end of `dlwp run`: the short table (pipelines/run_table.py), or the summary JSON
    with --json. Both modules are loaded by then: the imports cost nothing."""
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    from contract.versions import list_versions
    from pipelines.local_runner import HomePaths
    from pipelines.request_example import default_request_path
    from pipelines.run_table import RunOutputs, run_table

    paths = HomePaths(home, summary["model"])
    versions = list_versions(paths.serving)
    outputs = RunOutputs(
        summary_path=paths.summary_path,
        reports_dir=paths.reports,
        serving_dir=paths.serving,
        exports_dir=paths.exports,
        log_path=log_path,
        request_path=default_request_path(home, summary["model"]),
        # The commands printed name the home unless it is the one they would find anyway.
        home_flag="" if home == _home(None) else f" --home {shlex.quote(home)}",
        latest_version=versions[-1] if versions else None,
        total_s=total_s,
    )
    print("\n".join(run_table(summary, outputs)))


def _read_schema_flag(path: str) -> Any:
    """The curated schema of `--schema FILE` (tensorflow_metadata's Schema, text format), read
    before TensorFlow loads.

    Raises:
        SettingsError: the file does not exist or is not a schema in text format.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if not os.path.isfile(path):
        raise SettingsError(f"--schema {path}: no such file")
    try:
        with open(path) as f:
            return text_format.Parse(f.read(), schema_pb2.Schema())
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise SettingsError(
            f"--schema {path} is not a schema in text format (a schema.pbtxt): {error}"
        ) from None


def _check_schema_declares(schema: Any, path: str, features: list[str], label: str) -> None:
    """Refuses a curated schema that leaves out a feature or the label of the task.

    Raises:
        SettingsError: naming what the schema lacks.
    """
    declared = {feature.name for feature in schema.feature}
    missing = [name for name in [*features, label] if name not in declared]
    if missing:
        raise SettingsError(
            f"--schema {path} does not declare {', '.join(map(repr, missing))}: a curated "
            "schema declares every feature of the task and its label (start from the schema "
            "the data gate names)"
        )


def _request(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    home = _home(args.home)
    with library_output_to(log_path_for(home, "request")):
        from pipelines.request_example import default_request_path, predict_body

        body = predict_body(home, args.model, **_given(args, "count"))
    output = args.output or default_request_path(home, args.model)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(body, f)  # NaN (a missing number) is written as TF Serving reads it
    print(
        f"wrote {len(body['instances'])} test examples to {output}; send them with:\n"
        f"  curl -d @{output} localhost:8501/v1/models/{args.model}:predict"
    )
    return 0


def _report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from components.reporting.text import report_text
    from pipelines.version_reports import find_report

    if args.version is not None and args.version < 1:
        parser.error(f"--version is a pushed version number (1 or more), got {args.version}")
    reports_dir = os.path.join(_home(args.home), "reports", args.model)
    page, report = find_report(reports_dir, args.model, args.version)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print("\n".join(report_text(report, page)))
    return 0


def _feedback_and_reports(args: argparse.Namespace) -> tuple[str, str]:
    """The feedback and reports folders of `dlwp audit` and `dlwp ab` (defaults in the home)."""
    home = _home(args.home)
    feedback = args.feedback_dir or os.path.join(home, "feedback")
    reports = args.reports_dir or os.path.join(home, "reports")
    return _local_or_remote(feedback), _local_or_remote(reports)


def _audit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines.audit import audit_json, audit_rows, audit_text, feedback_folder

    feedback, reports = _feedback_and_reports(args)
    rows = audit_rows(feedback_folder(feedback, args.model), reports, args.model)
    if args.json:
        print(json.dumps(audit_json(args.model, rows), indent=1))
    else:
        print("\n".join(audit_text(args.model, rows)))
    # Like the data gate and drift: the workflow ran and found production worse than test.
    return 1 if any(row.worse_than_test for row in rows) else 0


def _ab(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines.audit import ab_json, ab_test, ab_text, feedback_folder

    feedback, reports = _feedback_and_reports(args)
    test = ab_test(feedback_folder(feedback, args.model), reports, args.model)
    if args.json:
        print(json.dumps(ab_json(test), indent=1))
    else:
        print("\n".join(ab_text(test)))
    return 0


def _retrain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines.retrain import NothingNew, plan_retrain

    home = _home(args.home)
    feedback = os.path.abspath(args.feedback_dir or os.path.join(home, "feedback"))
    try:
        plan = plan_retrain(home, feedback, args.model, args.run_args)
    except NothingNew as nothing:
        print(f"dlwp retrain {args.model}: nothing to do: {nothing}", flush=True)
        return 0
    since = f"version {plan.latest_version}" if plan.latest_version is not None else "ever"
    print(
        f"dlwp retrain {args.model}: {plan.new_labels} new label"
        f"{'s' if plan.new_labels != 1 else ''} since {since}; "
        f"dlwp run {shlex.join(plan.run_argv)}",
        flush=True,
    )
    run_args = parser.parse_args(["run", *plan.run_argv])
    return run_args.func(run_args, parser)


def _drift(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines.drift_report import drifted_plots, fetch_drift, table

    versions = fetch_drift(args.url, args.model)
    print("\n".join(table(args.model, versions)))
    folder = args.plots or os.path.join(_home(args.home), "reports", args.model, "drift")
    paths = drifted_plots(args.model, versions, folder)
    for path in paths:
        print(f"plot: {path}")
    return 1 if paths else 0  # like the data gate: the workflow ran and found drift


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import logging

    # Imports grpc only: nothing is printed, so it may come before the log takes the output.
    from serving.errors import ServeSettingsError, StartupError

    if args.model_base and args.model_config_file:
        parser.error("give at most one of --model-base and --model-config-file")
    if args.backend == "tfserving" and not args.tfserving_address:
        parser.error("--backend tfserving needs --tfserving-address HOST:PORT")
    if args.backend == "tfserving" and args.enable_batching:
        parser.error(
            "with --backend tfserving, batching is TF Serving's: pass it --enable_batching there"
        )
    home = _home(args.home)
    log_path = log_path_for(home, "serve")
    with _usage_error_on(parser, ServeSettingsError):  # checked before TensorFlow loads
        settings = serve_settings(args)
    try:
        with library_output_to(log_path) as terminal:
            handler = logging.StreamHandler(terminal)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
            logging.getLogger("dlwp.serving").addHandler(handler)
            terminal.write(f"dlwp serve: logs in {log_path}\n")
            announce = lambda line: terminal.write(line + "\n")  # noqa: E731
            from serving import launch

            return launch.serve(settings, announce)
    except StartupError as error:
        print(f"dlwp: error: {error}", file=sys.stderr)
        return 2


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    """The ServeSettings of parsed `dlwp serve` flags; a flag left out keeps the default there.

    A light import (serving/settings.py): it runs before TensorFlow loads.

    Raises:
        ServeSettingsError: a flag's value is out of range, named with it.
    """
    from serving.settings import (
        BatchingOptions,
        DriftSettings,
        RestLimits,
        ServeSettings,
        available_cores,
    )
    from serving.traffic_split import parse_split

    home = _home(args.home)
    # Both are built, so checked, even when turned off: a bad value is refused either way.
    batching = BatchingOptions(
        **_given(
            args,
            "max_batch_size",
            "batch_timeout_micros",
            "max_enqueued_batches",
            "num_batch_threads",
        )
    )
    drift = DriftSettings(
        **_given(
            args,
            window_size="drift_window",
            max_age_s="drift_max_age_s",
            min_samples="drift_min_samples",
            interval_s="drift_interval_s",
        )
    )
    from_home = not (args.model_base or args.model_config_file)
    models_dir = (
        os.path.abspath(args.model_base) if args.model_base else os.path.join(home, "serving")
    )
    # The image binds all interfaces (a container's port is only reached that way).
    host = args.host or os.environ.get("DLWP_SERVE_HOST")
    host_given: dict[str, Any] = {"host": host} if host else {}
    exports_dir = args.exports_dir
    if exports_dir is None:
        exports_dir = os.path.join(home, "exports") if from_home else ""
    reports_dir = args.reports_dir
    if reports_dir is None:
        reports_dir = os.path.join(home, "reports") if from_home else ""
    return ServeSettings(
        models_dir="" if args.model_config_file else models_dir,
        model_config_file=args.model_config_file or "",
        batching=batching if args.enable_batching else None,
        limits=RestLimits(
            **_given(
                args,
                "max_body_bytes",
                "max_concurrent_requests",
                "request_timeout_s",
                "max_batch_instances",
                "header_timeout_s",
                "body_timeout_s",
                "idle_timeout_s",
                "max_connections",
            )
        ),
        drift=None if args.no_drift else drift,
        tfserving_address=args.tfserving_address or "",
        exports_dir=os.path.abspath(exports_dir) if exports_dir else "",
        reports_dir=os.path.abspath(reports_dir) if reports_dir else "",
        feedback_dir=_local_or_remote(args.feedback_dir or os.path.join(home, "feedback")),
        web_dir=os.environ.get("DLWP_WEB_DIR", ""),
        split=tuple(parse_split(text) for text in args.split or ()),
        workers=available_cores() if args.workers is None else args.workers,
        **_given(
            args,
            "port",
            "grpc_port",
            "poll_s",
            "grace_s",
            "backend",
            "feedback_rate",
            "feedback_hard_rate",
            "auth_token_file",
        ),
        **host_given,
    )


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `dlwp run` and `dlwp compile` share: data size and how to train."""
    parser.add_argument("--max-examples", type=int, help="at most N examples per split")
    parser.add_argument(
        "--epochs",
        type=int,
        help="at most N epochs (default: the book's maximum, grown while validation improves)",
    )
    parser.add_argument(
        "--kfold-repeats",
        type=int,
        metavar="P",
        help="iterated K-fold (small data): the K folds P times, each with a new shuffle",
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="float16 compute when training on a GPU"
    )
    parser.add_argument(
        "--tune", action="store_true", help="search units, dropout, L2, learning rate first"
    )
    # Not a TrainingOptions default: there, 0 trials means no search (no --tune).
    parser.add_argument("--tune-trials", type=int, default=10, help="models tried by --tune")
    parser.add_argument(
        "--prune",
        type=float,
        metavar="SPARSITY",
        help="magnitude pruning while training, to this fraction of zero weights (e.g. 0.8)",
    )
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="binary tasks: predict class 1 above this score (default 0.5)",
    )
    threshold.add_argument(
        "--target-fpr",
        type=float,
        metavar="F",
        help="binary tasks: the threshold of highest recall with a false-positive rate of at "
        "most F, chosen on the eval split",
    )
    threshold.add_argument(
        "--target-recall",
        type=float,
        metavar="R",
        help="binary tasks: the highest threshold with a recall of at least R, chosen on the "
        "eval split",
    )
    parser.add_argument(
        "--cases-per-day",
        type=int,
        metavar="N",
        help="cases the model will see a day: the report counts its errors per day (default 1000)",
    )
    parser.add_argument("--no-cache", action="store_true", help="rerun every step")


def _report_options(args: argparse.Namespace) -> ReportOptions:
    """ReportOptions from the shared flags (before TensorFlow loads).

    Raises:
        SettingsError: a flag's value is out of range, named with it.
    """
    from pipelines.settings import ReportOptions

    return ReportOptions(**_given(args, "cases_per_day"))


def _check_training_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The shared flags the settings dataclasses do not check (exit 2, before any import)."""
    if args.max_examples is not None and args.max_examples < 0:
        parser.error("--max-examples must be positive (0 means all)")
    if args.tune_trials < 1:
        parser.error("--tune-trials must be at least 1")


def _training_options(args: argparse.Namespace, **options: Any) -> TrainingOptions:
    """TrainingOptions from the shared flags and `options`, further fields (a light import: it
    is called before TensorFlow loads, so a bad value is refused at once).

    Raises:
        SettingsError: a flag's value is out of range, named with it.
    """
    from pipelines.settings import TrainingOptions

    tuning = {"tune_trials": args.tune_trials} if args.tune else {}
    return TrainingOptions(
        mixed_precision=args.mixed_precision,
        **tuning,
        **options,
        **_given(
            args,
            "kfold_repeats",
            "threshold",
            "target_fpr",
            "target_recall",
            max_epochs="epochs",
            prune_sparsity="prune",
        ),
    )


def _worker_pools(args: argparse.Namespace, image: str, vertex: bool = False, **vertex_fields):
    """The Trainer's workers from --workers and --gpus-per-worker (pipelines/trainer_pools.py),
    or None for the ordinary Trainer (a light import: a bad value is refused at once)."""
    from pipelines.trainer_pools import WorkerPools

    if args.workers == 1 and not args.gpus_per_worker and not vertex:
        return None
    if args.gpus_per_worker and args.workers == 1 and not vertex:
        raise SettingsError("--gpus-per-worker needs --workers N (N > 1); one machine: --gpus")
    namespace = os.environ.get("POD_NAMESPACE", "")
    return WorkerPools(
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        image=image,
        **_given(args, "gpu_type"),
        **({"namespace": namespace} if namespace else {}),
        **vertex_fields,
    )


def _add_worker_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="train on N machines in step (MultiWorkerMirroredStrategy; docs/kubernetes.md)",
    )
    parser.add_argument(
        "--gpus-per-worker", type=int, default=0, help="GPUs of each of the --workers"
    )


def _train_worker(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines.trainer_pools import run_worker

    with _usage_error_on(parser, SettingsError):
        run_worker(args.workers, args.job, args.service, args.namespace, args.executor_args)
    return 0


def _compile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.gpus and args.tpu_topology:
        parser.error("give --gpus or --tpu-topology, not both: the Trainer runs on one of them")
    if args.gpu_type and not (args.gpus or args.gpus_per_worker):
        parser.error("--gpu-type needs --gpus N or --gpus-per-worker G")
    if args.tpu_type and not args.tpu_topology:
        parser.error("--tpu-type needs --tpu-topology")
    if not args.pipeline_root:
        parser.error(
            "--pipeline-root is needed: the object storage where the steps share their "
            "artifacts, e.g. gs://BUCKET/dlwp"
        )
    _check_training_flags(args, parser)
    home = _home(args.home)
    log_path = log_path_for(home, f"compile-{args.dataset}")
    with _usage_error_on(parser, SettingsError):  # checked before TensorFlow loads
        training = _training_options(args)
        training.check_task(args.dataset, _book_task(args.dataset).problem_type)
        report = _report_options(args)
        pools = _worker_pools(
            args,
            image=args.trainer_image or "",
            vertex=args.target == "vertex",
            **_given(args, "machine_type", "project", "region"),
        )
    with library_output_to(log_path) as terminal:
        terminal.write(f"dlwp compile {args.dataset}: logs in {log_path}\n")
        from contract.versions import write_json
        from pipelines import kubeflow_runner as kubeflow
        from pipelines.k8s_job import DEFAULT_IMAGE

        task = _book_task(args.dataset)
        accelerator = None
        if args.gpus:
            accelerator = kubeflow.gpu_accelerator(args.gpus, **_given(args, "gpu_type"))
        elif args.tpu_topology:
            accelerator = kubeflow.tpu_accelerator(args.tpu_topology, **_given(args, "tpu_type"))
        settings = kubeflow.ClusterSettings(
            pipeline_root=args.pipeline_root.rstrip("/"),
            image=args.image or DEFAULT_IMAGE,
            beam_args=kubeflow.parse_beam_args(args.beam_arg),
            accelerator=accelerator,
            training=training,
            trainer_pools=pools,
            target=args.target,
            enable_cache=not args.no_cache,
            report=report,
            **_given(
                args,
                "trainer_image",
                "serving_dir",
                "exports_dir",
                "reports_dir",
                "data_dir",
                "beam_runner",
                "beam_image",
                "max_examples",
            ),
        )
        job = kubeflow.compile_pipeline(task, settings)
        output = _local_or_remote(args.output)
        write_json(output, job)
        steps = job["pipelineSpec"]["root"]["dag"]["tasks"]
        terminal.write(
            f"wrote {output}: {len(steps)} steps for {args.target}, image {settings.image}\n"
        )
    return 0


def _k8s_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import yaml

    from pipelines import k8s_job

    _book_task(args.dataset)  # the Job runs only the book's datasets
    job = k8s_job.pipeline_job(
        k8s_job.JobSettings(
            dataset=args.dataset,
            run_args=k8s_job.run_args_from(args.run_args),
            **_given(args, "image", "namespace", "gpus"),
        )
    )
    if args.dry_run:
        print(yaml.safe_dump(job, sort_keys=False), end="")
        return 0
    from pipelines import k8s_client

    api = k8s_client.connect(args.context, os.environ.get("KUBECONFIG"))
    k8s_client.check_prerequisites(api, job)
    k8s_client.create_job(api, job)
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    print(f"created job {name} in namespace {namespace}", flush=True)
    if not args.follow:
        print(f"follow it with: kubectl logs -n {namespace} -f job/{name}")
        return 0
    code = k8s_client.follow_job(api, job, sys.stdout)
    print(f"job {name} ended with exit code {code}", flush=True)
    return code


def _retrain_receiver(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pipelines import retrain_receiver

    settings = retrain_receiver.ReceiverSettings(
        models=retrain_receiver.parse_models(args.models or ""),
        **_given(args, "image", "namespace"),
    )
    retrain_receiver.serve(settings, args.host, args.port)
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
    datasets.set_defaults(func=_datasets)

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
    _add_training_flags(run)
    run.add_argument("--tpu", help="train on this TPU (default $TPU_NAME)")
    run.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="--NAME=VALUE",
        help="a Beam option of every Beam step, repeatable (default: Beam's in-memory runner): "
        "--beam-arg=--direct_running_mode=multi_processing --beam-arg=--direct_num_workers=2",
    )
    _add_worker_flags(run)
    run.add_argument("--worker-image", help="the image of the --workers' pods (default dlwp:0.1.0)")
    run.add_argument(
        "--extra-data",
        metavar="DIR",
        help="labelled feedback: the tf.Examples of DIR's *.tfrecord[.gz] files join train",
    )
    run.add_argument(
        "--schema",
        metavar="FILE",
        help="a curated schema (schema.pbtxt) instead of the one inferred from train, when the "
        "data gate finds the inferred one too strict",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print the summary JSON (as in <home>/reports/<model>/summary.json) instead of "
        "the short table",
    )
    run.set_defaults(func=_run)

    compile_ = commands.add_parser(
        "compile", help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines"
    )
    compile_.add_argument("dataset", help="mnist, fashion_mnist, imdb, reuters, boston_housing")
    compile_.add_argument(
        "--target",
        choices=("kubeflow", "vertex"),
        default="kubeflow",
        help="a PipelineJob JSON for Kubeflow Pipelines v2 and Vertex; vertex: the Trainer runs "
        "as a Vertex AI CustomJob (TFX's Vertex Trainer extension; needs --project, --region)",
    )
    compile_.add_argument("--output", required=True, help="the PipelineJob JSON (path or gs://)")
    compile_.add_argument("--image", help="the dlwp image every step runs")
    compile_.add_argument("--trainer-image", help="another image for the Trainer (the GPU image)")
    compile_.add_argument("--pipeline-root", help="object storage for artifacts: gs://BUCKET/PATH")
    compile_.add_argument("--serving-dir", help="where models are pushed (<root>/serving)")
    compile_.add_argument("--exports-dir", help="where TFLite/TF.js go (<root>/exports)")
    compile_.add_argument("--reports-dir", help="where each version's report goes (<root>/reports)")
    compile_.add_argument(
        "--data-dir", help="keras's dataset files in the container (/var/lib/dlwp/datasets)"
    )
    compile_.add_argument(
        "--beam-runner",
        choices=("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner"),
        help="where the data steps run (DirectRunner: in the step's own container)",
    )
    compile_.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="--NAME=VALUE",
        help="a Beam option, repeatable: --beam-arg=--project=P --beam-arg=--region=R",
    )
    compile_.add_argument("--beam-image", help="the Beam workers' image (Dockerfile target beam)")
    compile_.add_argument("--gpus", type=int, default=0, help="GPUs for the Trainer")
    compile_.add_argument(
        "--gpu-type", help="accelerator type (Kubeflow: nvidia.com/gpu; Vertex: NVIDIA_TESLA_T4)"
    )
    compile_.add_argument("--tpu-topology", help="a TPU slice for the Trainer, e.g. 2x2")
    compile_.add_argument("--tpu-type", help="TPU type (default TPU_V5_LITEPOD)")
    _add_worker_flags(compile_)
    compile_.add_argument("--machine-type", help="Vertex: each worker's machine (n1-standard-8)")
    compile_.add_argument("--project", help="Vertex: the project of the Trainer's CustomJob")
    compile_.add_argument("--region", help="Vertex: the region of the Trainer's CustomJob")
    compile_.add_argument("--home", help="the log goes to <home>/logs (default $DLWP_HOME)")
    _add_training_flags(compile_)
    compile_.set_defaults(func=_compile)

    k8s = commands.add_parser("k8s", help="run the workflow as a Kubernetes Job (no Kubeflow)")
    k8s_commands = k8s.add_subparsers(dest="k8s_command", required=True)
    k8s_run = k8s_commands.add_parser(
        "run",
        help="create a Job that runs `dlwp run DATASET` in the cluster",
        epilog="Flags after -- go to the Job's `dlwp run`: dlwp k8s run mnist -- --epochs 5",
    )
    k8s_run.add_argument("dataset", help="mnist, fashion_mnist, imdb, reuters, boston_housing")
    k8s_run.add_argument("--namespace", help="where k8s/base is applied")
    k8s_run.add_argument("--image", help="the dlwp image (GPU: -gpu)")
    k8s_run.add_argument("--gpus", type=int, help="nvidia.com/gpu for the Job")
    k8s_run.add_argument("--context", help="kubeconfig context (default: the current one)")
    k8s_run.add_argument("--follow", action="store_true", help="stream the log, return its code")
    k8s_run.add_argument("--dry-run", action="store_true", help="print the Job as YAML only")
    # run_args: what follows `--`, flags of the Job's `dlwp run` (main splits them off).
    k8s_run.set_defaults(func=_k8s_run, run_args=[])

    worker = commands.add_parser(
        "train-worker",
        help="one of the Trainer's --workers pods (started by the Trainer, not by hand)",
    )
    worker.add_argument("--workers", type=int, required=True)
    worker.add_argument("--job", required=True, help="the indexed Job of the workers")
    worker.add_argument("--service", required=True, help="its headless Service")
    worker.add_argument("--namespace", required=True)
    worker.add_argument("executor_args", nargs=argparse.REMAINDER, help="-- run_executor flags")
    worker.set_defaults(func=_train_worker)

    receiver = commands.add_parser(
        "retrain-receiver",
        help="Alertmanager's webhook: a retrain Job when DlwpLiveMetricBelowTest fires",
    )
    receiver.add_argument("--host", default="127.0.0.1", help="address to listen on")
    receiver.add_argument("--port", type=int, default=9095, help="POST /alerts, GET /healthz")
    receiver.add_argument("--namespace", help="where the Jobs go (that of k8s/base)")
    receiver.add_argument("--image", help="the retrain Jobs' dlwp image")
    receiver.add_argument(
        "--models", metavar="M1,M2", help="the models it may retrain (default: any)"
    )
    receiver.set_defaults(func=_retrain_receiver)

    request = commands.add_parser(
        "request", help="write a :predict body of real test examples for a pushed model"
    )
    request.add_argument("model", help="a pushed model (dataset name or CSV name)")
    request.add_argument("--home", help="default $DLWP_HOME, else ./dlwp-home")
    request.add_argument("--count", type=int, help="examples in the request")
    request.add_argument("--output", help="default <home>/requests/<model>.json")
    request.set_defaults(func=_request)

    report = commands.add_parser(
        "report", help="a pushed version's report in a screen, and the path of its page"
    )
    report.add_argument("model", help="a pushed model (dataset name or CSV name)")
    report.add_argument("--version", type=int, help="default: the newest version with a report")
    report.add_argument("--home", help="default $DLWP_HOME, else ./dlwp-home")
    report.add_argument("--json", action="store_true", help="print report.json instead")
    report.set_defaults(func=_report)

    for name, func, what in (
        ("audit", _audit, "the live metric of labelled production examples, per version and arm"),
        ("ab", _ab, "the A/B test of a traffic split's two arms on labelled production examples"),
    ):
        audit = commands.add_parser(name, help=what)
        audit.add_argument("model", help="a served model with feedback")
        audit.add_argument("--home", help="default $DLWP_HOME, else ./dlwp-home")
        audit.add_argument("--feedback-dir", help="the server's (default <home>/feedback)")
        audit.add_argument("--reports-dir", help="the versions' reports (default <home>/reports)")
        audit.add_argument("--json", action="store_true", help="machine-readable output")
        audit.set_defaults(func=func)

    retrain = commands.add_parser(
        "retrain",
        help="run a model's last `dlwp run` again with its labelled feedback joining train",
        epilog="Flags after -- go to the `dlwp run`: dlwp retrain houses -- --epochs 50",
    )
    retrain.add_argument("model", help="a model run before (dataset name or CSV name)")
    retrain.add_argument("--home", help="default $DLWP_HOME, else ./dlwp-home")
    retrain.add_argument("--feedback-dir", help="the server's (default <home>/feedback)")
    # run_args: what follows `--`, flags of the `dlwp run` (main splits them off).
    retrain.set_defaults(func=_retrain, run_args=[])

    drift = commands.add_parser(
        "drift", help="the running server's drift table; PNG plots of what drifted"
    )
    drift.add_argument("model", help="a served model")
    drift.add_argument("--url", default="http://localhost:8501", help="the dlwp serve to ask")
    drift.add_argument("--home", help="plots go to <home>/reports/<model>/drift/")
    drift.add_argument("--plots", help="put the plots here instead")
    drift.set_defaults(func=_drift)

    serve = commands.add_parser(
        "serve", help="TF Serving's REST (8501) and gRPC (8500) APIs over the pushed models"
    )
    serve.add_argument("--home", help="serve <home>/serving (default $DLWP_HOME, ./dlwp-home)")
    serve.add_argument("--model-base", help="a folder of models (each a folder of versions)")
    serve.add_argument("--model-config-file", help="TF Serving's ModelServerConfig text file")
    serve.add_argument(
        "--host",
        help="address to listen on (default $DLWP_SERVE_HOST, else 127.0.0.1: loopback only; "
        "the image sets 0.0.0.0)",
    )
    serve.add_argument("--port", type=int, help="REST port")
    serve.add_argument("--grpc-port", type=int, help="gRPC port")
    serve.add_argument("--poll-s", type=float, help="seconds between model polls")
    serve.add_argument("--enable-batching", action="store_true", help="server-side batching")
    serve.add_argument("--max-batch-size", type=int)
    serve.add_argument("--batch-timeout-micros", type=int)
    serve.add_argument("--max-enqueued-batches", type=int)
    serve.add_argument("--num-batch-threads", type=int)
    serve.add_argument("--max-body-bytes", type=int, help="413 above")
    serve.add_argument("--max-concurrent-requests", type=int, help="429 above this many in flight")
    serve.add_argument("--request-timeout-s", type=float, help="504 after this")
    serve.add_argument(
        "--max-batch-instances", type=int, help="400 for a request with more examples"
    )
    serve.add_argument("--header-timeout-s", type=float, help="408 if headers take longer")
    serve.add_argument("--body-timeout-s", type=float, help="408 if a body takes longer")
    serve.add_argument("--idle-timeout-s", type=float, help="close idle keep-alive connections")
    serve.add_argument("--max-connections", type=int, help="503 for connections above this")
    serve.add_argument("--grace-s", type=float, help="drain time on SIGTERM")
    serve.add_argument("--no-drift", action="store_true", help="turn the drift monitor off")
    serve.add_argument(
        "--drift-window",
        type=int,
        help="examples in the drift window, per model version",
    )
    serve.add_argument(
        "--drift-max-age-s",
        type=float,
        help="drop examples older than this from the drift window",
    )
    serve.add_argument(
        "--drift-min-samples",
        type=int,
        help="drift series appear once the window has this many examples",
    )
    serve.add_argument("--drift-interval-s", type=float, help="seconds between drift measurements")
    serve.add_argument(
        "--feedback-rate",
        type=float,
        metavar="R",
        help="log this fraction of examples for labelling (0: off, the default; see --extra-data)",
    )
    serve.add_argument(
        "--feedback-hard-rate",
        type=float,
        metavar="H",
        help="log the examples the model is least sure of at this rate, the surest at "
        "--feedback-rate, in between by margin (default: --feedback-rate for all)",
    )
    serve.add_argument(
        "--feedback-dir", metavar="DIR", help="where the feedback goes (default <home>/feedback)"
    )
    serve.add_argument(
        "--auth-token-file",
        metavar="FILE",
        help="require 'authorization: Bearer <the token in FILE>' on every REST route but "
        "/healthz and /readyz, and on every gRPC call",
    )
    serve.add_argument(
        "--split",
        action="append",
        metavar="MODEL=A:W,B:W",
        help="A/B test: send MODEL's unpinned requests to its version labels A and B at random "
        "with weights W (sticky per X-Split-Key header); needs --model-config-file; repeatable, "
        "one per model",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing both ports, each with its own copy of the models "
        "(default: the cores this process may use; 1: everything in one process)",
    )
    serve.add_argument("--backend", choices=("inprocess", "tfserving"))
    serve.add_argument("--tfserving-address", help="HOST:PORT of TF Serving's gRPC (gateway)")
    serve.add_argument(
        "--exports-dir",
        help="TF.js exports for the demo page at /demo/ (default <home>/exports; none with "
        "--model-base or --model-config-file)",
    )
    serve.add_argument(
        "--reports-dir",
        metavar="DIR",
        help="the version reports served at /reports/<model>/<version>/ (default <home>/reports; "
        "none with --model-base or --model-config-file)",
    )
    serve.set_defaults(func=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `dlwp`; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `dlwp k8s run DATASET [flags] -- --epochs 5`: what follows `--` is for the Job's `dlwp run`.
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    run_args = argv[split + 1 :]
    if run_args:
        if args.command not in ("k8s", "retrain"):
            parser.error("only `dlwp k8s run` and `dlwp retrain` take flags after --")
        args.run_args = run_args
    try:
        return args.func(args, parser)
    except DlwpError as error:
        print(f"dlwp: error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
