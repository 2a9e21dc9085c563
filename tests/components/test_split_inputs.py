"""A split's tf.Examples, read whole and in order, as the raw inputs of `serving_default`:
missing values and ragged sequences become what a client would send (NaN, "", padding 0)."""

import numpy as np
import tensorflow as tf

from components.exporting.split_inputs import labels, raw_inputs


def _example(**features) -> bytes:
    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        if isinstance(value, float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(value)))

    return tf.train.Example(
        features=tf.train.Features(feature={k: feature(v) for k, v in features.items()})
    ).SerializeToString()


SPEC = {
    "rooms": tf.io.VarLenFeature(tf.int64),  # an int column with missing cells
    "color": tf.io.VarLenFeature(tf.string),
    "area": tf.io.FixedLenFeature([1], tf.float32),
    "words": tf.io.VarLenFeature(tf.int64),
    "price": tf.io.FixedLenFeature([], tf.float32),
}
FEATURES = [
    ("rooms", "numeric"),
    ("color", "categorical"),
    ("area", "numeric"),
    ("words", "sequence"),
]


def test_missing_values_and_ragged_sequences_become_what_a_client_sends():
    records = [
        _example(rooms=[3], color=b"red", area=120.0, words=[5, 7, 9], price=1.0),
        _example(area=80.0, words=[4], price=2.0),
    ]
    inputs = raw_inputs(records, SPEC, FEATURES)
    assert inputs["rooms"].dtype == np.float32
    np.testing.assert_array_equal(inputs["rooms"], [3.0, np.nan])
    assert inputs["color"].tolist() == [b"red", b""]
    np.testing.assert_array_equal(inputs["area"], [120.0, 80.0])
    np.testing.assert_array_equal(inputs["words"], [[5, 7, 9], [4, 0, 0]])
    np.testing.assert_array_equal(labels(records, "price", "regression"), [1.0, 2.0])


def test_sequences_are_padded_across_parse_batches(monkeypatch):
    from components.exporting import split_inputs

    monkeypatch.setattr(split_inputs, "PARSE_BATCH", 1)  # each example in its own batch
    records = [_example(words=[1], price=0.0), _example(words=[1, 2, 3], price=0.0)]
    words = raw_inputs(records, SPEC, [("words", "sequence")])["words"]
    np.testing.assert_array_equal(words, [[1, 0, 0], [1, 2, 3]])


def test_a_split_is_read_whole_and_in_order_across_files_and_batches(monkeypatch, tmp_path):
    from components.exporting import split_inputs

    monkeypatch.setattr(split_inputs, "READ_BATCH", 2)  # batches that end inside each file
    folder = tmp_path / "Split-test"
    folder.mkdir()
    records = [_example(price=float(i)) for i in range(7)]
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    for name, part in (
        ("data-00000-of-00002.gz", records[:4]),
        ("data-00001-of-00002.gz", records[4:]),
    ):
        with tf.io.TFRecordWriter(str(folder / name), options) as writer:
            for record in part:
                writer.write(record)
    assert split_inputs.read_split(str(tmp_path), "test") == records
    assert split_inputs.read_split(str(tmp_path), "test", limit=3) == records[:3]
