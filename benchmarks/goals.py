"""The serving issue's goals, checked against measured cells; the targets are fixed here and
only reported on, never tuned to the measurement.

`cells[model][variant][concurrency]` holds a cell's dict (`rps` among its fields); a baseline's
cells are under `<variant>_baseline` (benchmarks/baseline.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.baseline import BASELINE_SUFFIX

HIGH_CONCURRENCY = "32"
# Where the baseline goal compares: under load, where the server's own work is the bottleneck.
BASELINE_CONCURRENCIES = ("8", "32")
BASELINE_VARIANTS = ("rest", "grpc")


@dataclass(frozen=True)
class Goal:
    """`numerator / denominator ≥ target` for each of `models`."""

    name: str
    definition: str
    target: float
    models: tuple[str, ...]


GOALS = (
    Goal(
        "rest_vs_naive_flask",
        "REST req/s (best of rest and rest_batching) / naive_flask req/s, at concurrency 32",
        3.0,
        ("dense", "convnet"),
    ),
    Goal(
        "grpc_vs_naive_flask",
        "gRPC req/s / naive_flask req/s, at concurrency 32",
        4.0,
        ("dense", "convnet"),
    ),
    Goal(
        "rest_batching_vs_inprocess",
        "rest_batching req/s at concurrency 32 / in-process instances/s (best concurrency, "
        "batches of 32)",
        0.5,
        ("convnet",),
    ),
    Goal(
        "rest_batching_vs_rest",
        "rest_batching req/s / rest req/s, at concurrency 32",
        1.5,
        ("convnet",),
    ),
)
# Evaluated only when the run measured a baseline's server side by side.
BASELINE_GOALS = (
    Goal(
        "rest_grpc_vs_baseline",
        "lowest of rest and grpc req/s / the baseline's req/s for the same variant, at "
        "concurrency 8 and 32",
        0.95,
        ("dense", "convnet"),
    ),
)


def _rps(cells: dict, model: str, variant: str, concurrency: str = HIGH_CONCURRENCY) -> float:
    return cells[model][variant][concurrency]["rps"]


def goal_ratio(goal: Goal, cells: dict, model: str) -> float:
    """The measured ratio of `goal` for `model`.

    Raises:
        KeyError: a cell the goal needs was not measured.
    """
    if goal.name == "rest_vs_naive_flask":
        best_rest = max(_rps(cells, model, "rest"), _rps(cells, model, "rest_batching"))
        return best_rest / _rps(cells, model, "naive_flask")
    if goal.name == "grpc_vs_naive_flask":
        return _rps(cells, model, "grpc") / _rps(cells, model, "naive_flask")
    if goal.name == "rest_batching_vs_inprocess":
        ceiling = max(cell["rps"] for cell in cells[model]["inprocess"].values())
        return _rps(cells, model, "rest_batching") / ceiling
    if goal.name == "rest_batching_vs_rest":
        return _rps(cells, model, "rest_batching") / _rps(cells, model, "rest")
    if goal.name == "rest_grpc_vs_baseline":
        return min(
            _rps(cells, model, variant, concurrency)
            / _rps(cells, model, variant + BASELINE_SUFFIX, concurrency)
            for variant in BASELINE_VARIANTS
            for concurrency in BASELINE_CONCURRENCIES
        )
    raise ValueError(f"no ratio defined for goal {goal.name}")


def evaluate_goals(cells: dict, with_baseline: bool = False) -> list[dict]:
    """Each goal with its target, per-model ratio and whether it is reached (None: not measured);
    the baseline goals too when `with_baseline`."""
    evaluated = []
    for goal in GOALS + (BASELINE_GOALS if with_baseline else ()):
        ratios: dict[str, float | None] = {}
        for model in goal.models:
            try:
                ratios[model] = round(goal_ratio(goal, cells, model), 2)
            except (KeyError, ZeroDivisionError):
                ratios[model] = None
        reached = {
            model: None if ratio is None else ratio >= goal.target
            for model, ratio in ratios.items()
        }
        evaluated.append(
            {
                "name": goal.name,
                "definition": goal.definition,
                "target": goal.target,
                "ratios": ratios,
                "reached": reached,
                "all_reached": all(reached.values()),
            }
        )
    return evaluated


def _ratio(new: float | None, old: float | None) -> float | None:
    return None if new is None or not old else round(new / old, 3)


def baseline_ratios(cells: dict) -> dict:
    """New / baseline req/s, p50 and p99 for every cell measured on both sides.

    Returns:
        `ratios[model][variant][concurrency]` = `{"rps", "p50_ms", "p99_ms"}` (None where a side
        measured nothing).
    """
    ratios: dict = {}
    for model, variants in cells.items():
        for variant, by_concurrency in variants.items():
            baseline = variants.get(variant + BASELINE_SUFFIX)
            if baseline is None:
                continue
            for concurrency, cell in by_concurrency.items():
                old = baseline.get(concurrency)
                if old is None:
                    continue
                ratios.setdefault(model, {}).setdefault(variant, {})[concurrency] = {
                    field: _ratio(cell[field], old[field]) for field in ("rps", "p50_ms", "p99_ms")
                }
    return ratios
