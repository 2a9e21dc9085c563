"""What a pushed version carries beside its SavedModel, under `<version>/assets.extra/`: the
monitoring reference the Pusher publishes and the server reads (docs/monitoring.md)."""

ASSETS_EXTRA = "assets.extra"
TRAIN_STATISTICS_FILE = "train_statistics.pb"  # TFDV statistics of the train split
SCHEMA_FILE = "schema.pbtxt"  # the curated schema (tensorflow_metadata's Schema, text format)
EVAL_PREDICTIONS_FILE = "eval_predictions.json"  # the model's outputs on held-out examples
REFERENCE_FILE = "drift_reference.json"  # contract/drift_reference.py
SOURCE_FILE = "source_model.txt"  # the model artifact this version was published from
TASK_FILE = "task.json"  # the TaskContract (contract/task.py): label, problem type, classes
THRESHOLD_FILE = "threshold.json"  # a binary model's launch threshold ("live"), its rule, rates
