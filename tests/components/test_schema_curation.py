"""Integer ranges from the task spec are added to the inferred schema, or refused clearly."""

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from components.schema_curation import add_int_domains


def schema():
    result = schema_pb2.Schema()
    result.feature.add(name="image", type=schema_pb2.INT)
    result.feature.add(name="color", type=schema_pb2.BYTES)
    return result


def test_range_is_set_on_the_feature():
    curated = schema()
    add_int_domains(curated, {"image": [0, 255]})
    assert (curated.feature[0].int_domain.min, curated.feature[0].int_domain.max) == (0, 255)


def test_unknown_feature_is_named():
    with pytest.raises(ValueError, match="'pixels' is not in the schema"):
        add_int_domains(schema(), {"pixels": [0, 255]})


def test_range_on_a_string_feature_is_refused():
    with pytest.raises(ValueError, match="'color' is not an integer feature"):
        add_int_domains(schema(), {"color": [0, 1]})
