"""Task specs: what differs between datasets, declared once (book ch. 6.1, table 6.1).

The pipeline factory takes a `TaskSpec` and never branches on a dataset name. A CSV task is
built by `csv_task` with the recipe of the closest book task.
"""

from __future__ import annotations

import dataclasses

from components import sources
from components.columns import num_rows
from components.csv_dataset import SPLIT_COLUMN, csv_model_name, load_csv_splits
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
        class_names: what each class index means, when known (shown by the browser page).
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

    def int_domains(self) -> dict[str, tuple[int, int]]:
        """Known integer ranges: of features, and of the class index of a classification label."""
        domains = {f.name: f.int_range for f in self.features if f.int_range is not None}
        if self.num_classes:
            domains[self.label] = (0, self.num_classes - 1)
        return domains


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
                eval_overlaps_train=True,
                columns=sources.BOSTON_COLUMNS,
                label="price",
            ),
            training=Training(hidden_units=(64, 64), batch_size=16, max_epochs=500),
        ),
    )
}

# Book table 6.1 and ch. 4: the measure of success and the recipe of the closest book task.
_CSV_RECIPES = {
    ProblemType.BINARY: ("auc", Training(hidden_units=(16, 16), batch_size=512)),
    ProblemType.MULTICLASS: ("accuracy", Training(hidden_units=(64, 64), batch_size=512)),
    ProblemType.REGRESSION: (
        "mae",
        Training(hidden_units=(64, 64), batch_size=16, max_epochs=500),
    ),
}


def csv_task(path: str, label: str, problem_type: str) -> TaskSpec:
    """A task for a user's CSV; reads the file once to check it and to describe its columns.

    Raises:
        BadDataError: the file or its label column cannot be used (exit code 2).
    """
    splits = load_csv_splits(path, label, problem_type)
    train = splits["train"]
    labels = {value for split in splits.values() for value in split[label]}  # class indices
    features = tuple(
        Feature(
            name,
            FeatureKind.CATEGORICAL
            if any(isinstance(v, str) for v in values)
            else FeatureKind.NUMERIC,
        )
        for name, values in train.items()
        if name not in (label, SPLIT_COLUMN)
    )
    problem = ProblemType(problem_type)
    metric, training = _CSV_RECIPES[problem]
    return TaskSpec(
        name=csv_model_name(path),
        description=f"your CSV {path}",
        problem_type=problem,
        num_classes=None if problem is ProblemType.REGRESSION else len(labels),
        label=label,
        features=features,
        metric=metric,
        protocol="kfold" if num_rows(train) < KFOLD_BELOW_TRAIN_ROWS else "holdout",
        source=sources.CsvSource(path, label, problem_type),
        training=training,
    )
