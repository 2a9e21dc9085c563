"""The report page (docs/reports.md): report.json rendered as one self-contained HTML file.

    page = render_html(report, {"loss.png": png_bytes})

The page loads nothing: styles and the little script are inline, pictures are data: URIs, so it
can be mailed, archived or opened offline and still shows what it showed on the day. It prints
in black and white, one section per page.
"""

from __future__ import annotations

import base64
import os

import jinja2

from components.reporting import text

TEMPLATES_DIR = os.path.join(os.path.dirname(__file__), "templates")
TEMPLATE = "report.html.j2"
PNG_DATA_URI = "data:image/png;base64,"
# The histogram's inline SVG, in its own units (it scales to the page's width).
HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT = 600, 180


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=text.number,
        percent=text.percent,
        per_day=text.per_day,
        size=text.size,
    )
    return environment


def render_html(report: dict, figures: dict[str, bytes]) -> str:
    """The page of `report` (report.json's schema), with `figures` (PNG bytes by file name, the
    Trainer's curves named in `report["training"]["figures"]`) embedded as data: URIs.

    Raises:
        jinja2.TemplateNotFound: the template is not installed beside this module.
        KeyError: `report` lacks a key of report.json's schema.
    """
    context = {
        "report": report,
        "task": report["task"],
        "success": report["success"],
        "units": text.units(report),
        "sentences": text.success_sentences(report),
        "confusions": text.confusion_sentences(report),
        "threshold_sentences": text.threshold_sentences(report),
        "tolerance_sentence": text.tolerance_sentence(report),
        "matrix": _confusion_cells(report.get("classes")),
        "histogram": _histogram(report.get("regression")),
        "examples": [_example(e) for e in report["failure_modes"]["examples"]],
        "figures": _figures(report["training"]["figures"], figures),
        "class_names": text.class_names(report) if report.get("classes") else None,
        "export_names": text.EXPORT_NAMES,
    }
    return _environment().get_template(TEMPLATE).render(context)


def _confusion_cells(classes: dict | None) -> list[list[dict]] | None:
    """Each cell's count, its share of its true class (the shading) and whether it is right."""
    if not classes:
        return None
    rows = []
    for true, counts in enumerate(classes["confusion"]):
        total = sum(counts)
        rows.append(
            [
                {
                    "true": true,
                    "predicted": predicted,
                    "count": count,
                    "share": count / total if total else 0.0,
                }
                for predicted, count in enumerate(counts)
            ]
        )
    return rows


def _histogram(regression: dict | None) -> dict | None:
    """The bars of the absolute-error histogram, in the SVG's coordinates."""
    if not regression:
        return None
    edges, counts = regression["histogram"]["edges"], regression["histogram"]["counts"]
    tallest = max(counts) or 1
    width = HISTOGRAM_WIDTH / len(counts)
    bars = [
        {
            "x": i * width,
            "width": width,
            "height": HISTOGRAM_HEIGHT * count / tallest,
            "count": count,
            "low": edges[i],
            "high": edges[i + 1],
        }
        for i, count in enumerate(counts)
    ]
    low, high = edges[0], edges[-1]
    tolerance_x = HISTOGRAM_WIDTH * min(
        max((regression["tolerance"] - low) / ((high - low) or 1), 0), 1
    )
    return {
        "bars": bars,
        "tolerance_x": tolerance_x,
        "width": HISTOGRAM_WIDTH,
        "height": HISTOGRAM_HEIGHT,
        "low": edges[0],
        "high": edges[-1],
    }


def _example(example: dict) -> dict:
    """A failure-mode example with its picture kept only when it is an embedded PNG."""
    image = example.get("image_png")
    return {**example, "image_png": image if image and image.startswith(PNG_DATA_URI) else None}


def _figures(names: list[str], figures: dict[str, bytes]) -> list[dict]:
    """The named figures as data: URIs, in the order the report names them (None when absent)."""
    return [
        {
            "name": name,
            "uri": PNG_DATA_URI + base64.b64encode(figures[name]).decode("ascii")
            if name in figures
            else None,
        }
        for name in names
    ]
