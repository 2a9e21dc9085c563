"""The run-time settings of a pipeline run, in a module that imports no TFX or TensorFlow, so
that the CLI checks a flag's value before it loads them (configuration flows one way: flags →
these frozen dataclasses, whose defaults are the CLI's → the functions that take them)."""

import dataclasses

from components.errors import SettingsError


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

    def __post_init__(self) -> None:
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
