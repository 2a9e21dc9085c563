"""`dlwp`: the command line. It only wires flags to the task specs and the runners.

    dlwp datasets [--json]
    dlwp run DATASET | --csv FILE --label COL --task T  [--home] [--data-dir] [--max-examples N]
             [--epochs N] [--tpu NAME] [--mixed-precision] [--tune [--tune-trials N]]
             [--prune SPARSITY] [--extra-data DIR] [--no-cache]
    dlwp request MODEL [--home DIR] [--count N] [--output FILE]
    dlwp drift MODEL [--url http://localhost:8501] [--home DIR | --plots DIR]
    dlwp serve [--home DIR | --model-base DIR | --model-config-file F] [--port 8501]
               [--grpc-port 8500] [--enable-batching ...] [--backend inprocess|tfserving]
               [--feedback-rate R [--feedback-dir DIR]]
    dlwp compile DATASET --target kubeflow --output FILE --pipeline-root gs://... [--image I]
                 [--beam-runner R --beam-arg=--name=value ...] [--gpus N | --tpu-topology 2x2]
    dlwp k8s run DATASET [--namespace dlwp] [--image I] [--gpus N] [--follow | --dry-run]
                 [-- dlwp run flags]

Exit codes: 0 ok, 1 the workflow ran and said no (anomalies), 2 bad usage or missing data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from components.errors import DlwpError
from pipelines.logs import library_output_to, log_path_for
from serving.errors import StartupError


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

    if (args.dataset is None) == (args.csv is None):
        parser.error("give either a DATASET or --csv FILE")
    if args.csv is not None and (not args.label or not args.task):
        parser.error("--csv needs --label COLUMN and --task binary|multiclass|regression")
    _check_training_flags(args, parser)
    home = _home(args.home)
    model = csv_model_name(args.csv) if args.csv else args.dataset
    log_path = log_path_for(home, model)
    # Everything TensorFlow, TFX and Beam print, from their import on, goes to the log.
    with library_output_to(log_path) as terminal:
        terminal.write(f"dlwp run {model}: logs in {log_path}\n")
        from pipelines import local_runner
        from pipelines.tasks import csv_task

        if args.csv is not None:
            task = csv_task(os.path.abspath(args.csv), args.label, args.task)
        else:
            task = _book_task(args.dataset, " or use --csv FILE")
        settings = local_runner.RunSettings(
            home=home,
            data_dir=_data_dir(args.data_dir),
            max_examples=args.max_examples,
            enable_cache=not args.no_cache,
            extra_data_dir=_local_or_remote(args.extra_data) if args.extra_data else "",
            training=_training_options(args, args.tpu or os.environ.get("TPU_NAME", "")),
        )
        summary = local_runner.run(task, settings, terminal, log_path)
    print(json.dumps(summary, indent=2))
    return 0


def _request(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.count < 1:
        parser.error("--count must be at least 1")
    home = _home(args.home)
    with library_output_to(log_path_for(home, "request")):
        from pipelines.request_example import default_request_path, predict_body

        body = predict_body(home, args.model, args.count)
    output = args.output or default_request_path(home, args.model)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(body, f)  # NaN (a missing number) is written as TF Serving reads it
    print(
        f"wrote {len(body['instances'])} test examples to {output}; send them with:\n"
        f"  curl -d @{output} localhost:8501/v1/models/{args.model}:predict"
    )
    return 0


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

    sources = [bool(args.model_base), bool(args.model_config_file)]
    if sum(sources) > 1:
        parser.error("give at most one of --model-base and --model-config-file")
    if args.backend == "tfserving" and not args.tfserving_address:
        parser.error("--backend tfserving needs --tfserving-address HOST:PORT")
    if args.backend == "tfserving" and args.enable_batching:
        parser.error(
            "with --backend tfserving, batching is TF Serving's: pass it --enable_batching there"
        )
    for flag in (
        "port",
        "grpc_port",
        "max_batch_size",
        "num_batch_threads",
        "max_enqueued_batches",
        "max_body_bytes",
        "max_concurrent_requests",
    ):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive")
    if (
        min(args.drift_window, args.drift_min_samples, args.drift_max_age_s, args.drift_interval_s)
        <= 0
        or args.drift_min_samples > args.drift_window
    ):
        parser.error(
            "--drift-window, --drift-min-samples, --drift-max-age-s and "
            "--drift-interval-s must be positive, and min-samples at most the window"
        )
    if args.batch_timeout_micros < 0 or args.request_timeout_s <= 0 or args.poll_s <= 0:
        parser.error("--batch-timeout-micros, --request-timeout-s and --poll-s must be positive")
    if not 0 <= args.feedback_rate <= 1:
        parser.error("--feedback-rate is the fraction of examples logged: from 0 (off) to 1")
    home = _home(args.home)
    models_dir = (
        os.path.abspath(args.model_base) if args.model_base else os.path.join(home, "serving")
    )
    exports_dir = args.exports_dir
    if exports_dir is None:
        exports_dir = "" if any(sources) else os.path.join(home, "exports")
    log_path = log_path_for(home, "serve")
    with library_output_to(log_path) as terminal:
        handler = logging.StreamHandler(terminal)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logging.getLogger("dlwp.serving").addHandler(handler)
        terminal.write(f"dlwp serve: logs in {log_path}\n")
        from serving.batching import BatchingOptions
        from serving.drift_monitor import DriftSettings
        from serving.rest import RestLimits
        from serving.server import ServeSettings, serve

        settings = ServeSettings(
            models_dir="" if args.model_config_file else models_dir,
            model_config_file=args.model_config_file or "",
            host=args.host,
            port=args.port,
            grpc_port=args.grpc_port,
            poll_s=args.poll_s,
            batching=BatchingOptions(
                args.max_batch_size,
                args.batch_timeout_micros,
                args.max_enqueued_batches,
                args.num_batch_threads,
            )
            if args.enable_batching
            else None,
            limits=RestLimits(
                args.max_body_bytes, args.max_concurrent_requests, args.request_timeout_s
            ),
            grace_s=args.grace_s,
            drift=None
            if args.no_drift
            else DriftSettings(
                args.drift_window,
                args.drift_max_age_s,
                args.drift_min_samples,
                args.drift_interval_s,
            ),
            backend=args.backend,
            tfserving_address=args.tfserving_address or "",
            exports_dir=os.path.abspath(exports_dir) if exports_dir else "",
            feedback_rate=args.feedback_rate,
            feedback_dir=_local_or_remote(args.feedback_dir or os.path.join(home, "feedback")),
            web_dir=os.environ.get("DLWP_WEB_DIR", ""),
        )
        return serve(settings, announce=lambda line: terminal.write(line + "\n"))


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `dlwp run` and `dlwp compile` share: data size and how to train."""
    parser.add_argument("--max-examples", type=int, default=0, help="at most N examples per split")
    parser.add_argument(
        "--epochs", type=int, default=0, help="at most N epochs (default: the book's maximum)"
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="float16 compute when training on a GPU"
    )
    parser.add_argument(
        "--tune", action="store_true", help="search units, dropout, L2, learning rate first"
    )
    parser.add_argument("--tune-trials", type=int, default=10, help="models tried by --tune")
    parser.add_argument(
        "--prune",
        type=float,
        default=0.0,
        metavar="SPARSITY",
        help="magnitude pruning while training, to this fraction of zero weights (e.g. 0.8)",
    )
    parser.add_argument("--no-cache", action="store_true", help="rerun every step")


def _check_training_flags(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """A bad value of the shared training flags is a usage error (exit 2)."""
    if args.max_examples < 0:
        parser.error("--max-examples must be positive (0 means all)")
    if args.tune_trials < 1:
        parser.error("--tune-trials must be at least 1")
    if not 0 <= args.prune < 1:
        parser.error(
            "--prune is the fraction of weights set to zero: from 0 up to, not "
            "including, 1 (e.g. 0.5 or 0.8)"
        )
    if args.epochs < 0:
        parser.error("--epochs must be positive (0 means the book's maximum)")


def _training_options(args: argparse.Namespace, tpu: str = ""):
    """TrainingOptions from the shared flags (imports TFX: call it once output goes to the log)."""
    from pipelines.pipeline import TrainingOptions

    return TrainingOptions(
        max_epochs=args.epochs,
        tpu=tpu,
        mixed_precision=args.mixed_precision,
        tune_trials=args.tune_trials if args.tune else 0,
        prune_sparsity=args.prune,
    )


def _compile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.gpus and args.tpu_topology:
        parser.error("give --gpus or --tpu-topology, not both: the Trainer runs on one of them")
    if args.gpu_type and not args.gpus:
        parser.error("--gpu-type needs --gpus N")
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
    with library_output_to(log_path) as terminal:
        terminal.write(f"dlwp compile {args.dataset}: logs in {log_path}\n")
        from pipelines import kubeflow_runner as kubeflow
        from pipelines.local_runner import write_json

        task = _book_task(args.dataset)
        accelerator = None
        if args.gpus:
            accelerator = kubeflow.gpu_accelerator(
                args.gpus, args.gpu_type or kubeflow.KUBEFLOW_GPU_TYPE
            )
        elif args.tpu_topology:
            accelerator = kubeflow.tpu_accelerator(
                args.tpu_topology, args.tpu_type or kubeflow.DEFAULT_TPU_TYPE
            )
        settings = kubeflow.ClusterSettings(
            pipeline_root=args.pipeline_root.rstrip("/"),
            image=args.image,
            trainer_image=args.trainer_image or "",
            serving_dir=args.serving_dir or "",
            exports_dir=args.exports_dir or "",
            data_dir=args.data_dir or kubeflow.CONTAINER_DATA_DIR,
            beam_runner=args.beam_runner,
            beam_args=kubeflow.parse_beam_args(args.beam_arg),
            beam_image=args.beam_image or "",
            accelerator=accelerator,
            max_examples=args.max_examples,
            training=_training_options(args),
            enable_cache=not args.no_cache,
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
            image=args.image,
            namespace=args.namespace,
            gpus=args.gpus,
            run_args=k8s_job.run_args_from(args.run_args),
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
    _add_training_flags(run)
    run.add_argument("--tpu", help="train on this TPU (default $TPU_NAME)")
    run.add_argument(
        "--extra-data",
        metavar="DIR",
        help="labelled feedback: the tf.Examples of DIR's *.tfrecord[.gz] files join train",
    )

    compile_ = commands.add_parser(
        "compile", help="compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines"
    )
    compile_.add_argument("dataset", help="mnist, fashion_mnist, imdb, reuters, boston_housing")
    compile_.add_argument(
        "--target",
        choices=("kubeflow",),
        default="kubeflow",
        help="kubeflow: a PipelineJob JSON for Kubeflow Pipelines v2 and Vertex",
    )
    compile_.add_argument("--output", required=True, help="the PipelineJob JSON (path or gs://)")
    compile_.add_argument("--image", default="dlwp:0.1.0", help="the dlwp image every step runs")
    compile_.add_argument("--trainer-image", help="another image for the Trainer (the GPU image)")
    compile_.add_argument("--pipeline-root", help="object storage for artifacts: gs://BUCKET/PATH")
    compile_.add_argument("--serving-dir", help="where models are pushed (<root>/serving)")
    compile_.add_argument("--exports-dir", help="where TFLite/TF.js go (<root>/exports)")
    compile_.add_argument(
        "--data-dir", help="keras's dataset files in the container (/var/lib/dlwp/datasets)"
    )
    compile_.add_argument(
        "--beam-runner",
        default="DirectRunner",
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
    compile_.add_argument("--home", help="the log goes to <home>/logs (default $DLWP_HOME)")
    _add_training_flags(compile_)

    k8s = commands.add_parser("k8s", help="run the workflow as a Kubernetes Job (no Kubeflow)")
    k8s_commands = k8s.add_subparsers(dest="k8s_command", required=True)
    k8s_run = k8s_commands.add_parser(
        "run",
        help="create a Job that runs `dlwp run DATASET` in the cluster",
        epilog="Flags after -- go to the Job's `dlwp run`: dlwp k8s run mnist -- --epochs 5",
    )
    k8s_run.add_argument("dataset", help="mnist, fashion_mnist, imdb, reuters, boston_housing")
    k8s_run.add_argument("--namespace", default="dlwp", help="where k8s/base is applied")
    k8s_run.add_argument("--image", default="dlwp:0.1.0", help="the dlwp image (GPU: -gpu)")
    k8s_run.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu for the Job")
    k8s_run.add_argument("--context", help="kubeconfig context (default: the current one)")
    k8s_run.add_argument("--follow", action="store_true", help="stream the log, return its code")
    k8s_run.add_argument("--dry-run", action="store_true", help="print the Job as YAML only")
    k8s_run.set_defaults(run_args=[])  # what follows `--`: flags of `dlwp run` (main splits)

    request = commands.add_parser(
        "request", help="write a :predict body of real test examples for a pushed model"
    )
    request.add_argument("model", help="a pushed model (dataset name or CSV name)")
    request.add_argument("--home", help="default $DLWP_HOME, else ./dlwp-home")
    request.add_argument("--count", type=int, default=3, help="examples in the request")
    request.add_argument("--output", help="default <home>/requests/<model>.json")

    drift = commands.add_parser(
        "drift", help="the running server's drift table; PNG plots of what drifted"
    )
    drift.add_argument("model", help="a served model")
    drift.add_argument("--url", default="http://localhost:8501", help="the dlwp serve to ask")
    drift.add_argument("--home", help="plots go to <home>/reports/<model>/drift/")
    drift.add_argument("--plots", help="put the plots here instead")

    serve = commands.add_parser(
        "serve", help="TF Serving's REST (8501) and gRPC (8500) APIs over the pushed models"
    )
    serve.add_argument("--home", help="serve <home>/serving (default $DLWP_HOME, ./dlwp-home)")
    serve.add_argument("--model-base", help="a folder of models (each a folder of versions)")
    serve.add_argument("--model-config-file", help="TF Serving's ModelServerConfig text file")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on")
    serve.add_argument("--port", type=int, default=8501, help="REST port")
    serve.add_argument("--grpc-port", type=int, default=8500, help="gRPC port")
    serve.add_argument("--poll-s", type=float, default=2.0, help="seconds between model polls")
    serve.add_argument("--enable-batching", action="store_true", help="server-side batching")
    serve.add_argument("--max-batch-size", type=int, default=32)
    serve.add_argument("--batch-timeout-micros", type=int, default=1000)
    serve.add_argument("--max-enqueued-batches", type=int, default=100)
    serve.add_argument("--num-batch-threads", type=int, default=2)
    serve.add_argument("--max-body-bytes", type=int, default=32 * 1024 * 1024, help="413 above")
    serve.add_argument(
        "--max-concurrent-requests", type=int, default=256, help="429 above this many in flight"
    )
    serve.add_argument("--request-timeout-s", type=float, default=30.0, help="504 after this")
    serve.add_argument("--grace-s", type=float, default=20.0, help="drain time on SIGTERM")
    serve.add_argument("--no-drift", action="store_true", help="turn the drift monitor off")
    serve.add_argument(
        "--drift-window",
        type=int,
        default=500,
        help="examples in the drift window, per model version",
    )
    serve.add_argument(
        "--drift-max-age-s",
        type=float,
        default=3600.0,
        help="drop examples older than this from the drift window",
    )
    serve.add_argument(
        "--drift-min-samples",
        type=int,
        default=100,
        help="drift series appear once the window has this many examples",
    )
    serve.add_argument(
        "--drift-interval-s", type=float, default=5.0, help="seconds between drift measurements"
    )
    serve.add_argument(
        "--feedback-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="log this fraction of examples for labelling (0: off, the default; see --extra-data)",
    )
    serve.add_argument(
        "--feedback-dir", metavar="DIR", help="where the feedback goes (default <home>/feedback)"
    )
    serve.add_argument("--backend", choices=("inprocess", "tfserving"), default="inprocess")
    serve.add_argument("--tfserving-address", help="HOST:PORT of TF Serving's gRPC (gateway)")
    serve.add_argument(
        "--exports-dir",
        help="TF.js exports for the demo page at /demo/ (default <home>/exports; none with "
        "--model-base or --model-config-file)",
    )
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
        if args.command != "k8s":
            parser.error("only `dlwp k8s run` takes flags after --")
        args.run_args = run_args
    try:
        if args.command == "datasets":
            return _datasets(args)
        if args.command == "serve":
            return _serve(args, parser)
        if args.command == "request":
            return _request(args, parser)
        if args.command == "drift":
            return _drift(args, parser)
        if args.command == "compile":
            return _compile(args, parser)
        if args.command == "k8s":
            return _k8s_run(args, parser)
        return _run(args, parser)
    except DlwpError as error:
        print(f"dlwp: error: {error}", file=sys.stderr)
        return error.exit_code
    except StartupError as error:
        print(f"dlwp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
