"""The Exporter's knobs; what it needs of the task comes separately, as the task contract
(contract/task.py)."""

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """How much the Exporter reads and measures, and how strict its parity gate is.

    Attributes:
        tolerance: the largest metric loss an export may show; None: parity.py's defaults.
        max_examples: test examples scored; 0: all.
        representative_examples: train examples the int8 converter calibrates on.
        latency_examples: single-example calls timed per format.
        golden_examples: test examples golden.json carries.
    """

    tolerance: float | None = None
    max_examples: int = 0
    representative_examples: int = 300
    latency_examples: int = 100
    golden_examples: int = 8

    def to_json(self) -> str:
        """The settings as a JSON string (a TFX component parameter)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ExportSettings":
        """The settings `to_json` wrote."""
        return cls(**json.loads(text))
