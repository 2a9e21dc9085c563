"""The report page in headless Chromium (tests/browser.py): it renders without console errors
and without a single request, its tables read back what the samples' own arrays say (recounted
here with numpy), and the tolerance picker recounts the share of rows within ±T.

The docs' screenshot, from a real report folder:

    PYTHONPATH=tests .venv/bin/python tests/components/reporting/test_report_page.py \\
        ~/dlwp/reports/fashion_mnist/3/report.html docs/report.png
"""

import io
import pathlib
import sys

import numpy as np
import pytest
from browser import chromium
from PIL import Image
from sample_reports import SAMPLES, binary_arrays, figures

from components.reporting.html import render_html

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def save_screenshot(html_path: str, png_path: str, width: int = 1000) -> None:
    """Writes a full-page PNG of the page at `html_path` (e.g. a version's report.html)."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(pathlib.Path(html_path).resolve().as_uri())
        page.screenshot(path=png_path, full_page=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


class OpenedPage:
    """A sample's page in a tab, with what its console said and what it requested."""

    def __init__(self, browser, name: str):
        self.name = name
        self.report = SAMPLES[name]()
        self.page = browser.new_page()
        self.page.set_viewport_size({"width": 1000, "height": 800})
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.set_content(render_html(self.report, figures()), wait_until="load")

    def cells(self, selector: str, attributes: list[str]) -> list[list[str]]:
        """The `data-` attributes of the elements matched by `selector`, read from the DOM."""
        return self.page.eval_on_selector_all(
            selector, "(nodes, names) => nodes.map(n => names.map(a => n.dataset[a]))", attributes
        )


@pytest.fixture
def opened(browser, request):
    page = OpenedPage(browser, request.param)
    yield page
    page.page.close()


@pytest.mark.parametrize("opened", sorted(SAMPLES), indirect=True)
def test_page_renders_without_errors_or_requests(opened):
    assert opened.page.title().startswith(opened.report["model"])
    assert opened.page.locator("#plain").is_visible()
    assert not [line for line in opened.console if line.startswith(("error", "pageerror"))]
    assert [url for url in opened.requests if not url.startswith("data:")] == []
    broken = opened.page.eval_on_selector_all(
        "img", "images => images.filter(i => !i.complete || i.naturalWidth === 0).length"
    )
    assert broken == 0


@pytest.mark.parametrize("opened", ["multiclass_image", "binary_table"], indirect=True)
def test_confusion_matrix_in_the_dom_is_the_reports(opened):
    cells = opened.cells("#confusion td", ["true", "predicted", "count"])
    expected = np.array(opened.report["classes"]["confusion"])
    read = np.zeros_like(expected)
    for true, predicted, count in cells:
        read[int(true), int(predicted)] = int(count)
    assert len(cells) == expected.size
    assert read.sum() == opened.report["success"]["examples"]
    np.testing.assert_array_equal(read, expected)
    shown = opened.page.eval_on_selector_all(
        "#confusion td", "cells => cells.map(c => c.innerText)"
    )
    assert [int(text) for text in shown] == expected.ravel().tolist()


@pytest.mark.parametrize("opened", ["binary_table", "word_sequence"], indirect=True)
def test_threshold_table_rates_are_recounted_from_labels_and_scores(opened):
    labels, scores = binary_arrays(opened.name)
    rows = opened.cells("#thresholds tbody tr", ["threshold", "fpr", "fnr"])
    live = opened.report["threshold"]["live"]
    thresholds = [float(row[0]) for row in rows]
    assert thresholds == sorted(thresholds) and live in thresholds
    assert {round(t, 2) for t in thresholds} >= {round(0.05 * i, 2) for i in range(1, 20)}
    for threshold, fpr, fnr in rows:
        flagged = scores > float(threshold)
        assert float(fpr) == pytest.approx(np.sum(flagged & (labels == 0)) / np.sum(labels == 0))
        assert float(fnr) == pytest.approx(np.sum(~flagged & (labels == 1)) / np.sum(labels == 1))
    highlighted = opened.cells("#thresholds tr.live", ["threshold"])
    assert highlighted == [[str(live)]]


@pytest.mark.parametrize("opened", ["regression"], indirect=True)
def test_tolerance_input_recounts_the_share_within(opened):
    errors = np.array(opened.report["regression"]["sorted_sample"])
    within = opened.page.locator("#within")
    assert (
        float(within.get_attribute("data-share")) == opened.report["regression"]["within_tolerance"]
    )
    for tolerance in ("3.3", "0", str(errors[40]), "100"):
        opened.page.fill("#tolerance", tolerance)
        expected = np.count_nonzero(errors <= float(tolerance)) / errors.size
        assert float(within.get_attribute("data-share")) == pytest.approx(expected, abs=1e-12)
        assert within.inner_text() == f"{100 * expected:.0f} %"
        assert opened.page.inner_text("#tolerance-shown") == tolerance
        edges = opened.report["regression"]["histogram"]["edges"]
        along = min(max((float(tolerance) - edges[0]) / (edges[-1] - edges[0]), 0), 1)
        line_x = float(opened.page.get_attribute("#tolerance-line", "x1"))
        assert line_x == pytest.approx(600 * along, abs=0.01)
    assert not opened.console


@pytest.mark.parametrize("opened", ["regression"], indirect=True)
def test_print_hides_the_interactive_bits(opened):
    opened.page.emulate_media(media="print")
    assert opened.page.locator("#tolerance").is_hidden()
    assert opened.page.locator("#within").is_visible()
    breaks = opened.page.eval_on_selector_all(
        "section", "sections => sections.map(s => getComputedStyle(s).breakBefore)"
    )
    assert breaks[0] == "auto" and set(breaks[1:]) == {"page"}


@pytest.mark.parametrize("opened", ["multiclass_image"], indirect=True)
def test_screenshot_of_the_image_report_is_a_png(opened, tmp_path):
    path = tmp_path / "report.png"
    opened.page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    assert image.width == 1000 and image.height > 800  # the whole page, taller than the window
    assert len(set(image.convert("L").getdata())) > 16  # not a blank page


if __name__ == "__main__":
    save_screenshot(sys.argv[1], sys.argv[2])
