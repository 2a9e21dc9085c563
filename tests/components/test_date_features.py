"""Date features: parsing in the Transform graph against Python's datetime, the clock-angle
encoding, the Transform step's train statistics, and the drift monitor's date series."""

import datetime
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.date_features import DATE_WIDTH, parse_dates
from components.preprocessing import preprocessing_fn, transform_config
from contract.dates import parse_date
from contract.drift_series import feature_series, missing_mask, out_of_domain
from contract.features import Feature, FeatureKind, ProblemType
from contract.schema_domains import Domain
from contract.task import TaskContract

# Every 97th day from 1899 to 2101 (all weekdays, months and leap rules), and the edge days.
DAYS = [datetime.date(1899, 12, 25) + datetime.timedelta(days=k) for k in range(0, 73_800, 97)]
DAYS += [
    datetime.date(2000, 2, 29),  # divisible by 400: a leap year
    datetime.date(1900, 3, 1),  # 1900 is not a leap year
    datetime.date(2012, 12, 31),  # day 366
    datetime.date(2013, 12, 31),  # day 365
    datetime.date(1969, 12, 31),  # before the Unix epoch
    datetime.date(1, 1, 1),
    datetime.date(9999, 12, 31),
]
NOT_DATES = [
    "",
    "   ",
    "soon",
    "2012-13-01",
    "2012-00-10",
    "2012-02-30",
    "2011-02-29",
    "1900-02-29",
    "0000-01-01",
    "12/01/2012",
    "2012-1-1x",
    "2012-01-01 noon",
    "20120101",
]


def parsed(strings):
    parts = parse_dates(tf.constant(strings))
    return {name: value.numpy() for name, value in vars(parts).items()}


def test_parsed_dates_match_pythons_calendar():
    texts = [day.isoformat() for day in DAYS]
    parts = parsed(texts)
    assert parts["valid"].all()
    assert parts["year"].tolist() == [d.year for d in DAYS]
    assert parts["month"].tolist() == [d.month for d in DAYS]
    assert parts["day"].tolist() == [d.day for d in DAYS]
    assert parts["day_of_year"].tolist() == [d.timetuple().tm_yday for d in DAYS]
    assert parts["weekday"].tolist() == [d.weekday() for d in DAYS]
    leap = [366 if d.year % 4 == 0 and (d.year % 100 or d.year % 400 == 0) else 365 for d in DAYS]
    assert parts["days_in_year"].tolist() == leap


def test_known_weekdays():
    parts = parsed(["2012-01-01", "1970-01-01", "2000-01-01", "2024-02-29"])
    # Sunday, Thursday, Saturday, Thursday (Monday is 0)
    assert parts["weekday"].tolist() == [6, 3, 5, 3]


def test_both_separators_and_times_are_read():
    texts = [
        "2012/03/04",
        "2012-3-4",
        " 2012-03-04 ",
        "2012-03-04 08:30",
        "2012/03/04 08:30:15",
        "2012-03-04T08:30:15.250Z",
        "2012-03-04 08:30:15+02:00",
    ]
    parts = parsed(texts)
    assert parts["valid"].all()
    assert set(zip(parts["year"], parts["month"], parts["day"], strict=True)) == {(2012, 3, 4)}
    assert [parse_date(t) for t in texts] == [datetime.date(2012, 3, 4)] * len(texts)


def test_empty_unparsable_and_impossible_dates_are_not_valid():
    assert not parsed(NOT_DATES)["valid"].any()
    assert [parse_date(t) for t in NOT_DATES] == [None] * len(NOT_DATES)


TASK = TaskContract(
    (Feature("sold", FeatureKind.DATE), Feature("rooms", FeatureKind.NUMERIC)),
    "label",
    ProblemType.BINARY,
    "auc",
    2,
)
SPEC = {
    "sold": tf.io.VarLenFeature(tf.string),
    "rooms": tf.io.VarLenFeature(tf.float32),
    "label": tf.io.FixedLenFeature([], tf.int64),
}
TRAIN = [
    {"sold": ["2010-04-01"], "rooms": [1.0], "label": 0},
    {"sold": ["2012/07/01 10:00"], "rooms": [2.0], "label": 1},
    {"sold": [], "rooms": [3.0], "label": 0},  # missing: not counted in the year's mean
    {"sold": ["not a date"], "rooms": [4.0], "label": 1},  # unparsable: as missing
    {"sold": ["2014-01-01"], "rooms": [5.0], "label": 1},
]
NEW = [{"sold": ["2030-10-01"], "rooms": [1.0], "label": 0}]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    config = transform_config(TASK)
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        transform_fn = (TRAIN, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, config)
        )
        train, _ = ((TRAIN, metadata), transform_fn) | tft_beam.TransformDataset()
        new, _ = ((NEW, metadata), transform_fn) | tft_beam.TransformDataset()
    return [row["sold"] for row in train], new[0]["sold"]


def test_date_becomes_seven_numbers_with_the_year_scaled_on_train_dates(transformed):
    train, new = transformed
    assert all(len(row) == DATE_WIDTH for row in train)
    years = np.array([2010.0, 2012.0, 2014.0])  # the three valid train dates only
    mean, std = years.mean(), years.std()
    assert [row[0] for row in train] == pytest.approx([-2 / std, 0.0, 0.0, 0.0, 2 / std])
    assert new[0] == pytest.approx((2030 - mean) / std)


def test_month_day_of_year_and_weekday_are_angles(transformed):
    train, new = transformed
    april_first = train[0]  # month 4, day 91 of 365, a Thursday (3)
    expected = [
        math.sin(2 * math.pi * 3 / 12),
        math.cos(2 * math.pi * 3 / 12),
        math.sin(2 * math.pi * 90 / 365),
        math.cos(2 * math.pi * 90 / 365),
        math.sin(2 * math.pi * 3 / 7),
        math.cos(2 * math.pi * 3 / 7),
    ]
    assert list(april_first[1:]) == pytest.approx(expected, abs=1e-6)
    # 2030-10-01: day 274 of 365, a Tuesday (1)
    assert new[3] == pytest.approx(math.sin(2 * math.pi * 273 / 365), abs=1e-6)
    assert new[5] == pytest.approx(math.sin(2 * math.pi * 1 / 7), abs=1e-6)


def test_missing_and_unparsable_dates_become_zeros(transformed):
    train, _ = transformed
    assert list(train[2]) == [0.0] * DATE_WIDTH
    assert list(train[3]) == [0.0] * DATE_WIDTH


def test_drift_series_of_a_date_is_its_fractional_year():
    values = np.array([b"2012-07-02", b"2013/01/01 00:00", b"", b"2012-02-30"], dtype=object)
    series = feature_series("date", values)["value"]
    assert series[:2].tolist() == [2012.5, 2013.0]  # 2012 has 366 days: 2 July is day 184
    assert np.isnan(series[2:]).all()
    missing = missing_mask("date", values)
    assert missing is not None and missing.tolist() == [False, False, True, True]
    # dates are open-ended: one after training is no schema anomaly
    assert out_of_domain("date", values, Domain(values=("2012-07-02",))) is None
