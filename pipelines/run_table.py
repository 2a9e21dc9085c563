"""The short table `dlwp run` prints at the end: what the run found and where its outputs are.

It is made of the summary (pipelines/summary.py; the whole of it stays in summary.json, and
`dlwp run --json` prints that instead) and of where the run put things (README, "Outputs").
A field of a step that did not run is null in the summary; its row says so, or is left out.

    for line in run_table(summary, RunOutputs(...)):
        print(line)
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from typing import Any

from contract.report_files import REPORT_HTML


@dataclasses.dataclass(frozen=True)
class RunOutputs:
    """Where one run's outputs are, and what serves now: what the table names besides the
    summary's fields."""

    summary_path: str  # <home>/reports/<model>/summary.json
    reports_dir: str  # <home>/reports/<model>
    serving_dir: str  # <home>/serving/<model>
    exports_dir: str  # <home>/exports/<model>
    log_path: str
    request_path: str  # where `dlwp request` writes: <home>/requests/<model>.json
    home_flag: str = ""  # " --home H" for the commands printed, "" for the default home
    latest_version: int | None = None  # the newest version in serving_dir, by any run
    total_s: float | None = None  # the whole command, start-up included


def duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `1 h 2 min`: a duration as a person reads it."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _words(name: str) -> str:
    """`majority_class_accuracy` -> `majority class accuracy`."""
    return name.replace("_", " ")


def _examples(summary: dict[str, Any]) -> str:
    counts = summary.get("examples") or {}
    splits = ", ".join(f"{counts[split]:,} {split}" for split in counts)
    task = summary.get("task") or "?"
    return f"{task}, {splits} examples" if splits else task


def _metric_rows(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    metric = summary.get("metric") or {}
    name = metric.get("name") or "metric"
    against = []
    baseline = summary.get("baseline")
    if baseline:
        against.append(f"baseline {_score(baseline['test'])} ({_words(baseline['name'])})")
    simple = summary.get("simple_models")
    if simple and simple.get("models"):
        scores = ", ".join(f"{_words(m)} {_score(s)}" for m, s in simple["models"].items())
        best = _words(simple.get("best") or "a simple model")
        winner = "the deep model wins" if simple.get("deep_model_wins") else f"{best} wins"
        against.append(f"{scores} ({winner})")
    test = _score(metric.get("test"))
    under = " " * (len(test) + 3)  # the simple models under the baseline
    first = f"{test}   {against[0]}" if against else test
    rows = [(f"test {name}", [first, *(under + line for line in against[1:])])]
    if metric.get("folds"):
        folds = metric["folds"]
        spread = f" ± {metric['fold_std']:.4f}" if metric.get("fold_std") is not None else ""
        mean = metric.get("fold_mean", metric.get("eval"))
        rows.append((f"eval {name}", [f"fold mean {_score(mean)}{spread} over {len(folds)} folds"]))
    elif metric.get("eval") is not None:
        rows.append((f"eval {name}", [f"{_score(metric['eval'])}   (hold-out)"]))
    return rows


def _blessing_row(summary: dict[str, Any]) -> list[str]:
    reasons = summary.get("blessing_reasons") or []
    if not reasons:
        return ["no: the blessing gate did not run"]
    return ["yes" if summary.get("blessed") else "no", *reasons]


def _not_pushed_why(summary: dict[str, Any], outputs: RunOutputs) -> str:
    serving = f" (version {outputs.latest_version} serves)" if outputs.latest_version else ""
    if not summary.get("blessed"):
        return f"not pushed: the model is not blessed{serving}"
    if "Pusher" in (summary.get("cached") or []):
        return f"not pushed: nothing changed since an earlier run{serving}"
    return f"not pushed: this model was published before{serving}"


def _pushed_row(summary: dict[str, Any], outputs: RunOutputs) -> list[str]:
    version = summary.get("pushed_version")
    if version is None:
        return [_not_pushed_why(summary, outputs)]
    return [f"version {version}   {os.path.join(outputs.serving_dir, str(version))}"]


def _exports_row(summary: dict[str, Any], outputs: RunOutputs) -> list[str]:
    formats = summary.get("exports")
    if formats is None:
        if summary.get("pushed_version") is None:
            return ["none: nothing was pushed"]
        if "Exporter" in (summary.get("cached") or []):
            return ["none new: an earlier run exported this version"]
        return ["none: this version was exported before"]
    published = [name for name, result in formats.items() if result.get("published")]
    folder = os.path.join(outputs.exports_dir, str(summary["pushed_version"]))
    lines = [f"{len(published)} of {len(formats)} formats published   {folder}"]
    for name, result in formats.items():
        if not result.get("published"):
            lines.append(f"{name} not published: {result.get('reason') or 'see parity.json'}")
    return lines


def _try_it_rows(summary: dict[str, Any], outputs: RunOutputs) -> list[tuple[str, list[str]]]:
    if outputs.latest_version is None:
        return []
    model = summary["model"]
    request = shlex.quote(outputs.request_path)
    return [
        ("serve", [f"dlwp serve{outputs.home_flag}"]),
        (
            "then",
            [
                f"dlwp request {model}{outputs.home_flag} && "
                f"curl -d @{request} localhost:8501/v1/models/{model}:predict"
            ],
        ),
    ]


def _time_row(summary: dict[str, Any], total_s: float | None) -> list[str]:
    timings = dict(summary.get("timings_s") or {})
    pipeline_s = timings.pop("total", None)
    slowest = sorted(timings.items(), key=lambda item: -item[1])[:2]
    steps = ", ".join(f"{step} {duration(seconds)}" for step, seconds in slowest)
    parts = []
    if pipeline_s is not None and total_s is not None:
        parts.append(f"the pipeline {duration(pipeline_s)}")
    if steps:
        parts.append(f"slowest {steps}")
    shown = total_s if total_s is not None else pipeline_s
    if shown is None:
        return ["n/a"]
    return [f"{duration(shown)}" + (f"   ({'; '.join(parts)})" if parts else "")]


def _cached_row(summary: dict[str, Any]) -> list[str]:
    cached = summary.get("cached") or []
    if not cached:
        return []
    steps = len(summary.get("timings_s") or {}) - 1
    everything = steps > 0 and len(cached) >= steps
    steps_word = "step" if len(cached) == 1 else "steps"
    how_many = f"all {len(cached)} {steps_word}" if everything else f"{len(cached)} {steps_word}"
    return [f"{how_many} reused from an earlier identical run: {', '.join(cached)}"]


def _report_folder(summary: dict[str, Any], outputs: RunOutputs) -> str:
    """The run's curves and records: `<reports>/<version>/`, `unpushed/` when it pushed
    nothing (README, "Outputs"); the reports folder itself when the Trainer did not run."""
    if summary.get("training") is None:
        return outputs.reports_dir
    version = summary.get("pushed_version")
    return os.path.join(outputs.reports_dir, str(version) if version else "unpushed")


def _report_row(summary: dict[str, Any], outputs: RunOutputs) -> list[str]:
    """The report for people (docs/reports.md): this run's, else the serving version's."""
    page = summary.get("report")
    version = summary.get("pushed_version")
    if page is None and outputs.latest_version is not None:
        version = outputs.latest_version
        candidate = os.path.join(outputs.reports_dir, str(version), REPORT_HTML)
        page = candidate if os.path.isfile(candidate) else None
    if page is None:
        return []
    model = summary["model"]
    return [
        page,
        f"dlwp report {model}{outputs.home_flag}; served at localhost:8501/reports/{model}/"
        f"{version}/",
    ]


def run_table(summary: dict[str, Any], outputs: RunOutputs) -> list[str]:
    """The lines of the end-of-run table of `summary` (the dict pipelines.summary builds).

    Args:
        summary: the run's summary.
        outputs: where the run put things, and what serves now.

    Returns:
        Lines without a newline: a title, then one row per line, a label and its value; a
        value of several lines continues under the first.
    """
    rows: list[tuple[str, list[str]]] = [*_metric_rows(summary)]
    rows.append(("blessed", _blessing_row(summary)))
    rows.append(("pushed", _pushed_row(summary, outputs)))
    rows.append(("exports", _exports_row(summary, outputs)))
    cached = _cached_row(summary)
    if cached:
        rows.append(("cached", cached))
    rows.extend(_try_it_rows(summary, outputs))
    if summary.get("tensorboard"):
        rows.append(
            ("tensorboard", [f"tensorboard --logdir {shlex.quote(summary['tensorboard'])}"])
        )
    report = _report_row(summary, outputs)
    if report:
        rows.append(("report", report))
    rows.append(("summary", [outputs.summary_path]))
    rows.append(("reports", [_report_folder(summary, outputs)]))
    rows.append(("log", [outputs.log_path]))
    rows.append(("time", _time_row(summary, outputs.total_s)))
    width = max(len(label) for label, _ in rows) + 3
    lines = ["", f"{summary.get('model', '?')}: {_examples(summary)}"]
    for label, values in rows:
        for i, value in enumerate(values):
            lines.append(f"  {label if i == 0 else '':<{width}}{value}")
    return lines
