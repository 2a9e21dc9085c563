"""The serving issue's goals, checked against measured cells; the targets are fixed here and
only reported on, never tuned to the measurement.

`cells[model][variant][concurrency]` holds a cell's dict (`rps` among its fields).
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_CONCURRENCY = "32"


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
    raise ValueError(f"no ratio defined for goal {goal.name}")


def evaluate_goals(cells: dict) -> list[dict]:
    """Each goal with its target, per-model ratio and whether it is reached (None: not measured)."""
    evaluated = []
    for goal in GOALS:
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
