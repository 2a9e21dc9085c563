"""The formats dlwp exports a model to, and how each is converted from a SavedModel.

TFLite (built-in ops only, so the file runs with the plain TFLite runtime on a device):
- `tflite_float32`: no optimization.
- `tflite_dynamic_int8`: int8 weights, float activations (dynamic-range quantization).
- `tflite_int8`: full-integer: int8 weights and activations, calibrated on a representative
  dataset; the interface keeps the float model's input and output types, so callers pass the
  same inputs (quantize/dequantize run at the edges inside the model).
- `tflite_float16`: float16 weights.

TF.js graph models (the `tensorflowjs` converter): `tfjs_float32`, `tfjs_uint8` and
`tfjs_float16` (weights quantized, dequantized when the model loads).

Every converter reads the SavedModel's `serving_default` signature and writes into a folder.
"""

import dataclasses
import os
from collections.abc import Callable, Iterator

import tensorflow as tf

from contract.signatures import SERVING_DEFAULT

TFLITE = "tflite"
TFJS = "tfjs"
TFLITE_FILE = "model.tflite"
TFJS_FILE = "model.json"

# (saved_model_dir, output_dir, representative examples) -> None
Converter = Callable[[str, str, Callable[[], Iterator[dict]]], None]


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One exported format: where it runs, what it is, how to convert to it."""

    name: str
    runtime: str  # TFLITE or TFJS
    description: str
    convert: Converter

    @property
    def model_file(self) -> str:
        return TFLITE_FILE if self.runtime == TFLITE else TFJS_FILE


def _tflite(optimize: Callable[[tf.lite.TFLiteConverter, Callable], None]) -> Converter:
    def convert(saved_model_dir: str, output_dir: str, representative: Callable) -> None:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model_dir, signature_keys=[SERVING_DEFAULT]
        )
        # Built-in ops only: a model needing TF ops (Flex) would not run on a plain runtime,
        # and failing here is what sends the export to the transformed-feature input.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        optimize(converter, representative)
        content = converter.convert()
        tf.io.gfile.makedirs(output_dir)
        with tf.io.gfile.GFile(os.path.join(output_dir, TFLITE_FILE), "wb") as f:
            f.write(content)

    return convert


def _no_optimization(converter, representative) -> None:
    del converter, representative


def _dynamic_range(converter, representative) -> None:
    del representative
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _full_integer(converter, representative) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def _float16(converter, representative) -> None:
    del representative
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _tfjs(quantization: dict[str, str] | None) -> Converter:
    def convert(saved_model_dir: str, output_dir: str, representative: Callable) -> None:
        del representative
        # Imported here: the converter pulls in tensorflow_hub and jax-free tfjs modules that
        # only export needs.
        from tensorflowjs.converters import tf_saved_model_conversion_v2

        tf.io.gfile.makedirs(output_dir)
        tf_saved_model_conversion_v2.convert_tf_saved_model(
            saved_model_dir,
            output_dir,
            signature_def=SERVING_DEFAULT,
            saved_model_tags="serve",
            quantization_dtype_map=quantization,
        )

    return convert


FORMATS = (
    ExportFormat("tflite_float32", TFLITE, "TFLite, float32", _tflite(_no_optimization)),
    ExportFormat(
        "tflite_dynamic_int8",
        TFLITE,
        "TFLite, int8 weights (dynamic range)",
        _tflite(_dynamic_range),
    ),
    ExportFormat(
        "tflite_int8",
        TFLITE,
        "TFLite, full integer int8 (representative dataset)",
        _tflite(_full_integer),
    ),
    ExportFormat("tflite_float16", TFLITE, "TFLite, float16 weights", _tflite(_float16)),
    ExportFormat("tfjs_float32", TFJS, "TF.js graph model, float32", _tfjs(None)),
    ExportFormat("tfjs_uint8", TFJS, "TF.js graph model, uint8 weights", _tfjs({"uint8": "*"})),
    ExportFormat(
        "tfjs_float16", TFJS, "TF.js graph model, float16 weights", _tfjs({"float16": "*"})
    ),
)
