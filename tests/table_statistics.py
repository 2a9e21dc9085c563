"""TFDV's statistics of a few table rows, in memory, as StatisticsGen computes them per split."""

import pyarrow as pa
from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
from tensorflow_metadata.proto.v0 import statistics_pb2


def _arrow_type(values: list) -> pa.DataType:
    present = [v for v in values if v is not None]
    if all(isinstance(v, int) for v in present):
        return pa.list_(pa.int64())
    if all(isinstance(v, (int, float)) for v in present):
        return pa.list_(pa.float32())
    return pa.list_(pa.binary())


def _cell(value):
    if value is None:  # a missing cell: the feature is left out of the example
        return None
    return [value.encode() if isinstance(value, str) else value]


def table_statistics(rows: list[dict]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of `rows` (one dict per example; None or a left-out key is a missing cell)."""
    names = sorted({name for row in rows for name in row})
    columns = {name: [row.get(name) for row in rows] for name in names}
    batch = pa.RecordBatch.from_arrays(
        [pa.array([_cell(v) for v in columns[n]], type=_arrow_type(columns[n])) for n in names],
        names,
    )
    return generate_statistics_in_memory(batch)
