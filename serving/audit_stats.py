"""The statistics of audits against fresh labels (book 6.3.3, docs/monitoring.md, "Audits"):
the live metric of labelled production examples with its 95 % interval, and the A/B test of two
arms of a traffic split.

The server logs an example with probability p (uncertainty sampling, serving/sampling.py: hard
examples more often), so the labelled examples over-represent hard ones. Each is weighted by
1/p, and the metric is the Hájek estimator sum(w y) / sum(w) of the traffic's metric, where y is
1/0 (correct or not) or an absolute error. Its variance is the linearised (delta method) one,
sum(w² (y − estimate)²) / sum(w)², times n / (n − 1); the weights cost precision, which Kish's
effective count (sum w)² / sum(w²) measures.

    sums = WeightedSums().add(observation("multiclass", 3, 3), w=1 / 0.1)
    live_metric("accuracy", sums)                # LiveMetric(value=1.0, lower=..., ...)
    compare_arms("accuracy", stable, canary, names=("stable", "canary")).verdict

Pure numpy and scipy: both the server (serving/live_metrics.py) and the CLI (`dlwp audit`,
`dlwp ab`) import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

ACCURACY = "accuracy"
MAE = "mae"
METRICS = (ACCURACY, MAE)
# Below this many labels per arm an A/B verdict is not given: the normal approximation of the
# difference's distribution is poor (and the book's advice is to wait for more data).
MIN_LABELS_PER_ARM = 30
# The difference a "no difference detected" verdict says how many labels would detect, with
# POWER: 2 accuracy points, or 10 % of the first arm's MAE.
DETECTABLE_ACCURACY_POINTS = 2.0
DETECTABLE_MAE_FRACTION = 0.10
POWER = 0.8


@dataclasses.dataclass(frozen=True)
class WeightedSums:
    """Running sums over labelled examples of y (1/0 correct, or the absolute error) with
    weights w = 1/p: all that the estimate and its interval need, in constant memory.

    Frozen: `add` returns new sums, so that a server's series is replaced atomically.
    """

    count: int = 0
    sum_w: float = 0.0
    sum_w2: float = 0.0
    sum_wy: float = 0.0
    sum_w2y: float = 0.0
    sum_w2y2: float = 0.0

    def add(self, y: float, w: float, sign: int = 1) -> WeightedSums:
        """These sums with one example (y, weight w) added, or removed with `sign` -1 (the old
        label of a relabelled example).

        Raises:
            ValueError: w is not a positive finite number, y not finite, or sign not ±1.
        """
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"a weight is 1/p for a sampling probability p in (0, 1], got {w}")
        if not math.isfinite(y):
            raise ValueError(f"an observation is 1/0 or an absolute error, got {y}")
        if sign not in (1, -1):
            raise ValueError(f"sign is 1 (add) or -1 (remove), got {sign}")
        return WeightedSums(
            count=self.count + sign,
            sum_w=self.sum_w + sign * w,
            sum_w2=self.sum_w2 + sign * w * w,
            sum_wy=self.sum_wy + sign * w * y,
            sum_w2y=self.sum_w2y + sign * w * w * y,
            sum_w2y2=self.sum_w2y2 + sign * w * w * y * y,
        )

    def __add__(self, other: WeightedSums) -> WeightedSums:
        """The sums of both sets of examples (e.g. an arm served by two versions)."""
        return WeightedSums(
            *(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self))
        )

    @classmethod
    def of(cls, ys: Sequence[float] | np.ndarray, ws: Sequence[float] | np.ndarray) -> WeightedSums:
        """The sums of arrays of observations and their weights (a batch `add`).

        Raises:
            ValueError: the arrays differ in length, or a weight is not positive.
        """
        y = np.asarray(ys, dtype=np.float64)
        w = np.asarray(ws, dtype=np.float64)
        if y.shape != w.shape or y.ndim != 1:
            raise ValueError(f"one weight per observation: got {y.shape} and {w.shape}")
        if len(w) and not (np.all(np.isfinite(w)) and np.all(w > 0)):
            raise ValueError("a weight is 1/p for a sampling probability p in (0, 1]")
        w2 = w * w
        return cls(
            count=len(y),
            sum_w=float(w.sum()),
            sum_w2=float(w2.sum()),
            sum_wy=float((w * y).sum()),
            sum_w2y=float((w2 * y).sum()),
            sum_w2y2=float((w2 * y * y).sum()),
        )

    @property
    def estimate(self) -> float:
        """The Hájek estimate sum(w y) / sum(w); NaN without examples."""
        return self.sum_wy / self.sum_w if self.count > 0 and self.sum_w > 0 else math.nan

    @property
    def effective_count(self) -> float:
        """Kish's effective count (sum w)² / sum(w²): n when every weight is the same."""
        return self.sum_w**2 / self.sum_w2 if self.count > 0 and self.sum_w2 > 0 else 0.0

    @property
    def variance(self) -> float:
        """The linearised variance of `estimate` (module docstring); NaN below 2 examples."""
        if self.count < 2:
            return math.nan
        m = self.estimate
        # sum(w² (y - m)²), expanded into the running sums; rounding may leave it a hair below 0.
        squares = self.sum_w2y2 - 2 * m * self.sum_w2y + m * m * self.sum_w2
        return max(squares, 0.0) / self.sum_w**2 * self.count / (self.count - 1)


@dataclasses.dataclass(frozen=True)
class LiveMetric:
    """The metric of labelled production examples (weighted to the traffic) with its interval.

    Attributes:
        metric: "accuracy" (classification) or "mae" (regression).
        value: the estimate; NaN without labels.
        lower, upper: the interval at `confidence` (95 %); NaN without labels.
        count: labelled examples.
        effective_count: Kish's (sum w)² / sum w².
        confidence: the interval's level.
    """

    metric: str
    value: float
    lower: float
    upper: float
    count: int
    effective_count: float
    confidence: float = 0.95


def report_test_value(report: dict, metric: str) -> float | None:
    """A version's test value of `metric` ("accuracy" or "mae") from its report.json's content:
    `success.test` when the report's metric is that one, else the accuracy of its test
    confusion matrix; None when the report has neither (the MAE of a classifier)."""
    success = report.get("success") or {}
    if success.get("metric") == metric and success.get("test") is not None:
        return float(success["test"])
    confusion = (report.get("classes") or {}).get("confusion")
    if metric == ACCURACY and confusion:
        total = sum(map(sum, confusion))
        return sum(row[i] for i, row in enumerate(confusion)) / total if total else None
    return None


def metric_name(problem_type: str) -> str:
    """The live metric of a problem type: "mae" for regression, else "accuracy"."""
    return MAE if problem_type == "regression" else ACCURACY


def observation(problem_type: str, prediction: float, label: float) -> float:
    """What one labelled example adds: 1.0 if the served class is the label, else 0.0; for
    regression the absolute error |prediction − label|."""
    if problem_type == "regression":
        return abs(float(prediction) - float(label))
    return 1.0 if round(float(prediction)) == round(float(label)) else 0.0


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"the live metric is {' or '.join(METRICS)}, got {metric!r}")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is a level in (0, 1), e.g. 0.95, got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(proportion: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion observed on n examples (n may be an effective
    count, so not an integer: scipy's binomtest takes integer counts only)."""
    z = _z(confidence)
    if n <= 0:
        return 0.0, 1.0
    z2n = z * z / n
    center = (proportion + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(proportion * (1 - proportion) / n + z2n / (4 * n))
    return max(0.0, center - half), min(1.0, center + half)


def live_metric(metric: str, sums: WeightedSums, confidence: float = 0.95) -> LiveMetric:
    """The live metric of `sums` with its interval.

    Accuracy: Wilson's interval of the weighted estimate on Kish's effective count. MAE: a
    normal interval from the linearised variance, clipped at 0; with one label it is 0 to ∞.

    Raises:
        ValueError: `metric` is not "accuracy" or "mae", or `confidence` not in (0, 1).
    """
    _check_metric(metric)
    z = _z(confidence)
    value, n_eff = sums.estimate, sums.effective_count
    if sums.count <= 0:
        lower = upper = math.nan
    elif metric == ACCURACY:
        lower, upper = wilson_interval(min(1.0, max(0.0, value)), n_eff, confidence)
    elif sums.count < 2:
        lower, upper = 0.0, math.inf
    else:
        half = z * math.sqrt(sums.variance)
        lower, upper = max(0.0, value - half), value + half
    return LiveMetric(metric, value, lower, upper, max(sums.count, 0), n_eff, confidence)


@dataclasses.dataclass(frozen=True)
class ABResult:
    """The A/B test of two arms (book 6.3.3): B − A with its interval, a two-sided z-test.

    Attributes:
        metric: "accuracy" or "mae".
        names: the arms' names (e.g. the split's version labels), A first.
        a, b: each arm's live metric.
        difference: B − A (accuracy: a fraction; MAE: in the label's unit); NaN when an arm
            has fewer than 2 labels.
        lower, upper: the difference's interval at 1 − alpha.
        p_value: two-sided, of "no difference".
        outcome: "better" or "worse" (B against A), "no difference", or "too few labels".
        verdict: the outcome in words, with the numbers.
        labels_needed: with "no difference", the labels per arm that would detect the
            difference named in the verdict with 80 % power; else None.
    """

    metric: str
    names: tuple[str, str]
    a: LiveMetric
    b: LiveMetric
    difference: float
    lower: float
    upper: float
    p_value: float
    outcome: str
    verdict: str
    labels_needed: int | None = None


def _signed(value: float, metric: str) -> str:
    """+2.1 (points of accuracy) or −0.42 (MAE)."""
    return f"{value * 100:+.1f}" if metric == ACCURACY else f"{value:+.3g}"


def _unit(metric: str) -> str:
    return " points" if metric == ACCURACY else " MAE"


def labels_per_arm(
    per_label_variance: float, difference: float, alpha: float = 0.05, power: float = POWER
) -> int:
    """Labels per arm to detect `difference` with a two-sided test at `alpha` with `power`:
    the two-sample formula n = (z_{1−α/2} + z_power)² (σ_A² + σ_B²) / δ², where
    `per_label_variance` is σ_A² + σ_B² (each arm's variance of one weighted label)."""
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return math.ceil(z * z * per_label_variance / difference**2)


def compare_arms(
    metric: str,
    a: WeightedSums,
    b: WeightedSums,
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
) -> ABResult:
    """The A/B test of arm B against arm A: B − A of the two Hájek estimates, its interval with
    SE² = SE_A² + SE_B² (independent arms), a two-sided z-test, and a verdict in words that
    names the arms. Accuracy: higher is better; MAE: lower is better.

    Raises:
        ValueError: `metric` is not "accuracy" or "mae", or `alpha` not in (0, 1).
    """
    _check_metric(metric)
    confidence = 1 - alpha
    z = _z(confidence)
    metric_a, metric_b = live_metric(metric, a, confidence), live_metric(metric, b, confidence)
    name_a, name_b = names
    difference = lower = upper = p_value = math.nan
    if a.count >= 2 and b.count >= 2:
        difference = b.estimate - a.estimate
        se = math.sqrt(a.variance + b.variance)
        lower, upper = difference - z * se, difference + z * se
        if se > 0:
            p_value = float(2 * norm.sf(abs(difference) / se))
        else:  # both arms all right (or all wrong): no variance to test against
            p_value = 1.0 if difference == 0 else 0.0
    level = f"{confidence:.0%}".replace("%", " %")
    labels_needed = None
    if min(a.count, b.count) < MIN_LABELS_PER_ARM:
        outcome = "too few labels"
        verdict = (
            f"too few labels: {name_a} has {a.count}, {name_b} has {b.count}; at least "
            f"{MIN_LABELS_PER_ARM} each"
        )
    elif p_value < alpha:
        b_is_better = difference > 0 if metric == ACCURACY else difference < 0
        outcome = "better" if b_is_better else "worse"
        lower_better = "" if metric == ACCURACY else "; lower MAE is better"
        verdict = (
            f"{name_b} is {outcome} than {name_a} ({_signed(difference, metric)}"
            f"{_unit(metric)}, {level} CI {_signed(lower, metric)} to {_signed(upper, metric)}"
            f"{lower_better})"
        )
    else:
        outcome = "no difference"
        if metric == ACCURACY:
            detectable = DETECTABLE_ACCURACY_POINTS / 100
            target = f"a {DETECTABLE_ACCURACY_POINTS:g}-point difference"
        else:
            detectable = DETECTABLE_MAE_FRACTION * a.estimate
            target = f"a {DETECTABLE_MAE_FRACTION:.0%} difference in MAE ({detectable:.3g})"
        per_label = a.variance * a.count + b.variance * b.count
        labels_needed = (
            labels_per_arm(per_label, detectable, alpha) if detectable > 0 and per_label > 0 else 0
        )
        more = labels_needed - min(a.count, b.count)
        enough = (
            f"about {more:,} more labels per arm would detect {target}"
            if more > 0
            else f"the arms have enough labels to detect {target}: the difference is smaller"
        )
        verdict = (
            f"no difference detected: the {level} interval {_signed(lower, metric)} to "
            f"{_signed(upper, metric)}{_unit(metric)} includes 0; {enough}"
        )
    return ABResult(
        metric=metric,
        names=(name_a, name_b),
        a=metric_a,
        b=metric_b,
        difference=difference,
        lower=lower,
        upper=upper,
        p_value=p_value,
        outcome=outcome,
        verdict=verdict,
        labels_needed=labels_needed,
    )
