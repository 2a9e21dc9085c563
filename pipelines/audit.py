"""`dlwp audit` and `dlwp ab` (book 6.3.3, docs/monitoring.md, "Audits"): how a model does on
labelled production examples, per version and traffic-split arm, and the A/B test of two arms.

    folder = feedback_folder("<home>/feedback", "houses")
    rows = audit_rows(folder, "<home>/reports", "houses")     # one per (version, arm)
    print("\\n".join(audit_text("houses", rows)))

Reads the feedback index (contract/feedback_index.py) and each version's report.json, plain
files: TensorFlow never loads. Each labelled example is weighted by 1/p, the probability it was
logged with (serving/sampling.py), so the metric is the traffic's (serving/audit_stats.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import Counter
from typing import Any

from components.errors import DlwpError
from contract.feedback_index import IndexReader, index_files, is_local
from contract.report_files import REPORT_JSON
from pipelines.version_reports import reported_versions
from serving.audit_stats import (
    ABResult,
    LiveMetric,
    WeightedSums,
    compare_arms,
    live_metric,
    metric_name,
    observation,
    report_test_value,
)

UNSPLIT = "unsplit"  # the arm of examples no traffic split routed, as dlwp_live_metric says it


class AuditError(DlwpError):
    """No feedback to audit, or no two arms to compare (exit 2); says what was found."""


@dataclasses.dataclass(frozen=True)
class AuditRow:
    """One (version, arm) of a model's audit.

    Attributes:
        version, arm: what answered ("unsplit" when no split routed it).
        logged: examples the server logged; labelled: those with a label.
        live: the live metric with its interval, None when nothing is labelled or the problem
            type is unknown.
        test: the version's test metric of the same name (its report.json), or None.
        worse_than_test: the live interval lies wholly on the wrong side of the test metric
            (accuracy's upper bound below it, MAE's lower bound above it).
    """

    version: int
    arm: str
    logged: int
    labelled: int
    live: LiveMetric | None
    test: float | None
    worse_than_test: bool


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm of an A/B test: its versions, traffic logged, labels and live metric."""

    name: str
    versions: tuple[int, ...]
    logged: int
    labelled: int
    live: LiveMetric


@dataclasses.dataclass(frozen=True)
class ABTest:
    """The two arms (A the incumbent: the arm whose newest version is older) and the test."""

    model: str
    a: Arm
    b: Arm
    result: ABResult


def feedback_folder(feedback_dir: str, model: str) -> str:
    """`<feedback_dir>/<model>`, the folder of the model's feedback index.

    Raises:
        AuditError: the folder holds no index (names it, and how feedback gets there).
    """
    if not is_local(feedback_dir):
        raise AuditError(
            f"--feedback-dir {feedback_dir} is a URL: audits read the feedback index, which "
            "needs a local or mounted folder (e.g. a bucket mounted with gcsfuse)"
        )
    folder = os.path.join(feedback_dir.removeprefix("file://"), model)
    found = index_files(folder)
    if not found:
        raise AuditError(
            f"no feedback index for {model!r} in {folder}: serve it with `dlwp serve "
            "--feedback-rate R` (and label examples with POST /v1/models/<model>:feedback or the "
            "page /label/<model>/), or give the folder with --feedback-dir"
        )
    return folder


def test_metric(reports_dir: str, model: str, version: int, metric: str) -> float | None:
    """The version's test value of `metric` from its report.json (as the server's
    dlwp_test_metric: serving/audit_stats.report_test_value); None without a report."""
    path = os.path.join(reports_dir, model, str(version), REPORT_JSON)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return report_test_value(json.load(f), metric)


def _problem_type(reader_rows: list, reports_dir: str, model: str) -> str | None:
    """The model's problem type: what the server logged, else what its newest report says."""
    logged = Counter(e.problem_type for e, _ in reader_rows if e.problem_type)
    if logged:
        return logged.most_common(1)[0][0]
    folder = os.path.join(reports_dir, model)
    versions = reported_versions(folder)
    if versions:
        with open(os.path.join(folder, str(versions[-1]), REPORT_JSON)) as f:
            return (json.load(f).get("task") or {}).get("problem_type")
    return None


def _arm(example_arm: str) -> str:
    return example_arm or UNSPLIT


def _labelled_sums(problem_type: str | None, rows: list) -> dict:
    """(version, arm) -> WeightedSums of the labelled rows."""
    sums: dict[tuple[int, str], WeightedSums] = {}
    if problem_type is None:
        return sums
    for logged, label in rows:
        key = (logged.version, _arm(logged.arm))
        y = observation(problem_type, logged.prediction, label.value)
        sums[key] = sums.get(key, WeightedSums()).add(y, 1 / logged.probability)
    return sums


def _read_index(folder: str) -> tuple[list, dict]:
    """The folder's (logged, label) pairs and its (version, arm) -> (logged, labelled) counts."""
    reader = IndexReader(folder)
    try:
        return reader.labelled(), reader.counts()
    finally:
        reader.close()


def audit_rows(folder: str, reports_dir: str, model: str) -> list[AuditRow]:
    """One row per (version, arm) of the model's feedback, by version then arm."""
    labelled, counts = _read_index(folder)
    problem_type = _problem_type(labelled, reports_dir, model)
    metric = metric_name(problem_type) if problem_type else None
    sums = _labelled_sums(problem_type, labelled)
    merged: dict[tuple[int, str], list[int]] = {}
    for (version, arm), (n_logged, n_labelled) in counts.items():
        totals = merged.setdefault((version, _arm(arm)), [0, 0])
        totals[0] += n_logged
        totals[1] += n_labelled
    rows = []
    for (version, arm), (n_logged, n_labelled) in sorted(merged.items()):
        key = (version, arm)
        live = live_metric(metric, sums[key]) if metric and key in sums else None
        test = test_metric(reports_dir, model, version, metric) if metric else None
        worse = False
        if live is not None and test is not None:
            worse = live.upper < test if metric == "accuracy" else live.lower > test
        rows.append(AuditRow(version, arm, n_logged, n_labelled, live, test, worse))
    return rows


def ab_test(folder: str, reports_dir: str, model: str) -> ABTest:
    """The A/B test of the split's two arms (the distinct non-empty arms of labelled rows).

    Raises:
        AuditError: not exactly two arms have labels (says which were found).
    """
    labelled, counts = _read_index(folder)
    arms = sorted({logged.arm for logged, _ in labelled if logged.arm})
    if len(arms) != 2:
        found = ", ".join(arms) if arms else "none"
        raise AuditError(
            f"an A/B test compares 2 split arms, and the labelled examples of {model!r} have "
            f"{len(arms)} ({found}): serve both versions with `dlwp serve --split "
            f"{model}=LABEL_A:W,LABEL_B:W` and label examples of each"
        )
    problem_type = _problem_type(labelled, reports_dir, model)
    if problem_type is None:
        raise AuditError(
            f"the problem type of {model!r} is unknown: neither the feedback index nor a report "
            f"under {os.path.join(reports_dir, model)} says it"
        )
    metric = metric_name(problem_type)
    built = []
    for name in arms:
        rows = [(e, label) for e, label in labelled if e.arm == name]
        sums = WeightedSums.of(
            [observation(problem_type, e.prediction, label.value) for e, label in rows],
            [1 / e.probability for e, _ in rows],
        )
        versions = tuple(sorted({v for (v, arm) in counts if arm == name}))
        logged = sum(n for (_, arm), (n, _) in counts.items() if arm == name)
        built.append((Arm(name, versions, logged, len(rows), live_metric(metric, sums)), sums))
    # The incumbent first: the arm whose newest version is older; a tie, the busier one.
    built.sort(key=lambda pair: (max(pair[0].versions, default=0), -pair[0].logged))
    (a, sums_a), (b, sums_b) = built
    return ABTest(model, a, b, compare_arms(metric, sums_a, sums_b, names=(a.name, b.name)))


def _number(value: float | None, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{100 * value:.1f} %" if metric == "accuracy" else f"{value:.3g}"


def _interval(live: LiveMetric | None) -> str:
    if live is None or math.isnan(live.lower):
        return "n/a"
    return f"{_number(live.lower, live.metric)} to {_number(live.upper, live.metric)}"


def audit_text(model: str, rows: list[AuditRow]) -> list[str]:
    """The audit as lines for a terminal: a table, then what a flag means."""
    metric = next((r.live.metric for r in rows if r.live), None)
    name = metric or "metric"
    lines = [
        f"{model}: the {name} of labelled production examples (each weighted by 1/p, its "
        "logging probability) against the version's test",
        f"{'version':>7}  {'arm':<12}{'logged':>9}{'labelled':>10}{'share':>8}  "
        f"{name:>9}  {'95 % interval':<22}{'test':>9}",
    ]
    for row in rows:
        share = f"{100 * row.labelled / row.logged:.1f} %" if row.logged else "n/a"
        value = _number(row.live.value, row.live.metric) if row.live else "n/a"
        test = _number(row.test, metric) if metric else "n/a"
        flag = "  worse than test" if row.worse_than_test else ""
        lines.append(
            f"{row.version:>7}  {row.arm:<12}{row.logged:>9,}{row.labelled:>10,}{share:>8}  "
            f"{value:>9}  {_interval(row.live):<22}{test:>9}{flag}"
        )
    if any(row.worse_than_test for row in rows):
        bound = "upper bound" if metric == "accuracy" else "lower bound"
        lines += [
            f"worse than test: the interval's {bound} is on the wrong side of the test {name}:",
            "  production is not like the test data (docs/monitoring.md, Audits); retrain with "
            f"the labels: dlwp retrain {model}",
        ]
    return lines


def ab_text(test: ABTest) -> list[str]:
    """The A/B test as lines for a terminal."""
    result = test.result
    metric = result.metric
    lines = [f"{test.model}: A/B test of the split's arms on labelled production examples"]
    for role, arm in (("A", test.a), ("B", test.b)):
        versions = ", ".join(map(str, arm.versions)) or "?"
        lines.append(
            f"  {role} {arm.name:<12} version {versions:<6} logged {arm.logged:>7,}  labelled "
            f"{arm.labelled:>6,}  {metric} {_number(arm.live.value, metric)} "
            f"({_interval(arm.live)})"
        )
    if not math.isnan(result.difference):
        scale, unit = (100, " points") if metric == "accuracy" else (1, "")
        lines.append(
            f"  B − A {scale * result.difference:+.2f}{unit} (95 % CI "
            f"{scale * result.lower:+.2f} to {scale * result.upper:+.2f}), p = {result.p_value:.3g}"
        )
    lines.append(f"verdict: {result.verdict}")
    return lines


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: None for them."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _metric_json(live: LiveMetric | None) -> dict | None:
    if live is None:
        return None
    return {k: _finite(v) for k, v in dataclasses.asdict(live).items()}


def audit_json(model: str, rows: list[AuditRow]) -> dict:
    """The audit as JSON (`dlwp audit --json`)."""
    return {
        "model": model,
        "rows": [
            {
                "version": r.version,
                "arm": r.arm,
                "logged": r.logged,
                "labelled": r.labelled,
                "live": _metric_json(r.live),
                "test": r.test,
                "worse_than_test": r.worse_than_test,
            }
            for r in rows
        ],
    }


def ab_json(test: ABTest) -> dict:
    """The A/B test as JSON (`dlwp ab --json`)."""
    result = test.result

    def arm(value: Arm) -> dict:
        return {
            "name": value.name,
            "versions": list(value.versions),
            "logged": value.logged,
            "labelled": value.labelled,
            "live": _metric_json(value.live),
        }

    return {
        "model": test.model,
        "metric": result.metric,
        "a": arm(test.a),
        "b": arm(test.b),
        "difference": _finite(result.difference),
        "lower": _finite(result.lower),
        "upper": _finite(result.upper),
        "p_value": _finite(result.p_value),
        "outcome": result.outcome,
        "verdict": result.verdict,
        "labels_needed": result.labels_needed,
    }
