"""Task specs: what differs between datasets, declared once (book ch. 6.1, table 6.1).

The pipeline factory takes a `TaskSpec` and never branches on a dataset name. A CSV task is
built by `csv_task` with the recipe of the closest book task.
"""

from __future__ import annotations

import dataclasses
import math

from components import sources
from components.columns import num_rows
from components.csv_columns import ColumnReport
from components.csv_dataset import csv_model_name, load_csv_table
from components.keras_datasets import NUM_WORDS
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract

# Book 4.3 and 6.2.2: K-fold validation when there is too little data for a hold-out.
KFOLD_BELOW_TRAIN_ROWS = 1_000


@dataclasses.dataclass(frozen=True)
class Training:
    """The book's model and training settings (docs/architecture.md, the book's settings)."""

    hidden_units: tuple[int, ...]
    optimizer: str = "rmsprop"
    batch_size: int = 128
    max_epochs: int = 20


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything the pipeline needs to know about one dataset.

    Attributes:
        name: the model name (`<home>/reports/<name>/`, `/v1/models/<name>`).
        description: one line for `dlwp datasets`.
        problem_type: binary, multiclass or regression (book table 6.1).
        num_classes: classes of a classification task, else None.
        label: the label feature.
        features: the model's inputs.
        metric: the measure of success (accuracy, auc, mae).
        protocol: holdout or kfold (book 6.2.2).
        source: where the examples come from and how they are split.
        training: the book's model and training defaults.
        class_names: what each class index means, when known: the model answers with them.
        data_report: for a CSV task, what was understood of its columns (printed once and saved
            as `<home>/reports/<name>/columns.json` by the local runner), else None.
    """

    name: str
    description: str
    problem_type: ProblemType
    num_classes: int | None
    label: str
    features: tuple[Feature, ...]
    metric: str
    protocol: str
    source: sources.Source
    training: Training
    class_names: tuple[str, ...] | None = None
    data_report: ColumnReport | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "problem_type", ProblemType(self.problem_type))

    def contract(self) -> TaskContract:
        """The task as the components receive it (contract/task.py)."""
        return TaskContract(
            features=self.features,
            label=self.label,
            problem_type=self.problem_type,
            metric=self.metric,
            num_classes=self.num_classes,
            class_names=self.class_names,
        )


FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _image_task(name: str, description: str, class_names: tuple[str, ...]) -> TaskSpec:
    return TaskSpec(
        name=name,
        description=description,
        problem_type=ProblemType.MULTICLASS,
        num_classes=10,
        label=sources.LABEL,
        features=(Feature(sources.IMAGE, FeatureKind.IMAGE, int_range=(0, 255)),),
        metric="accuracy",
        protocol="holdout",
        source=sources.KerasSource(name, layout="image", eval_size=10_000, eval_from="last"),
        training=Training(hidden_units=(512,), batch_size=128, max_epochs=20),
        class_names=class_names,
    )


def _word_index_task(
    name: str,
    description: str,
    problem_type: ProblemType,
    num_classes: int,
    metric: str,
    eval_size: int,
    hidden_units: tuple[int, ...],
    class_names: tuple[str, ...] | None = None,
) -> TaskSpec:
    # The book holds out the first reviews / newswires (listings 4.4 and 4.12), batch 512.
    return TaskSpec(
        name=name,
        description=description,
        problem_type=problem_type,
        num_classes=num_classes,
        label=sources.LABEL,
        features=(Feature(sources.WORDS, FeatureKind.SEQUENCE, int_range=(0, NUM_WORDS - 1)),),
        metric=metric,
        protocol="holdout",
        source=sources.KerasSource(name, "sequence", eval_size=eval_size, eval_from="first"),
        training=Training(hidden_units=hidden_units, batch_size=512, max_epochs=20),
        class_names=class_names,
    )


BOOK_TASKS = {
    task.name: task
    for task in (
        _image_task(
            "mnist",
            "handwritten digits, 28x28 grayscale, 10 classes (book ch. 2)",
            tuple(str(digit) for digit in range(10)),
        ),
        _image_task(
            "fashion_mnist",
            "clothing images, 28x28 grayscale, 10 classes",
            FASHION_MNIST_CLASSES,
        ),
        _word_index_task(
            "imdb",
            "movie review sentiment, word indices, binary (book 4.1)",
            ProblemType.BINARY,
            2,
            metric="auc",
            eval_size=10_000,
            hidden_units=(16, 16),
            class_names=("negative", "positive"),
        ),
        _word_index_task(
            "reuters",
            "newswire topics, word indices, 46 classes (book 4.2)",
            ProblemType.MULTICLASS,
            46,
            metric="accuracy",
            eval_size=1_000,
            hidden_units=(64, 64),
        ),
        TaskSpec(
            name="boston_housing",
            description="house prices in k$, 13 numeric columns, regression (book 4.3)",
            problem_type=ProblemType.REGRESSION,
            num_classes=None,
            label="price",
            features=tuple(Feature(c, FeatureKind.NUMERIC) for c in sources.BOSTON_COLUMNS),
            metric="mae",
            protocol="kfold",
            source=sources.KerasSource(
                "boston_housing",
                "tabular",
                eval_size=64,
                eval_from="last",
                columns=sources.BOSTON_COLUMNS,
                label="price",
            ),
            training=Training(hidden_units=(64, 64), batch_size=16, max_epochs=500),
        ),
    )
}

# Book table 6.1 and ch. 4: the measure of success and the model of the closest book task.
_CSV_RECIPES = {
    ProblemType.BINARY: ("auc", (16, 16)),
    ProblemType.MULTICLASS: ("accuracy", (64, 64)),
    ProblemType.REGRESSION: ("mae", (64, 64)),
}
# Enough gradient steps for small data to converge (book 4.3: batch 16 and hundreds of epochs
# with early stopping on Boston Housing's 404 rows); the Trainer stops earlier when validation
# stops improving.
MIN_GRADIENT_STEPS = 3_000
EPOCH_RANGE = (20, 500)
# (rows below, batch size): small batches for small data, larger ones where steps are plenty.
BATCH_SIZES = ((2_000, 16), (10_000, 32), (100_000, 128))
LARGE_BATCH_SIZE = 512


def csv_training_budget(rows: int) -> tuple[int, int]:
    """The batch size and epoch budget for `rows` training rows (train + eval of a CSV).

    The batch grows with the data (16 below 2,000 rows, 32 below 10,000, 128 below 100,000,
    else 512), and the epochs give at least MIN_GRADIENT_STEPS steps, within EPOCH_RANGE.
    """
    batch_size = next((size for below, size in BATCH_SIZES if rows < below), LARGE_BATCH_SIZE)
    steps_per_epoch = max(1, math.ceil(rows / batch_size))
    low, high = EPOCH_RANGE
    return batch_size, min(high, max(low, math.ceil(MIN_GRADIENT_STEPS / steps_per_epoch)))


def csv_task(path: str, label: str, problem_type: str) -> TaskSpec:
    """A task for a user's CSV; reads the file once to check it and to understand its columns
    (`components.csv_columns`), and keeps what it understood as `data_report`.

    Raises:
        BadDataError: the file or its label column cannot be used (exit code 2).
    """
    table = load_csv_table(path, label, problem_type)
    splits = table.splits
    features = tuple(Feature(name, kind) for name, kind in table.features.items())
    problem = ProblemType(problem_type)
    metric, hidden_units = _CSV_RECIPES[problem]
    batch_size, max_epochs = csv_training_budget(
        num_rows(splits["train"]) + num_rows(splits["eval"])
    )
    return TaskSpec(
        name=csv_model_name(path),
        description=f"your CSV {path}",
        problem_type=problem,
        num_classes=None if table.classes is None else len(table.classes),
        label=table.label,
        features=features,
        metric=metric,
        protocol="kfold" if num_rows(splits["train"]) < KFOLD_BELOW_TRAIN_ROWS else "holdout",
        source=sources.CsvSource(path, label, problem_type),
        training=Training(hidden_units, batch_size=batch_size, max_epochs=max_epochs),
        class_names=table.class_names,
        data_report=table.report(),
    )
