"""Failure modes as a person looks at them (docs/reports.md): a picture that decodes back to
the example's pixels, the words of keras's word index, a table row's raw values."""

import base64
import io
import json

import numpy as np
import tensorflow as tf
from PIL import Image

from components.reporting.failure_modes import (
    IMAGE,
    SEQUENCE,
    TABLE,
    decode_words,
    failure_kind,
    read_word_index,
    render_failure_modes,
)
from components.reporting.split_predictions import WrongAnswer
from contract.task import TaskContract


def example(**features) -> bytes:
    def feature(values):
        if isinstance(values[0], bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if isinstance(values[0], float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    return tf.train.Example(
        features=tf.train.Features(feature={k: feature(v) for k, v in features.items()})
    ).SerializeToString()


def wrong(serialized: bytes, label=1.0, predicted=0.0, confidence=0.9) -> WrongAnswer:
    return WrongAnswer(0, serialized, label, predicted, confidence, None)


def task(features, problem_type="multiclass", class_names=None) -> TaskContract:
    return TaskContract(
        features=tuple({"name": n, "kind": k} for n, k in features),
        label="label",
        problem_type=problem_type,
        metric="accuracy",
        num_classes=3,
        class_names=class_names,
    )


def test_an_image_decodes_back_to_its_pixels_four_times_larger():
    pixels = np.random.default_rng(0).integers(0, 256, 784)
    image_task = task([("image", "image")], class_names=("shirt", "coat", "bag"))
    assert failure_kind(image_task) == IMAGE
    (entry,) = render_failure_modes(
        [wrong(example(image=pixels.tolist(), label=[1]))],
        image_task,
        IMAGE,
        ["shirt", "coat", "bag"],
    )
    assert entry["true"] == "coat" and entry["predicted"] == "shirt" and entry["rank"] == 1
    prefix = "data:image/png;base64,"
    assert entry["image_png"].startswith(prefix)
    png = Image.open(io.BytesIO(base64.b64decode(entry["image_png"][len(prefix) :])))
    assert png.format == "PNG" and png.mode == "L" and png.size == (112, 112)
    decoded = np.asarray(png)
    np.testing.assert_array_equal(decoded[::4, ::4], pixels.reshape(28, 28))
    np.testing.assert_array_equal(decoded[3::4, 3::4], pixels.reshape(28, 28))  # nearest
    assert entry["words"] is None and entry["row"] is None


def test_words_are_decoded_with_keras_word_index(tmp_path):
    # keras's imdb_word_index.json: {word: rank}; load_data shifts ranks by 3 (0 pad, 1 start,
    # 2 out of vocabulary), so rank 1 ("the") is index 4.
    (tmp_path / "imdb_word_index.json").write_text(json.dumps({"the": 1, "film": 2, "was": 3}))
    word_index = read_word_index(str(tmp_path), "imdb")
    text_task = task([("words", "sequence")], problem_type="binary")
    assert failure_kind(text_task) == SEQUENCE
    (entry,) = render_failure_modes(
        [wrong(example(words=[1, 4, 5, 6, 2, 0, 0]))], text_task, SEQUENCE, ["0", "1"], word_index
    )
    assert entry["words"] == "the film was ?"
    assert entry["true"] == "1" and entry["predicted"] == "0"


def test_without_a_word_index_the_indices_are_shown(tmp_path):
    assert read_word_index(str(tmp_path), "imdb") is None
    assert read_word_index("", "imdb") is None
    assert decode_words([1, 12, 45, 0], None) == "#12 #45"
    assert decode_words([1, *range(3, 200)], None).endswith(" …")


def test_a_table_row_shows_each_feature_as_written_in_feature_order():
    table_task = task([("size", "numeric"), ("city", "categorical"), ("sold", "date")])
    assert failure_kind(table_task) == TABLE
    serialized = example(city=[b"Lyon"], size=[0.1], sold=[b"2012-01-31"], label=[2])
    (entry,) = render_failure_modes([wrong(serialized)], table_task, TABLE, ["a", "b", "c"])
    assert list(entry["row"]) == ["size", "city", "sold"]
    assert entry["row"] == {"size": "0.1", "city": "Lyon", "sold": "2012-01-31"}
    (missing,) = render_failure_modes(
        [wrong(example(size=[3.0]))], table_task, TABLE, ["a", "b", "c"]
    )
    assert missing["row"] == {"size": "3", "city": "", "sold": ""}


def test_regression_answers_are_numbers_with_their_error():
    table_task = task([("x", "numeric")], problem_type="regression")
    answer = WrongAnswer(4, example(x=[1.5]), 21.25, 30.0, None, 8.75)
    (entry,) = render_failure_modes([answer], table_task, TABLE, [])
    assert entry["true"] == "21.25" and entry["predicted"] == "30"
    assert entry["error"] == 8.75 and entry["confidence"] is None
