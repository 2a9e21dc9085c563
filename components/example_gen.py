"""DatasetExampleGen: the book's datasets and CSV files as tf.Examples in train / eval / test.

TFX's file-based ExampleGens read CSV or TFRecord from a folder; the book's datasets come
through keras's loaders (npz, IDX) instead, and their splits follow the book's listings. This
component is the thin TFX wrapper; the logic is in `components.sources`.
"""

import json

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components import example_writer, sources

SPLIT_COUNTS_PROPERTY = "split_counts"


@component
def DatasetExampleGen(  # noqa: N802 - TFX names components like classes
    examples: OutputArtifact[standard_artifacts.Examples],
    source: Parameter[str],
    data_dir: Parameter[str],
    input_fingerprint: Parameter[str],
    max_examples: Parameter[int] = 0,
    extra_data_dir: Parameter[str] = "",
) -> None:
    """Loads `source` (JSON of `components.sources`) and writes its splits as tf.Examples.

    `input_fingerprint` describes the input files (sizes and modification times): it only takes
    part in TFX's cache key, so that changed data is read again instead of served from cache.
    `extra_data_dir`, when given, holds labelled feedback appended to train only.
    """
    del input_fingerprint  # Only part of the cache key.
    splits = sources.load_splits(sources.from_json(source), data_dir, max_examples, extra_data_dir)
    counts = example_writer.write_splits(splits, examples.uri)
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    examples.set_string_custom_property(SPLIT_COUNTS_PROPERTY, json.dumps(counts))
