"""A date column as numbers a dense model can use (book 5.4.2 feature engineering: the
clock-angle example, where an angle beats raw coordinates): the year as a number, and month,
day of year and weekday as points on a circle, so December sits next to January and Sunday
next to Monday.

Parsing runs in the Transform graph with TensorFlow's string ops (the pattern of
contract/dates.py), so serving takes the raw date string and never re-implements it. Day of
year and weekday come from integer arithmetic: `days_from_civil`, the days since 1970-01-01 of a
proleptic Gregorian date (H. Hinnant's algorithm).

    parts = parse_dates(tf.constant(["2012-01-01", "2012/03/01 08:30", "", "soon"]))
    parts.valid     # [True, True, False, False]
    parts.weekday   # [6, 3, ...]: Monday is 0, as in Python's date.weekday()
"""

import dataclasses
import math

import tensorflow as tf

from contract.dates import DATE_PATTERN

# year (z-score), then sin and cos of month, day of year, weekday.
DATE_WIDTH = 7
_PLACEHOLDER = "1970-01-01"  # parsed in place of an invalid string, then masked out
_UNIX_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday is 0)


@dataclasses.dataclass(frozen=True)
class DateParts:
    """Parsed dates, one value per example ([batch] tensors); where `valid` is False the
    other fields are meaningless."""

    valid: tf.Tensor  # bool
    year: tf.Tensor  # int64
    month: tf.Tensor  # int64, 1-12
    day: tf.Tensor  # int64, 1-31
    day_of_year: tf.Tensor  # int64, 1-366
    days_in_year: tf.Tensor  # int64, 365 or 366
    weekday: tf.Tensor  # int64, 0 (Monday) - 6 (Sunday)


def days_from_civil(year: tf.Tensor, month: tf.Tensor, day: tf.Tensor) -> tf.Tensor:
    """Days since 1970-01-01 of each (year, month, day), int64; negative before 1970."""
    year = year - tf.cast(month <= 2, tf.int64)  # the year starts in March: leap day last
    era = tf.math.floordiv(year, 400)
    year_of_era = year - era * 400
    shifted_month = tf.where(month > 2, month - 3, month + 9)  # March is 0
    day_of_year = (153 * shifted_month + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _is_leap(year: tf.Tensor) -> tf.Tensor:
    return ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)


def _days_in_month(year: tf.Tensor, month: tf.Tensor) -> tf.Tensor:
    lengths = tf.constant([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], tf.int64)
    length = tf.gather(lengths, tf.clip_by_value(month, 1, 12) - 1)
    return length + tf.cast((month == 2) & _is_leap(year), tf.int64)


def parse_dates(text: tf.Tensor) -> DateParts:
    """Parses a [batch] string tensor of dates; empty, unparsable or impossible dates (month
    13, 30 February) are not valid."""
    text = tf.strings.strip(text)
    matched = tf.strings.regex_full_match(text, DATE_PATTERN)
    text = tf.where(matched, text, _PLACEHOLDER)

    def group(number: int) -> tf.Tensor:
        digits = tf.strings.regex_replace(text, f"^{DATE_PATTERN}$", f"\\{number}")
        return tf.strings.to_number(digits, tf.int64)  # only digits once matched

    year, month, day = group(1), group(2), group(3)
    valid = (
        matched
        & (year >= 1)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= _days_in_month(year, month))
    )
    days = days_from_civil(year, month, day)
    new_year = days_from_civil(year, tf.ones_like(month), tf.ones_like(day))
    return DateParts(
        valid=valid,
        year=year,
        month=month,
        day=day,
        day_of_year=days - new_year + 1,
        days_in_year=365 + tf.cast(_is_leap(year), tf.int64),
        weekday=tf.math.floormod(days + _UNIX_EPOCH_WEEKDAY, 7),
    )


def _circle(position: tf.Tensor, period: tf.Tensor | float, valid: tf.Tensor) -> list[tf.Tensor]:
    """sin and cos of `position` (0-based) on a circle of `period` steps; 0 and 0 where the
    date is missing (the circle's centre: no direction)."""
    angle = 2 * math.pi * tf.cast(position, tf.float32) / tf.cast(period, tf.float32)
    zero = tf.zeros_like(angle)
    return [tf.where(valid, tf.sin(angle), zero), tf.where(valid, tf.cos(angle), zero)]


def date_encoding(parts: DateParts, scaled_year: tf.Tensor) -> tf.Tensor:
    """The [batch, DATE_WIDTH] float32 model input of parsed dates: `scaled_year` (already
    0 where the date is missing), then sin/cos of month, day of year and weekday."""
    valid = parts.valid
    return tf.stack(
        [
            scaled_year,
            *_circle(parts.month - 1, 12.0, valid),
            *_circle(parts.day_of_year - 1, parts.days_in_year, valid),
            *_circle(parts.weekday, 7.0, valid),
        ],
        axis=1,
    )
