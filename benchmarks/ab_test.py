"""A/B test benchmark: how often `dlwp ab` (serving/audit_stats.compare_arms) declares a
difference between two arms of the same accuracy (A/A tests: false positives, goal ≤ 5 %), how
often it finds a true one of 1, 2 and 3 points (power), and the bias of the weighted (1/p,
Hájek) and unweighted estimates of accuracy under uncertainty sampling.

    python -m benchmarks.ab_test [--tests 2000] [--power-tests 1000]
                                 [--out benchmarks/results/ab_test.json]

The simulation (docs/benchmarks.md, "A/B tests"): a classifier with 89 % accuracy on the
traffic; each example's margin m ~ Beta(2.5, 0.7) (most examples sure, a tail of hard ones),
right with probability (1 + m) / 2 (so 89.06 % in all); the traffic split 50/50; the server logs
an example with p = R + (H − R)(1 − m), R = 0.05 and H = 0.5 (`dlwp serve --feedback-rate 0.05
--feedback-hard-rate 0.5`), and every logged example is labelled. An arm that is better by δ
makes a fraction δ / 0.11 of the errors right at every margin. "Labels per arm" is the number
of labelled examples of each arm when the test is made.

The logged examples are drawn from the margins' distribution given logging (density ∝ p(m)
f(m), on a grid of 10,000 margins), which is the distribution of what the server logs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
from scipy import stats

from serving.audit_stats import WeightedSums, compare_arms, live_metric

BASE_RATE, HARD_RATE = 0.05, 0.5
MARGIN_SHAPE = (2.5, 0.7)
LABELS_PER_ARM = (100, 500, 1000, 2000, 5000)
DIFFERENCES_POINTS = (1, 2, 3)
GRID = 10_000


class Traffic:
    """The simulated traffic of one model: margins, correctness and logging probability."""

    def __init__(self) -> None:
        self.m = (np.arange(GRID) + 0.5) / GRID
        density = stats.beta.pdf(self.m, *MARGIN_SHAPE)
        self.traffic = density / density.sum()  # the margin's distribution on the traffic
        self.p = BASE_RATE + (HARD_RATE - BASE_RATE) * (1 - self.m)
        logged = self.traffic * self.p
        self.cdf = np.cumsum(logged / logged.sum())  # the margin's distribution when logged
        self.correct = (1 + self.m) / 2
        self.accuracy = float((self.traffic * self.correct).sum())

    def correct_given(self, difference: float) -> np.ndarray:
        """P(right | margin) of an arm `difference` better than the traffic's accuracy."""
        return 1 - (1 - self.correct) * (1 - difference / (1 - self.accuracy))

    def labelled(self, rng: np.random.Generator, n: int, difference: float = 0.0):
        """n logged, labelled examples of an arm: (1/0 right, the weight 1/p)."""
        bins = np.minimum(np.searchsorted(self.cdf, rng.random(n)), GRID - 1)
        right = rng.random(n) < self.correct_given(difference)[bins]
        return right.astype(np.float64), 1 / self.p[bins]


def false_positives(traffic: Traffic, rng: np.random.Generator, tests: int) -> dict:
    """A/A tests at each labels-per-arm: the rate of verdicts "better" or "worse"."""
    cells = {}
    for n in LABELS_PER_ARM:
        found = 0
        for _ in range(tests):
            a, b = traffic.labelled(rng, n), traffic.labelled(rng, n)
            result = compare_arms("accuracy", WeightedSums.of(*a), WeightedSums.of(*b))
            found += result.outcome in ("better", "worse")
        interval = stats.binomtest(found, tests).proportion_ci(method="wilson")
        cells[str(n)] = {
            "tests": tests,
            "false_positives": found,
            "rate": found / tests,
            "rate_low": interval.low,
            "rate_high": interval.high,
        }
    return cells


def power(traffic: Traffic, rng: np.random.Generator, tests: int) -> dict:
    """Tests of an arm better by 1, 2, 3 points: the rate of the verdict "B is better"."""
    cells: dict[str, dict] = {}
    for points in DIFFERENCES_POINTS:
        cells[f"+{points}"] = {}
        for n in LABELS_PER_ARM:
            detected = 0
            for _ in range(tests):
                a, b = traffic.labelled(rng, n), traffic.labelled(rng, n, points / 100)
                result = compare_arms("accuracy", WeightedSums.of(*a), WeightedSums.of(*b))
                detected += result.outcome == "better"
            cells[f"+{points}"][str(n)] = {"tests": tests, "power": detected / tests}
    return cells


def bias(traffic: Traffic, rng: np.random.Generator, tests: int, n: int = 1000) -> dict:
    """Mean error of the weighted and unweighted estimates over `tests` samples of n labels;
    the share of samples whose 95 % interval holds the truth (the live metric's Wilson interval
    on Kish's count, and the normal one of the linearised variance); Kish's n_eff / n."""
    weighted, unweighted, covered, covered_normal, efficiency = [], [], 0, 0, []
    z = stats.norm.ppf(0.975)
    for _ in range(tests):
        y, w = traffic.labelled(rng, n)
        sums = WeightedSums.of(y, w)
        weighted.append(sums.estimate)
        unweighted.append(y.mean())
        live = live_metric("accuracy", sums)
        covered += live.lower <= traffic.accuracy <= live.upper
        # The normal interval of the linearised variance, which compare_arms uses.
        covered_normal += abs(sums.estimate - traffic.accuracy) <= z * np.sqrt(sums.variance)
        efficiency.append(sums.effective_count / n)

    def summary(values: list[float]) -> dict:
        errors = np.asarray(values) - traffic.accuracy
        return {
            "mean_error_points": float(100 * errors.mean()),
            "standard_error_points": float(100 * errors.std(ddof=1) / np.sqrt(tests)),
        }

    return {
        "labels": n,
        "tests": tests,
        "weighted": summary(weighted),
        "unweighted": summary(unweighted),
        "interval_coverage": covered / tests,
        "normal_interval_coverage": covered_normal / tests,
        "effective_count_share": float(np.mean(efficiency)),
    }


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f} %"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000, help="A/A tests per labels-per-arm")
    parser.add_argument("--power-tests", type=int, default=1000, help="tests per power cell")
    parser.add_argument("--out", default="benchmarks/results/ab_test.json")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    traffic = Traffic()
    started = time.monotonic()
    results = {
        "date": datetime.date.today().isoformat(),
        "setup": {
            "traffic_accuracy": traffic.accuracy,
            "margin": f"Beta{MARGIN_SHAPE}",
            "p_right_given_margin": "(1 + m) / 2",
            "feedback_rate": BASE_RATE,
            "feedback_hard_rate": HARD_RATE,
            "mean_logging_probability": float((traffic.traffic * traffic.p).sum()),
            "split": "50/50",
            "alpha": 0.05,
        },
        "false_positives": false_positives(traffic, rng, args.tests),
        "power": power(traffic, rng, args.power_tests),
        "bias": bias(traffic, rng, args.tests),
    }
    results["wall_s"] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(
        "| labels per arm | A/A false positives (95 % CI) | power at +1 point | +2 points "
        "| +3 points |"
    )
    print("|---:|---|---:|---:|---:|")
    for n in map(str, LABELS_PER_ARM):
        fp = results["false_positives"][n]
        cells = " | ".join(
            _percent(results["power"][f"+{d}"][n]["power"]) for d in DIFFERENCES_POINTS
        )
        print(
            f"| {int(n):,} | {_percent(fp['rate'])} ({_percent(fp['rate_low'])} to "
            f"{_percent(fp['rate_high'])}) | "
            f"{cells} |"
        )
    b = results["bias"]
    for name in ("weighted", "unweighted"):
        print(
            f"{name}: {b[name]['mean_error_points']:+.2f} ± {b[name]['standard_error_points']:.2f}"
            " points"
        )
    print(
        f"coverage: Wilson on Kish's count {_percent(b['interval_coverage'])}, normal "
        f"{_percent(b['normal_interval_coverage'])}; n_eff/n {b['effective_count_share']:.2f}"
    )
    print(f"wall {results['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
