"""CurateSchema: the task's declared ranges are added, numeric columns are never bools, dates
have no value list, a table column may be missing; a curated schema file is read again when
edited."""

import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from table_statistics import table_statistics
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from components.schema_curation import add_int_domains, content_addressed_copy, curate
from contract.features import Feature, FeatureKind, ProblemType
from contract.task import TaskContract


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


HOUSES = TaskContract(
    features=(
        Feature("garage", FeatureKind.NUMERIC),
        Feature("color", FeatureKind.CATEGORICAL),
        Feature("sold_on", FeatureKind.DATE),
    ),
    label="expensive",
    problem_type=ProblemType.BINARY,
    metric="auc",
    num_classes=2,
)


def house(i, **changes):
    row = {
        "garage": i % 2,
        "color": ["red", "blue"][i % 2],
        "sold_on": ["2012-01-01", "2012-01-02"][i % 2],
        "expensive": (i // 2) % 2,
    }
    return {**row, **changes}


@pytest.fixture(scope="module")
def inferred():
    """The schema SchemaGen infers from 40 train rows (TFDV, shapes inferred)."""
    return tfdv.infer_schema(table_statistics([house(i) for i in range(40)]), True)


def feature(schema_proto, name):
    return next(f for f in schema_proto.feature if f.name == name)


def test_an_int_column_of_0_and_1_is_inferred_bool_and_curated_to_a_plain_int(inferred):
    assert feature(inferred, "garage").HasField("bool_domain")  # what SchemaGen does
    garage = feature(curate(inferred, HOUSES), "garage")
    assert garage.type == schema_pb2.INT
    assert garage.WhichOneof("domain_info") is None


def test_a_binary_label_gets_its_class_range(inferred):
    label = feature(curate(inferred, HOUSES), "expensive")
    assert (label.int_domain.min, label.int_domain.max) == (0, 1)
    assert [d.size for d in label.shape.dim] == [1]  # every example has a label


def test_a_date_column_has_no_value_list_and_a_category_keeps_its_own(inferred):
    curated = curate(inferred, HOUSES)
    assert feature(inferred, "sold_on").WhichOneof("domain_info") == "domain"
    assert feature(curated, "sold_on").WhichOneof("domain_info") is None
    assert [d.name for d in curated.string_domain] == ["color"]
    assert feature(curated, "color").domain == "color"


def test_columns_may_be_missing_but_hold_one_value(inferred):
    curated = curate(inferred, HOUSES)
    for name in ("garage", "color", "sold_on"):
        column = feature(curated, name)
        assert not column.HasField("shape")
        assert (column.value_count.min, column.value_count.max) == (1, 1)
    assert feature(inferred, "garage").HasField("shape")  # the input is left as it was


def test_rare_values_and_missing_cells_in_test_are_no_parse_errors(inferred):
    """What refused a run before curation (BOOL_TYPE_BIG_INT, a lost shape) is now at most
    a value-level anomaly: a 2 in the 0/1 column passes, fewer cells present is reported."""
    test = [house(i, garage=2 if i == 0 else i % 2) for i in range(8)]
    test += [house(i, sold_on=None) for i in range(2)]
    statistics = table_statistics(test)
    before = tfdv.validate_statistics(statistics, inferred)
    after = tfdv.validate_statistics(statistics, curate(inferred, HOUSES))

    def kinds(anomalies):
        return {
            (name, anomalies_pb2.AnomalyInfo.Type.Name(reason.type))
            for name, info in anomalies.anomaly_info.items()
            for reason in info.reason
        }

    assert ("garage", "BOOL_TYPE_BIG_INT") in kinds(before)
    assert ("sold_on", "INVALID_FEATURE_SHAPE") in kinds(before)
    assert kinds(after) == {("sold_on", "FEATURE_TYPE_LOW_FRACTION_PRESENT")}


def test_an_edited_schema_file_gets_a_new_path_and_the_same_one_the_same(tmp_path):
    source = tmp_path / "schema.pbtxt"
    source.write_text(text_format.MessageToString(schema()))
    first = content_addressed_copy(str(source), str(tmp_path / "copies"))
    again = content_addressed_copy(str(source), str(tmp_path / "copies"))
    source.write_text(text_format.MessageToString(schema()) + 'feature { name: "x" }\n')
    edited = content_addressed_copy(str(source), str(tmp_path / "copies"))
    assert first == again != edited
    with open(edited) as f:
        assert 'name: "x"' in f.read()
