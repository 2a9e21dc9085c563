"""`dlwp drift MODEL`: the running server's drift table, and plots of the drifted series.

It asks `dlwp serve` (`GET /monitoring/drift?model=MODEL`) for the latest measurements: per
version and series, the distance, its threshold and the histograms of the training reference
and of the recent window. The terminal gets one line per series; each drifted series gets a
PNG of the two distributions side by side.
"""

import os
import re

import httpx

from components.errors import DlwpError


class DriftUnavailableError(DlwpError):
    """No server answers, or it has no measurements for the model yet (exit 2)."""


def fetch_drift(url: str, model: str) -> dict:
    """{version: measurements} from the server at `url`."""
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/monitoring/drift", params={"model": model}, timeout=10
        )
    except httpx.HTTPError as error:
        raise DriftUnavailableError(
            f"no dlwp serve answers at {url} ({error}); start it with `dlwp serve` or pass --url"
        ) from error
    if response.status_code != 200:
        raise DriftUnavailableError(f"{url}: {response.json().get('error', response.text)}")
    return response.json()[model]


def table(model: str, versions: dict) -> list[str]:
    """The drift table, one line per version and series."""
    lines = [
        f"{'version':<8}{'series':<24}{'measure':<16}{'distance':>10}{'threshold':>11}"
        f"{'samples':>9}  drifted"
    ]
    for version, status in sorted(versions.items(), key=lambda item: int(item[0])):
        rows = dict(status["features"])
        if status["prediction"]:
            rows["(predictions)"] = status["prediction"]
        for name, row in rows.items():
            lines.append(
                f"{version:<8}{name:<24}{row['measure']:<16}{row['distance']:>10.4f}"
                f"{row['threshold']:>11.4f}{row['samples']:>9}  {'YES' if row['drifted'] else 'no'}"
            )
    return lines


def plot(model: str, version: str, name: str, row: dict, folder: str) -> str:
    """A PNG of the reference and recent distributions of one series; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from serving.drift_measures import JENSEN_SHANNON

    if row["measure"] == JENSEN_SHANNON:
        edges = row["bins"]
        labels = [f"< {edges[0]:.3g}"] if edges else ["all"]
        labels += [f"{a:.3g}-{b:.3g}" for a, b in zip(edges, edges[1:], strict=False)]
        labels += [f">= {edges[-1]:.3g}"] if edges else []
    else:
        labels = row["bins"]
    x = np.arange(len(labels))
    figure, axes = plt.subplots(figsize=(max(6, len(labels) * 0.6), 4))
    axes.bar(x - 0.2, row["reference"], 0.4, label="training reference")
    axes.bar(x + 0.2, row["recent"][: len(labels)], 0.4, label=f"recent ({row['samples']})")
    axes.set_xticks(x, labels, rotation=45, ha="right")
    axes.set_ylabel("fraction of examples")
    axes.set_title(
        f"{model} v{version} {name}: {row['measure']} {row['distance']:.3f} "
        f"(threshold {row['threshold']:.3f})"
    )
    axes.legend()
    figure.tight_layout()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{model}-v{version}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def drifted_plots(model: str, versions: dict, folder: str) -> list[str]:
    """PNGs for every drifted series of every version."""
    paths = []
    for version, status in versions.items():
        rows = dict(status["features"])
        if status["prediction"]:
            rows["predictions"] = status["prediction"]
        paths += [
            plot(model, version, name, row, folder) for name, row in rows.items() if row["drifted"]
        ]
    return paths
