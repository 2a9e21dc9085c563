"""The report's failure modes (docs/reports.md): the test examples the model got most
confidently wrong, shown the way a person looks at them.

- image (a 784-pixel `image` feature): a 28x28 grey PNG, enlarged 4 times (nearest
  neighbour, so the pixels stay sharp), as a data: URI;
- sequence (a word-index `words` feature): the words, decoded with keras's word index when
  `<data_dir>/<dataset>_word_index.json` is there (keras's imdb / reuters files: an index `i`
  in a sequence is word `i - 3`; 0 pads, 1 starts, 2 is out of the vocabulary), else the
  indices as `#12 #45 ...`;
- table (anything else): each feature's raw value as a string, in the task's feature order.

    kind = failure_kind(task)
    examples = render_failure_modes(answers.worst, task, kind, word_index)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from contract.example_images import image_png
from contract.features import WORDS, FeatureKind, ProblemType
from contract.task import TaskContract

IMAGE, SEQUENCE, TABLE = "image", "sequence", "table"
# keras.datasets.imdb / reuters `load_data` defaults.
PAD, START, OUT_OF_VOCABULARY, INDEX_FROM = 0, 1, 2, 3
UNKNOWN_WORD = "?"  # the book's listing 4.4 prints "?" for indices without a word
MAX_WORDS = 80


def failure_kind(task: TaskContract) -> str:
    """image, sequence or table: how the task's examples are shown."""
    kinds = task.kinds
    if kinds.get("image") is FeatureKind.IMAGE:
        return IMAGE
    if kinds.get(WORDS) is FeatureKind.SEQUENCE:
        return SEQUENCE
    return TABLE


def word_index_path(data_dir: str, dataset: str) -> str:
    """Where keras keeps a dataset's word index (`imdb_word_index.json`)."""
    return os.path.join(data_dir, f"{dataset}_word_index.json")


def read_word_index(data_dir: str, dataset: str) -> dict[int, str] | None:
    """{sequence index: word} from keras's word index file ({word: rank}, shifted by
    INDEX_FROM as `load_data` shifts the sequences), or None when there is no such file."""
    if not data_dir:
        return None
    path = word_index_path(data_dir, dataset)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        ranks = json.load(f)
    return {int(rank) + INDEX_FROM: word for word, rank in ranks.items()}


def decode_words(indices: Sequence[int], word_index: dict[int, str] | None) -> str:
    """A word-index sequence as text (padding and the start mark left out), at most MAX_WORDS
    words, then "…"; `#i` per index without a word index."""
    shown = [int(i) for i in indices if int(i) not in (PAD, START)]
    if word_index is None:
        words = [f"#{i}" for i in shown[:MAX_WORDS]]
    else:
        words = [
            UNKNOWN_WORD if i == OUT_OF_VOCABULARY else word_index.get(i, UNKNOWN_WORD)
            for i in shown[:MAX_WORDS]
        ]
    return " ".join(words) + (" …" if len(shown) > MAX_WORDS else "")


def _values(feature: tf.train.Feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _cell(values: list) -> str:
    """A table cell's raw value as text: "" when missing; a float as its shortest float32
    form (what the CSV said, not float32's binary expansion)."""
    if not values:
        return ""
    value = values[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        return np.format_float_positional(np.float32(value), trim="-")
    return str(value)


def _answer_text(value: float, task: TaskContract, names: Sequence[str]) -> str:
    if task.problem_type is ProblemType.REGRESSION:
        return f"{value:.4g}"
    return names[int(value)]


def render_failure_modes(
    worst: Sequence,
    task: TaskContract,
    kind: str,
    names: Sequence[str],
    word_index: dict[int, str] | None = None,
) -> list[dict]:
    """The report's `failure_modes.examples`: one dict per wrong answer (a
    `split_predictions.WrongAnswer`), in the given order, ranked from 1.

    Args:
        names: the class names (or "0".."K-1"); unused for regression.
    """
    examples = []
    for rank, answer in enumerate(worst, start=1):
        features = tf.train.Example.FromString(answer.serialized).features.feature
        entry = {
            "rank": rank,
            "true": _answer_text(answer.label, task, names),
            "predicted": _answer_text(answer.predicted, task, names),
            "confidence": answer.confidence,
            "error": answer.error,
            "image_png": None,
            "words": None,
            "row": None,
        }
        if kind == IMAGE:
            entry["image_png"] = image_png(_values(features["image"]))
        elif kind == SEQUENCE:
            indices = _values(features[WORDS]) if WORDS in features else []
            entry["words"] = decode_words(indices, word_index)
        else:
            entry["row"] = {
                f.name: _cell(_values(features[f.name]) if f.name in features else [])
                for f in task.features
            }
        examples.append(entry)
    return examples
