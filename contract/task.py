"""The task contract: what Transform, the Trainer, the drift reference and the Exporter need to
know of a task, handed to each of them in this one form (a JSON string parameter).

    contract = TaskContract.from_json(task_json)
    for feature in contract.features: ...
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from contract.features import Feature, FeatureKind, ProblemType


@dataclasses.dataclass(frozen=True)
class TaskContract:
    """A task's inputs and outputs.

    Attributes:
        features: the model's raw inputs, in the order of the task spec.
        label: the label feature.
        problem_type: binary, multiclass or regression.
        metric: the measure of success (accuracy, auc, mae).
        num_classes: classes of a classification task, else None.
        class_names: what each class index means, when known.
    """

    features: tuple[Feature, ...]
    label: str
    problem_type: ProblemType
    metric: str
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "problem_type", ProblemType(self.problem_type))
        object.__setattr__(
            self,
            "features",
            tuple(f if isinstance(f, Feature) else Feature(**f) for f in self.features),
        )
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def kinds(self) -> dict[str, FeatureKind]:
        """{feature name: kind}, in order."""
        return {f.name: f.kind for f in self.features}

    def to_json(self) -> str:
        """The contract as a JSON string (a TFX component parameter)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TaskContract:
        """The contract `to_json` wrote.

        Raises:
            ValueError: the text is not a task contract (names the missing or unknown field).
        """
        fields: dict[str, Any] = json.loads(text)
        for feature in fields.get("features", []):
            if feature.get("int_range") is not None:
                feature["int_range"] = tuple(feature["int_range"])
        try:
            return cls(**fields)
        except TypeError as error:
            raise ValueError(f"not a task contract: {error}") from None
