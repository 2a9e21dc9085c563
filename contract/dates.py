"""The dates a DATE feature takes (contract/features.py): `YYYY-MM-DD` or `YYYY/MM/DD`,
optionally followed by a time (`2012-01-31 08:30`, `2012/01/31T08:30:15.5Z`); the time is read
past, not used. Anything else, and impossible days such as `2012-02-30`, is a missing date.

The Transform graph parses with the same pattern in TensorFlow's regex ops (RE2), so the
pattern keeps to what both RE2 and Python's `re` read the same way: ASCII digit classes, no
back-references.

    parse_date("2012/01/31 08:30")   # datetime.date(2012, 1, 31)
    fractional_years(np.array([b"2012-07-02", b""]))   # [2012.5, nan]
"""

from __future__ import annotations

import datetime
import re

import numpy as np

# Groups: year, month, day. Leading and trailing blanks are stripped before matching.
DATE_PATTERN = (
    r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r" ?(?:Z|UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_DATE = re.compile(DATE_PATTERN)


def parse_date(text: str | bytes) -> datetime.date | None:
    """The date `text` names, or None when it is empty, unparsable or impossible."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    match = _DATE.fullmatch(str(text).strip())
    if match is None:
        return None
    year, month, day = (int(group) for group in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError:  # month 13, 30 February, year 0
        return None


def fractional_year(date: datetime.date) -> float:
    """The date as a number: the year plus the elapsed fraction of it (1 July 2012: 2012.5)."""
    days_in_year = datetime.date(date.year, 12, 31).timetuple().tm_yday
    return date.year + (date.timetuple().tm_yday - 1) / days_in_year


def fractional_years(values: np.ndarray) -> np.ndarray:
    """`fractional_year` of each date string, NaN where the date is missing or unparsable."""
    flat = np.asarray(values, dtype=object).reshape(-1)
    known: dict[object, float] = {}
    out = np.empty(len(flat), np.float64)
    for i, value in enumerate(flat):
        if value not in known:
            date = parse_date(value)
            known[value] = np.nan if date is None else fractional_year(date)
        out[i] = known[value]
    return out
