"""The report of each pushed version, served read-only from the reports folder (`<home>/reports`,
written by the pipeline's ModelReportGen; docs/reports.md):

    GET /reports/M/V/                     V's report.html
    GET /reports/M/V/report.html          the page; report.json, model_card.json likewise
    GET /reports/M/V                      307 to /reports/M/V/
    GET /reports/M/latest/                307 to the highest version of M that has a report

Nothing else of the folder is served: no listing, no other file (the curves and records beside
the report stay private), no path out of it. A model is a plain name and a version ASCII
digits, so a request never names `..` or a hidden folder, and a file whose real path (symlinks
resolved) leaves the folder is a 404. The page gets a Content-Security-Policy that lets it run
its inline script and style and show data: images but load nothing and reach no route: the
report shows training data (words, table cells) on the API's own origin. These routes touch no
serving metric; each carries its OpenAPI description (serving/openapi.py).

    routes = report_routes("/home/me/dlwp-home/reports")
"""

import os
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from contract import versions
from contract.report_files import MODEL_CARD_JSON, REPORT_FILES, REPORT_HTML, REPORT_JSON
from serving import json_codec
from serving.errors import InvalidArgument, NotFound, echo
from serving.model_specs import check_path, parse_version
from serving.openapi import DocumentedRoute, Operation, error, text_answer

MEDIA_TYPES = {
    REPORT_HTML: "text/html; charset=utf-8",
    REPORT_JSON: "application/json",
    MODEL_CARD_JSON: "application/json",
}
# A report is published as a new folder, and `latest` moves: browsers revalidate every time.
_NO_CACHE = {"Cache-Control": "no-cache"}
# The page may run its own inline script and style and show data: images, nothing more
# (docs/reports.md: the page is one self-contained file).
PAGE_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    **_NO_CACHE,
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
}
# The pipeline names models after datasets and CSV files in these characters
# (components/csv_dataset.py); a leading dot would name `.`, `..` or a staging folder.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def _not_found(message: str) -> Response:
    return Response(json_codec.dumps({"error": message}), 404, media_type="application/json")


def _checked_model(model: str) -> str:
    """`model`, if it is a plain name.

    Raises:
      NotFound: it is not (`..`, a hidden name, a separator, a control character).
    """
    if not _PLAIN_NAME.fullmatch(model):
        raise NotFound(
            f"no report of model {echo(repr(model))}: a model name is letters, digits, '_', "
            "'-' and '.' (not first)"
        )
    return model


def _checked_version(model: str, text: str) -> str:
    """The version folder's name for the path segment `text` (`01` is version 1's folder).

    Raises:
      NotFound: `text` is not ASCII digits within int64 (serving/model_specs.py).
    """
    try:
        return str(parse_version(text))
    except InvalidArgument:
        raise NotFound(
            f"no report of version {echo(repr(text))} of model {model}: a version is a number "
            "(ASCII digits), or latest"
        ) from None


def _inside(root: str, path: str) -> bool:
    """Whether `path`, symlinks resolved, is `root` (resolved too) or below it."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def _read_report_file(reports_dir: str, model: str, version: str, name: str) -> bytes | None:
    """The bytes of `<reports_dir>/<model>/<version>/<name>`, or None when it is absent, not a
    file, or really (symlinks resolved) outside `reports_dir`. Blocking: run it in a thread."""
    path = os.path.join(reports_dir, model, version, name)
    if not _inside(reports_dir, path):
        return None
    try:
        with open(os.path.realpath(path), "rb") as file:
            return file.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None


def _latest_version(reports_dir: str, model: str) -> int | None:
    """The highest version of `model` with a report page in `reports_dir`, or None. Blocking."""
    folder = os.path.join(reports_dir, model)
    try:
        entries = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    numbered = sorted(
        (number, entry)
        for entry in entries
        if (number := versions.parse_version(entry)) is not None
    )
    for number, entry in reversed(numbered):
        page = os.path.join(folder, entry, REPORT_HTML)
        if _inside(reports_dir, page) and os.path.isfile(page):
            return number
    return None


def _target(request: Request, latest_allowed: bool = False) -> tuple[str, str]:
    """The checked model and version folder name of a report request's path.

    Raises:
      NotFound: the path holds a control character, the model is not a plain name or the
        version not a number (`latest` too, where `latest_allowed`).
    """
    check_path(request.method, request.scope["path"])
    model = _checked_model(request.path_params["model"])
    segment = request.path_params.get("version", "latest")
    if latest_allowed and segment == "latest":
        return model, segment
    return model, _checked_version(model, segment)


def _json_file(name: str, missing: dict) -> dict:
    return {
        "200": {
            "description": name,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **missing,
    }


def report_routes(reports_dir: str) -> list[BaseRoute]:
    """The routes of the reports in `reports_dir`, which need not exist yet (until the first
    report each answers 404)."""

    async def report_file(request: Request, name: str) -> Response:
        try:
            model, version = _target(request)
        except NotFound as refused:
            return _not_found(refused.message)
        content = await run_in_threadpool(_read_report_file, reports_dir, model, version, name)
        if content is None:
            return _not_found(
                f"model {model} version {version} has no {name}: dlwp run writes a report "
                "for every version it pushes"
            )
        headers = _PAGE_HEADERS if name == REPORT_HTML else _NO_CACHE
        return Response(content, media_type=MEDIA_TYPES[name], headers=headers)

    def file_answer(name: str):
        async def answer(request: Request) -> Response:
            return await report_file(request, name)

        return answer

    async def with_slash(request: Request) -> Response:
        try:
            model, version = _target(request, latest_allowed=True)
        except NotFound as refused:
            return _not_found(refused.message)
        return RedirectResponse(f"/reports/{model}/{version}/", 307, headers=_NO_CACHE)

    async def latest(request: Request) -> Response:
        try:
            model, _ = _target(request, latest_allowed=True)
        except NotFound as refused:
            return _not_found(refused.message)
        version = await run_in_threadpool(_latest_version, reports_dir, model)
        if version is None:
            return _not_found(
                f"model {model} has no report yet: dlwp run {model} writes one for every "
                "version it pushes"
            )
        return RedirectResponse(f"/reports/{model}/{version}/", 307, headers=_NO_CACHE)

    missing = {"404": error("no such model, version or report file (the error says which)")}
    page_answer = text_answer("text/html", "the page", missing)
    routes: list[BaseRoute] = [
        # Before the version routes, which would take `latest` for a version.
        DocumentedRoute(
            "/reports/{model:segment}/latest/",
            latest,
            Operation(
                "Redirects to the report of the model's highest version that has one",
                {
                    "307": {"description": "Location: /reports/M/V/, V the highest version"},
                    "404": error("the model has no report (yet)"),
                },
            ),
            methods=["GET"],
        ),
        DocumentedRoute(
            "/reports/{model:segment}/{version:segment}/",
            file_answer(REPORT_HTML),
            Operation(
                "A version's report page (report.html: one self-contained file)", page_answer
            ),
            methods=["GET"],
        ),
    ]
    for name in REPORT_FILES:
        responses = page_answer if name == REPORT_HTML else _json_file(name, missing)
        routes.append(
            DocumentedRoute(
                f"/reports/{{model:segment}}/{{version:segment}}/{name}",
                file_answer(name),
                Operation(f"A version's {name}", responses),
                methods=["GET"],
            )
        )
    routes.append(
        DocumentedRoute(
            "/reports/{model:segment}/{version:segment}",
            with_slash,
            Operation(
                "Redirects to the report's folder (/reports/M/V/)",
                {"307": {"description": "Location: /reports/M/V/"}, **missing},
            ),
            methods=["GET"],
        )
    )
    return routes
