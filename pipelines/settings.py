"""The run-time settings of a pipeline run, in a module that imports no TFX or TensorFlow, so
that the CLI checks a flag's value before it loads them (configuration flows one way: flags →
these frozen dataclasses, whose defaults are the CLI's → the functions that take them)."""

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from components.errors import SettingsError

if TYPE_CHECKING:
    from components.launch_threshold import ThresholdRule


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Run-time training knobs: epochs override, accelerator, seed, tuning, K-fold repeats."""

    max_epochs: int = 0  # 0: the task's default, which grows while validation improves
    tpu: str = ""
    mixed_precision: bool = False
    seed: int = 0
    tune_trials: int = 0  # 0: no hyperparameter search
    prune_sparsity: float = 0.0  # > 0: magnitude pruning to this sparsity (tfmot)
    kfold_repeats: int = 1  # iterated K-fold (book 5.2.1): P shuffles of the K folds
    # A binary task's launch threshold, chosen on eval (components/launch_threshold.py): at
    # most one of these; none: the score 0.5.
    threshold: float | None = None
    target_fpr: float | None = None
    target_recall: float | None = None

    def _threshold_flags(self) -> dict[str, float]:
        """The launch-threshold flags given, by flag."""
        return {
            flag: value
            for flag, value in (
                ("--threshold", self.threshold),
                ("--target-fpr", self.target_fpr),
                ("--target-recall", self.target_recall),
            )
            if value is not None
        }

    def __post_init__(self) -> None:
        given = self._threshold_flags()
        if len(given) > 1:
            raise SettingsError(
                f"give at most one of --threshold, --target-fpr and --target-recall, got "
                f"{' and '.join(given)}: each one alone sets the launch threshold"
            )
        for flag, value in given.items():
            if not 0 < value < 1:
                raise SettingsError(
                    f"{flag} is a rate (or a score) strictly between 0 and 1 (e.g. 0.05), "
                    f"got {value}"
                )
        if self.max_epochs < 0:
            raise SettingsError(
                f"--epochs must be positive (0 means the book's maximum), got {self.max_epochs}"
            )
        if self.tune_trials < 0:
            raise SettingsError(
                f"--tune-trials must be 0 (no search) or more, got {self.tune_trials}"
            )
        if self.kfold_repeats < 1:
            raise SettingsError(
                "--kfold-repeats is how many times K-fold runs, each with a new shuffle: "
                f"1 or more, got {self.kfold_repeats}"
            )
        if not 0 <= self.prune_sparsity < 1:
            raise SettingsError(
                "--prune is the fraction of weights set to zero: from 0 up to, not including, 1 "
                f"(e.g. 0.5 or 0.8), got {self.prune_sparsity}"
            )

    def check_task(self, task: str, problem_type: str) -> None:
        """Refuses a launch-threshold flag for a task that is not binary.

        Raises:
            SettingsError: naming the flag, the task and its problem type.
        """
        given = self._threshold_flags()
        if given and problem_type != "binary":
            raise SettingsError(
                f"{next(iter(given))} sets a binary task's launch threshold (on the score of "
                f"class 1), but {task} is a {problem_type} task: leave it out"
            )

    @property
    def threshold_rule(self) -> "ThresholdRule":
        """The launch threshold's rule of these flags; default: the threshold 0.5."""
        # Imported here: this module loads before scikit-learn, which the rule's module needs.
        from components.launch_threshold import (
            TARGET_FPR,
            TARGET_RECALL,
            THRESHOLD,
            ThresholdRule,
        )

        for kind, value in (
            (THRESHOLD, self.threshold),
            (TARGET_FPR, self.target_fpr),
            (TARGET_RECALL, self.target_recall),
        ):
            if value is not None:
                return ThresholdRule(kind, value)
        return ThresholdRule()


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What the report of a pushed version (docs/reports.md) is told about its use."""

    cases_per_day: int = 1000  # the launch-threshold table counts errors per this many cases

    def __post_init__(self) -> None:
        if self.cases_per_day < 1:
            raise SettingsError(
                "--cases-per-day is how many cases the model will see a day (the report counts "
                f"its errors per day from it): 1 or more, got {self.cases_per_day}"
            )


def beam_options(values: Sequence[str]) -> tuple[str, ...]:
    """`--beam-arg` values as Beam options (`--name=value`), for every Beam step of a run
    (`dlwp run`) or a compiled pipeline (`dlwp compile`).

    Raises:
        SettingsError: a value is not an option, named.
    """
    for value in values:
        if not value.startswith("--") or len(value) < 3:
            raise SettingsError(
                f"--beam-arg {value!r} is not a Beam option: write it as --beam-arg=--name=value"
            )
    return tuple(values)
