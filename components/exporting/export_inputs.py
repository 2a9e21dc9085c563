"""The examples an export is converted and judged on: the test split (scored against the
SavedModel) and a few train examples (the int8 converter's representative dataset), each in the
two input forms of split_inputs.py, raw and transformed.

    inputs = ExportInputs(examples_uri, tft_output, task, max_examples=0,
                          representative_examples=300)
    inputs.get(RAW, TEST_SPLIT)          # {feature: array}, serving_default's inputs
    inputs.representative(TRANSFORMED)   # the converter's generator of single examples
"""

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from components.exporting import split_inputs
from contract.task import TaskContract

RAW, TRANSFORMED = "raw", "transformed"
INPUT_FORMS = (RAW, TRANSFORMED)  # the order they are tried in
TEST_SPLIT, TRAIN_SPLIT = "test", "train"


class ExportInputs:
    """The test and representative examples, raw and (on first use) transformed."""

    def __init__(
        self,
        examples_uri: str,
        tft_output: Any,
        task: TaskContract,
        max_examples: int = 0,
        representative_examples: int = 300,
    ):
        """Reads the examples.

        Args:
            examples_uri: ExampleGen's output.
            tft_output: the Transform graph (a `tft.TFTransformOutput`).
            task: the task's features and label.
            max_examples: test examples to read; 0: all.
            representative_examples: train examples to read.

        Raises:
            ValueError: the test split is empty.
        """
        self._tft_output = tft_output
        self._features = [(feature.name, str(feature.kind)) for feature in task.features]
        test = split_inputs.read_split(examples_uri, TEST_SPLIT, max_examples)
        train = split_inputs.read_split(examples_uri, TRAIN_SPLIT, representative_examples)
        if not test:
            raise ValueError(f"the test split under {examples_uri} is empty")
        self.labels = split_inputs.labels(test, task.label, task.problem_type)
        self._serialized = {TEST_SPLIT: test, TRAIN_SPLIT: train}
        raw_spec = tft_output.raw_feature_spec()
        self._cache = {
            (RAW, split): split_inputs.raw_inputs(records, raw_spec, self._features)
            for split, records in self._serialized.items()
        }

    def get(self, mode: str, split: str) -> dict[str, np.ndarray]:
        """The examples of `split` in input form `mode` (RAW or TRANSFORMED)."""
        if (mode, split) not in self._cache:
            self._cache[(mode, split)] = split_inputs.transformed_inputs(
                self._serialized[split], self._tft_output, self._features
            )
        return self._cache[(mode, split)]

    def representative(self, mode: str) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
        """The converter's representative dataset: train examples, one at a time."""
        train = self.get(mode, TRAIN_SPLIT)

        def examples() -> Iterator[dict[str, np.ndarray]]:
            for i in range(len(next(iter(train.values())))):
                yield {name: values[i : i + 1] for name, values in train.items()}

        return examples


def describe(inputs: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """The dtype and shape of each input, as parity.json lists them (a batch of any size)."""
    return {
        name: {
            "dtype": str(array.dtype) if array.dtype.kind != "S" else "string",
            "shape": [None, *array.shape[1:]],
        }
        for name, array in inputs.items()
    }
