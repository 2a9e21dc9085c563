"""The report page as HTML text (components/reporting/html.py): every kind of report renders,
loads nothing from outside, escapes what the data says and shows the report's numbers."""

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from sample_reports import SAMPLES, figures, multiclass_image, word_sequence

from components.reporting.html import render_html


class Elements(HTMLParser):
    """Every start tag of a page, as (tag, {attribute: value})."""

    def __init__(self, page: str):
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def having(self, tag: str, **attributes) -> list[dict]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and all(attrs.get(k) == v for k, v in attributes.items())
        ]


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def rendered(request) -> tuple[dict, str]:
    report = SAMPLES[request.param]()
    return report, render_html(report, figures())


def test_every_kind_renders_one_document(rendered):
    report, page = rendered
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
    assert f"{report['model']}, version {report['version']}" in page
    assert "report.json" in page and "model_card.json" in page


def test_page_loads_nothing_from_outside(rendered):
    _, page = rendered
    elements = Elements(page)
    assert not elements.having("link"), "no stylesheet or icon link: the CSS is inline"
    for tag in ("script", "img", "iframe", "source", "video", "audio", "embed", "object"):
        for attrs in elements.having(tag):
            source = attrs.get("src") or attrs.get("data")
            assert source is None or source.startswith("data:image/png;base64,"), (tag, source)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page)


def test_data_is_escaped_not_interpreted():
    page = render_html(word_sequence(), {})
    assert "<b>never</b>" not in page
    assert "&lt;b&gt;never&lt;/b&gt;" in page


def test_pictures_other_than_embedded_pngs_are_dropped():
    report = multiclass_image()
    report["failure_modes"]["examples"][0]["image_png"] = "https://example.com/x.png"
    report["failure_modes"]["examples"][1]["image_png"] = "javascript:alert(1)"
    page = render_html(report, {})
    assert "example.com" not in page and "javascript:" not in page
    assert len(Elements(page).having("img")) == len(report["failure_modes"]["examples"]) - 2


def test_figures_are_embedded_and_missing_ones_named():
    curves = figures()
    page = render_html(multiclass_image(), {"loss.png": curves["loss.png"]})
    sources = [attrs["src"] for attrs in Elements(page).having("img", alt="loss.png")]
    assert sources == ["data:image/png;base64," + base64.b64encode(curves["loss.png"]).decode()]
    assert "accuracy.png: not available" in page


def test_confusion_cells_carry_the_matrix():
    report = multiclass_image()
    page = render_html(report, {})
    cells = Elements(page).having("td")
    counted = np.zeros((10, 10), int)
    for attrs in cells:
        if "data-count" in attrs:
            counted[int(attrs["data-true"]), int(attrs["data-predicted"])] = int(
                attrs["data-count"]
            )
    np.testing.assert_array_equal(counted, report["classes"]["confusion"])


def test_plain_words_say_the_score_in_test_images():
    report = multiclass_image()
    confusion = np.array(report["classes"]["confusion"])
    right = round(100 * np.trace(confusion) / confusion.sum())
    page = render_html(report, {})
    assert f"Right on {right} of 100 test images" in page
    assert "The last blessed version (2) was right on 88" in page
    assert "Always guessing the most common class is right on 10" in page


def test_sections_follow_the_task(rendered):
    report, page = rendered
    ids = {attrs["id"] for attrs in Elements(page).having("section")}
    assert {"plain", "failures", "training", "data"} <= ids
    assert ("errors" in ids) == (report["classes"] is not None)
    assert ("threshold" in ids) == (report["threshold"] is not None)
    assert ("regression" in ids) == (report["regression"] is not None)
    assert ("exports" in ids) == (report["exports"] is not None)


def test_every_failure_example_is_shown(rendered):
    report, page = rendered
    ranks = [
        attrs["data-rank"] for attrs in Elements(page).having("figure") if "data-rank" in attrs
    ]
    assert ranks == [str(e["rank"]) for e in report["failure_modes"]["examples"]]
    for example in report["failure_modes"]["examples"]:
        for column in example["row"] or {}:
            assert f">{column}</th>" in page
