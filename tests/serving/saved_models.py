"""Tiny SavedModels in TF Serving's layout, built by the tests (seconds, no training).

`write_toy_model(base, version)` writes `<base>/<version>/` with these signatures:
- `serving_default`: `x` float32 [n, 3] -> `scores` float32 [n, 2] (softmax of [sum(x), -sum(x)]
  scaled by the version), `class_ids` int64 [n], `version` int64 [n].
- `from_examples`: serialized tf.Examples with `x` (3 floats) -> the same outputs.
- `regress_examples`: serialized tf.Examples with `x` -> `predictions` float32 [n] = sum(x)*version.
- `two_inputs`: `a` float32 [n], `b` int64 [n, 2] -> `total` float32 [n], `label_bytes` string [n].
- `slow`: `x` float32 [n, 3] and `iterations` int32 [] -> `scores` after `iterations` x
  0.75 ms of wall time spent multiplying 256x256 matrices (2,000: 1.5 s, busy on one core,
  however fast the CPU; the deadline and drain tests use it).
"""

import os
import shutil

import numpy as np
import tensorflow as tf

SLOW_SECONDS_PER_ITERATION = 0.75e-3


class _Toy(tf.Module):
    def __init__(self, version: int):
        super().__init__()
        self.version = tf.Variable(float(version), trainable=False)

    def _outputs(self, x):
        total = tf.reduce_sum(x, axis=1) * self.version
        scores = tf.nn.softmax(tf.stack([total, -total], axis=1))
        version = tf.fill(tf.shape(total), tf.cast(self.version, tf.int64))
        return {"scores": scores, "class_ids": tf.argmax(scores, axis=1), "version": version}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serving_default(self, x):
        return self._outputs(x)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def from_examples(self, examples):
        parsed = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([3], tf.float32)})
        return self._outputs(parsed["x"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def regress_examples(self, examples):
        parsed = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([3], tf.float32)})
        return {"predictions": tf.reduce_sum(parsed["x"], axis=1) * self.version}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="a"),
            tf.TensorSpec([None, 2], tf.int64, name="b"),
        ]
    )
    def two_inputs(self, a, b):
        total = a + tf.cast(tf.reduce_sum(b, axis=1), tf.float32)
        return {"total": total, "label_bytes": tf.strings.as_string(total)}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([], tf.int32, name="iterations"),
        ]
    )
    def slow(self, x, iterations):
        matrix = tf.fill([256, 256], 1.0 / 256)
        # Timed, not counted: a count of products took 4 times less on a faster CPU, and the
        # tests' calls then ended before their deadlines.
        seconds = tf.cast(iterations, tf.float64) * SLOW_SECONDS_PER_ITERATION
        start = tf.timestamp()
        busy = tf.while_loop(
            lambda i, m: tf.timestamp() - start < seconds,
            lambda i, m: (i + 1, tf.matmul(m, matrix)),
            [tf.constant(0), matrix],
        )[1]
        scores = self._outputs(x)["scores"]
        return {"scores": scores + 0.0 * tf.reduce_sum(busy)}


def write_toy_model(base: str, version: int) -> str:
    """Writes version `version` of the toy model under `base`; returns its folder."""
    toy = _Toy(version)
    path = os.path.join(base, str(version))
    tf.saved_model.save(
        toy,
        path,
        signatures={
            "serving_default": toy.serving_default,
            "from_examples": toy.from_examples,
            "regress_examples": toy.regress_examples,
            "two_inputs": toy.two_inputs,
            "slow": toy.slow,
        },
    )
    return path


def toy_scores(x: np.ndarray, version: int) -> np.ndarray:
    """What the toy model answers, computed independently of TensorFlow."""
    total = np.asarray(x, dtype=np.float64).sum(axis=1) * version
    logits = np.stack([total, -total], axis=1)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def publish(version_dir: str, base: str, version: int) -> str:
    """Publishes a copy of `version_dir` as `<base>/<version>` the way the pipeline does: written
    to a sibling temp folder first, then renamed, so a poll never sees half a version."""
    os.makedirs(base, exist_ok=True)
    staging = os.path.join(base, f".tmp-{version}")
    shutil.copytree(version_dir, staging)
    final = os.path.join(base, str(version))
    os.rename(staging, final)
    return final


def write_warmup_requests(version_dir: str, requests: list[dict[str, np.ndarray]]) -> str:
    """Writes TF Serving's warm-up file (`assets.extra/tf_serving_warmup_requests`): one
    PredictionLog with a `serving_default` predict request per dict of inputs."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    folder = os.path.join(version_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tf_serving_warmup_requests")
    with tf.io.TFRecordWriter(path) as writer:
        for inputs in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "toy"
            request.model_spec.signature_name = "serving_default"
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path
