"""The Tuner's `tuner_fn` (book 6.2.5 "regularize and tune"): a KerasTuner random search over
units, dropout (listing 5.16), L2 (listing 5.13) and the learning rate; its best values feed the
Trainer through TFX's `best_hyperparameters`.

The search space follows the book's experiments: smaller and larger nets (listings 5.10-5.12),
dropout 0.2-0.5, L2 0.001 and 0.002, learning rates around rmsprop's default.
"""

import dataclasses

import keras
import keras_tuner
import tensorflow_transform as tft
from tfx.components.tuner.component import TunerFnResult

from components.autograph_rules import leave_libraries_unconverted
from components.convergence import PATIENCE
from components.models import build_model
from components.trainer import TrainerConfig, model_config
from components.training_data import transformed_dataset

SEARCH_SPACE = {
    "units": [16, 32, 64, 128, 256, 512],
    "dropout": [0.0, 0.2, 0.5],
    "l2": [0.0, 0.001, 0.002],
    "learning_rate": [3e-4, 1e-3, 3e-3],
}


def tuner_fn(fn_args) -> TunerFnResult:
    """TFX Tuner entry point (`tuner_fn='components.tuning.tuner_fn'`)."""
    leave_libraries_unconverted()
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)

    def build(hp: keras_tuner.HyperParameters):
        values = {name: hp.Choice(name, choices) for name, choices in SEARCH_SPACE.items()}
        # The search runs unpruned (tfmot drives tf_keras only); the Trainer prunes the winner.
        settings = dataclasses.replace(model_config(config, tft_output, values), prune_sparsity=0)
        return build_model(settings, keras_module=keras)

    tuner = keras_tuner.RandomSearch(
        build,
        objective="val_loss",
        max_trials=config.tune_trials,
        seed=config.seed,
        directory=fn_args.working_dir,
        project_name="dlwp",
    )

    def dataset(files, shuffle):
        return transformed_dataset(fn_args, files, tft_output, config, config.batch_size, shuffle)

    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": dataset(fn_args.train_files, True),
            "validation_data": dataset(fn_args.eval_files, False),
            "epochs": config.max_epochs,
            "callbacks": [keras.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE)],
            "verbose": 2,
        },
    )
