"""The browser demo (web/demo) in headless Chromium: Debian's `chromium`, driven by Playwright.

Usage:
    with chromium() as browser:
        demo = open_demo(browser, f"{server.url}/demo/?model=toy")
        assert demo.status == "ready", demo.message
        demo.results["classIds"]

Playwright never downloads a browser here: it launches the system's Chromium.
"""

import contextlib
import dataclasses
import os
import shutil
import tempfile

CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def chromium_path() -> str:
    """The Chromium binary: $DLWP_CHROMIUM, else `chromium` on PATH."""
    path = os.environ.get("DLWP_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "no Chromium found: install Debian's package (apt-get install chromium; `make install` "
            "does it) or point DLWP_CHROMIUM at a Chromium binary"
        )
    return path


@contextlib.contextmanager
def chromium():
    """A headless Chromium with a fresh, temporary profile; yields a Playwright BrowserContext."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RuntimeError("playwright is missing: uv sync (it is in the dev group)") from error
    with (
        tempfile.TemporaryDirectory(prefix="dlwp-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=list(CHROMIUM_FLAGS),
        )
        try:
            yield context
        finally:
            context.close()


@dataclasses.dataclass
class DemoPage:
    """The demo page once it stopped loading, and what its console said."""

    page: object
    console: list[str]

    @property
    def status(self) -> str:
        """ "ready" or "error" (body[data-status])."""
        return self.page.evaluate("document.body.dataset.status")

    @property
    def message(self) -> str:
        """The status line the user reads."""
        return self.page.inner_text("#status")

    @property
    def results(self) -> dict:
        """The golden images' predictions: {"classIds": [...], "scores": [[...]], ...}."""
        return self.page.evaluate("window.dlwpResults")

    def predicted(self, selector: str) -> list[int]:
        """The class ids that the figures matched by `selector` show (data-predicted)."""
        return [
            int(v)
            for v in self.page.eval_on_selector_all(
                f"{selector} figure", "figures => figures.map(f => f.dataset.predicted)"
            )
        ]

    def draw(self, points: list[tuple[float, float]]) -> None:
        """One mouse stroke on the drawing canvas; points are fractions of its width/height."""
        box = self.page.locator("#draw").bounding_box()
        at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
        self.page.mouse.move(*at[0])
        self.page.mouse.down()
        for point in at[1:]:
            self.page.mouse.move(*point, steps=4)
        self.page.mouse.up()

    def last_prediction(self, result_selector: str, timeout_s: float = 30.0) -> dict:
        """Waits for a figure in `result_selector`; returns window.dlwpLast (source, pixels,
        classId, scores)."""
        self.page.wait_for_selector(
            f"{result_selector} figure[data-predicted]", timeout=timeout_s * 1000
        )
        return self.page.evaluate("window.dlwpLast")


def open_demo(browser, url: str, timeout_s: float = 60.0) -> DemoPage:
    """Opens `url` in a new tab and waits until the page is no longer loading."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(url)
    try:
        page.wait_for_function(
            "document.body.dataset.status !== 'loading'", timeout=timeout_s * 1000
        )
    except PlaywrightTimeout as error:
        raise AssertionError(
            f"{url} still loading after {timeout_s} s; console: {console}"
        ) from error
    return DemoPage(page, console)


def assert_matches_golden(demo: DemoPage, golden: dict) -> None:
    """The page is ready and its predictions for the golden images are the SavedModel's."""
    import numpy as np

    assert demo.status == "ready", f"{demo.message}; console: {demo.console}"
    assert demo.results["classIds"] == golden["outputs"]["class_ids"]
    np.testing.assert_allclose(demo.results["scores"], golden["outputs"]["scores"], atol=1e-4)
    assert demo.predicted("#golden") == golden["outputs"]["class_ids"]
