"""A benchmark's results file: the date, the machine and the results, as JSON.

write_report("benchmarks/results/tables.json", results=results)
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from typing import Any


def write_report(path: str, **fields: Any) -> dict[str, Any]:
    """Writes `{"date", "machine", **fields}` to `path` (its folder made); returns it."""
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        **fields,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    return report
