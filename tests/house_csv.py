"""A learnable houses CSV for end-to-end runs: price follows area and rooms, with a string
column and missing cells."""

import numpy as np


def learnable_rows(n, seed):
    """Houses whose price follows area and rooms, with a color column and missing cells."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        area, rooms = rng.uniform(30, 200), int(rng.integers(1, 7))
        price = 2.0 * area + 15.0 * rooms + rng.normal(0, 5)
        color = ["red", "blue", "green"][i % 3] if i % 7 else ""
        rows.append((rooms if i % 11 else "", color, f"{area:.1f}", f"{price:.1f}"))
    return rows


def write_houses(path, rows):
    path.write_text(
        "rooms,color,area,price\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return str(path)
