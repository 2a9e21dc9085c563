"""The browser demo's static routes: the page, TF.js, and the exported TF.js models.

    GET /demo/               web/demo/index.html (and its app.js)
    GET /demo/tf.min.js      TF.js from web/node_modules (404 until `make install`)
    GET /exports/...         the home's exports folder, read-only (only when one is configured)

These are plain files: they never touch the serving metrics, so they add no series. Each route
carries its OpenAPI description (serving/openapi.py).
"""

import os

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles

from serving.openapi import DocumentedMount, DocumentedRoute, Operation, error, text_answer

TFJS_FILE = os.path.join("node_modules", "@tensorflow", "tfjs", "dist", "tf.min.js")


def default_web_dir() -> str:
    """The repository's `web/` folder (`serving/` sits beside it)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")


class _ExportFiles(StaticFiles):
    """StaticFiles over a folder that may not exist yet: the first export creates it, and until
    then every file is a 404 instead of StaticFiles' configuration error (a 500)."""

    async def check_config(self) -> None:
        return None


def _missing(message: str):
    async def answer(_request: Request) -> Response:
        return PlainTextResponse(message, 404)

    return answer


def demo_routes(web_dir: str = "", exports_dir: str = "") -> list[BaseRoute]:
    """The routes of the demo page; `web_dir` defaults to `default_web_dir()`.

    Without `exports_dir` the page still loads and says that no export is served.
    """
    web_dir = web_dir or default_web_dir()
    page_dir = os.path.join(web_dir, "demo")
    tfjs = os.path.join(web_dir, TFJS_FILE)

    async def tfjs_file(_request: Request) -> Response:
        if not os.path.isfile(tfjs):
            return PlainTextResponse(f"TF.js is not installed ({tfjs}): run make install", 404)
        return FileResponse(tfjs, media_type="text/javascript")

    missing = {"404": {"description": "not installed (the text says what to run)"}}
    routes: list[BaseRoute] = [
        DocumentedRoute(
            "/demo/tf.min.js",
            tfjs_file,
            Operation("TF.js for the demo page", text_answer("text/javascript", "TF.js", missing)),
            methods=["GET", "HEAD"],
        )
    ]
    page = Operation(
        "The browser demo page and its files (web/demo)",
        text_answer(
            "text/html",
            "the page, or one of its files",
            {"404": {"description": "no such file, or the page is not installed"}},
        ),
    )
    if os.path.isdir(page_dir):
        routes.append(DocumentedMount("/demo", StaticFiles(directory=page_dir, html=True), page))
    else:
        routes.append(
            DocumentedRoute(
                "/demo/{path:path}",
                _missing(
                    f"the demo page is not installed ({page_dir}); "
                    "set DLWP_WEB_DIR to the web folder"
                ),
                page,
                methods=["GET"],
            )
        )
    if exports_dir:
        routes.append(
            DocumentedMount(
                "/exports",
                _ExportFiles(directory=exports_dir, check_dir=False),
                Operation(
                    "The exported TF.js models: read-only files of the exports folder",
                    text_answer(
                        "application/octet-stream",
                        "the file (JSON, weights)",
                        {"404": error("no such file")},
                    ),
                ),
            )
        )
    return routes
