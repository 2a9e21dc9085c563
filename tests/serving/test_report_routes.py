"""`dlwp serve` serves each version's report folder read-only at /reports/<model>/<version>/
(serving/reports.py), and the demo page links to the report of the version it shows.

The reports folder here is written by hand: versions 1 and 3 of `tiny` have a report, 7 has
only its report.json, 4's report.html is a symlink to a secret outside the folder, 5 is a
symlinked version folder outside it, and a hidden staging folder holds a newer page. A secret
report-shaped folder sits beside the reports folder, where `..` would lead.
"""

import base64
import http.client
import io
import json
import os
import shutil
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from browser import chromium, open_demo
from hypothesis import HealthCheck, settings
from servers import running_server, settings_for
from starlette.routing import Match
from tfjs_exports import write_saved_model, write_tiny_export

SECRET = b"TOP-SECRET: never served"
MODEL = "tiny"


def _png_data_uri() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (28, 28), 200).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _page(version: int) -> bytes:
    """A self-contained page like the real report: inline style, inline script, a data: image.
    Its script records what it may do under the page's policy: run, and not reach the API."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Report</title>"
        "<style>body { color: rgb(1, 2, 3); }</style></head>"
        f"<body><h1 id='title'>tiny version {version} — précis ✓</h1>"
        f"<img id='figure' src='{_png_data_uri()}' alt='curve'>"
        "<script>document.body.dataset.ran = 'yes';"
        "fetch('/healthz').then(() => { document.body.dataset.api = 'reached'; },"
        " () => { document.body.dataset.api = 'blocked'; });</script>"
        "</body></html>"
    ).encode()


def _report_json(version: int) -> dict:
    return {"schema_version": 1, "model": MODEL, "version": version, "success": {"test": 0.8}}


def _card(version: int) -> dict:
    return {"model_details": {"name": MODEL, "version": {"name": str(version)}}}


def _write_version(folder: str, version: int, html: bool = True) -> None:
    os.makedirs(folder, exist_ok=True)
    if html:
        with open(os.path.join(folder, "report.html"), "wb") as f:
            f.write(_page(version))
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(_report_json(version), f)
    with open(os.path.join(folder, "model_card.json"), "w") as f:
        json.dump(_card(version), f)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    """A home whose reports folder is described in the module docstring."""
    home = str(tmp_path_factory.mktemp("home"))
    reports = os.path.join(home, "reports", MODEL)
    for version in (1, 3):
        _write_version(os.path.join(reports, str(version)), version)
    with open(os.path.join(reports, "3", "loss.png"), "wb") as f:
        f.write(b"\x89PNG curves: not a report file")
    _write_version(os.path.join(reports, "7"), 7, html=False)
    _write_version(os.path.join(reports, ".partial-9-123"), 9)
    with open(os.path.join(reports, "summary.json"), "w") as f:
        f.write("{}")
    # Outside the reports folder: what `..` would reach, and what the symlinks point at.
    for outside in (os.path.join(home, "1"), os.path.join(home, "elsewhere", "1")):
        os.makedirs(outside)
        with open(os.path.join(outside, "report.html"), "wb") as f:
            f.write(SECRET)
    with open(os.path.join(home, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.makedirs(os.path.join(reports, "4"))
    os.symlink(os.path.join(home, "secret.txt"), os.path.join(reports, "4", "report.html"))
    os.symlink(os.path.join(home, "1"), os.path.join(reports, "5"))
    os.symlink(os.path.join(home, "elsewhere"), os.path.join(home, "reports", "linked"))
    return home


@pytest.fixture(scope="module")
def server(home, tmp_path_factory):
    settings = settings_for(
        workers=1,
        models_dir=str(tmp_path_factory.mktemp("no-models")),
        reports_dir=os.path.join(home, "reports"),
    )
    with running_server(settings) as running:
        yield running


@pytest.fixture
def client(server):
    with server.client() as client:
        yield client


def _raw(server, path: str, method: str = "GET") -> tuple[int, bytes]:
    """A request with the path sent as written (HTTP clients resolve `..` themselves)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/reports/tiny/3/", "/reports/tiny/3/report.html"])
def test_page_is_the_exact_bytes_as_utf8_html(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == _page(3)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src data:" in policy


def test_head_answers_without_a_body(client):
    response = client.head("/reports/tiny/1/")
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) == len(_page(1))


@pytest.mark.parametrize(
    "name, expected", [("report.json", _report_json), ("model_card.json", _card)]
)
def test_json_files_are_served_as_written(client, name, expected):
    for version in (1, 3):
        response = client.get(f"/reports/tiny/{version}/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == expected(version)


def test_leading_zeros_name_the_same_version(client):
    assert client.get("/reports/tiny/003/").content == _page(3)


def test_version_without_its_slash_redirects_to_the_folder(client):
    response = client.get("/reports/tiny/3")
    assert response.status_code == 307
    assert response.headers["location"] == "/reports/tiny/3/"
    assert client.get("/reports/tiny/latest").headers["location"] == "/reports/tiny/latest/"


def test_latest_redirects_to_the_highest_version_with_a_page(client, home):
    # Expected: the highest integer-named folder holding a real report.html inside the folder.
    folder = os.path.join(home, "reports", MODEL)
    highest = max(
        int(entry)
        for entry in os.listdir(folder)
        if entry.isdigit()
        and os.path.isfile(os.path.join(folder, entry, "report.html"))
        and os.path.realpath(os.path.join(folder, entry)).startswith(os.path.realpath(folder))
        and not os.path.islink(os.path.join(folder, entry, "report.html"))
    )
    assert highest == 3
    response = client.get("/reports/tiny/latest/")
    assert response.status_code == 307
    assert response.headers["location"] == f"/reports/tiny/{highest}/"
    assert response.headers["cache-control"] == "no-cache"
    assert client.get("/reports/tiny/latest/", follow_redirects=True).content == _page(3)


def test_latest_moves_when_a_newer_report_is_published(client, home):
    folder = os.path.join(home, "reports", "moving")
    _write_version(os.path.join(folder, "2"), 2)
    try:
        assert client.get("/reports/moving/latest/").headers["location"] == "/reports/moving/2/"
        _write_version(os.path.join(folder, "10"), 10)  # 10 > 2 as numbers, not as text
        assert client.get("/reports/moving/latest/").headers["location"] == "/reports/moving/10/"
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "path, words",
    [
        ("/reports/tiny/2/", ["version 2", "report.html"]),
        ("/reports/tiny/7/", ["version 7", "report.html"]),
        ("/reports/tiny/2/report.json", ["version 2", "report.json"]),
        ("/reports/nobody/latest/", ["nobody", "no report yet"]),
        ("/reports/tiny/two/", ["'two'", "a number"]),
        ("/reports/tiny/99999999999999999999/", ["a number"]),
        ("/reports/.tiny/3/", ["'.tiny'", "model name"]),
    ],
)
def test_a_missing_report_is_a_404_that_says_what_is_missing(client, path, words):
    response = client.get(path)
    assert response.status_code == 404
    message = response.json()["error"]
    assert all(word in message for word in words), message


def test_a_version_without_a_page_still_serves_its_json(client):
    assert client.get("/reports/tiny/7/report.json").json() == _report_json(7)


@pytest.mark.parametrize(
    "path",
    [
        "/reports",
        "/reports/",
        "/reports/tiny/",
        "/reports/tiny/3/loss.png",  # in the folder, but not a report file
        "/reports/tiny/summary.json",
        "/reports/tiny/.partial-9-123/",
        "/reports/tiny/.partial-9-123/report.html",
    ],
)
def test_nothing_but_the_report_files_is_served(server, path):
    status, body = _raw(server, path)
    assert status == 404, body
    assert set(json.loads(body)) == {"error"}


def _traversals(home: str) -> list[str]:
    absolute = quote(os.path.join(home, "1"), safe="")
    return [
        "/reports/../1/report.html",
        "/reports/%2e%2e/1/report.html",
        "/reports/%2E%2E/1/",
        "/reports/..%2f1/",
        "/reports/.%2e/1/report.html",
        "/reports/tiny/..%2f..%2f1/report.html",
        "/reports/tiny/3/..%2f..%2f..%2fsecret.txt",
        "/reports/tiny/3/../../../secret.txt",
        "/reports/tiny/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        "/reports/%2e%2e%5c1/report.html",
        "/reports/..%5c..%5csecret.txt/1/",
        f"/reports/{absolute}/report.html",
        f"/reports/{absolute}/",
        "/reports/tiny%00/3/",
        "/reports/%00/1/report.html",
        "/reports/tiny/3%00/",
        "/reports/tiny/3/report.html%00",
        "/reports/tiny/3/%0a",
        "/reports/tiny/3/\\..\\..\\..\\secret.txt",
        "/reports/./1/report.html",
        "/reports/tiny/./3/",
    ]


def test_no_path_leaves_the_reports_folder(server, home):
    for path in _traversals(home):
        status, body = _raw(server, path)
        assert status == 404, (path, status, body)
        assert SECRET not in body, path
        assert set(json.loads(body)) == {"error"}, path


@pytest.mark.parametrize(
    "path",
    ["/reports/tiny/4/", "/reports/tiny/5/", "/reports/tiny/5/report.html", "/reports/linked/1/"],
)
def test_a_symlink_out_of_the_folder_is_not_followed(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert SECRET not in response.content


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_reports_are_read_only(client, method):
    for path in ("/reports/tiny/3/", "/reports/tiny/3/report.json", "/reports/tiny/latest/"):
        response = client.request(method, path, content=b"<html>replaced</html>")
        assert response.status_code == 405, (method, path)
        assert set(response.json()) == {"error"}
    assert client.get("/reports/tiny/3/").content == _page(3)


def test_reports_add_no_metric_series(client):
    before = client.get("/monitoring/prometheus/metrics").text
    for path in ("/reports/tiny/3/", "/reports/tiny/latest/", "/reports/tiny/2/", "/reports/x/"):
        client.get(path)
    client.post("/reports/tiny/3/")
    assert client.get("/monitoring/prometheus/metrics").text == before


REPORT_PATHS = {
    "/reports/{model}/latest/",
    "/reports/{model}/{version}/",
    "/reports/{model}/{version}/report.html",
    "/reports/{model}/{version}/report.json",
    "/reports/{model}/{version}/model_card.json",
    "/reports/{model}/{version}",
}


def test_openapi_documents_every_report_route_and_each_reaches_its_own(client, server):
    document = client.get("/v1/openapi.json").json()
    documented = {path for path in document["paths"] if path.startswith("/reports/")}
    assert documented == REPORT_PATHS
    assert all(set(document["paths"][path]) == {"get"} for path in documented)
    page = document["paths"]["/reports/{model}/{version}/"]["get"]
    assert [p["name"] for p in page["parameters"]] == ["model", "version"]
    assert set(page["responses"]["200"]["content"]) == {"text/html"}
    card = document["paths"]["/reports/{model}/{version}/model_card.json"]["get"]
    assert set(card["responses"]["200"]["content"]) == {"application/json"}
    assert set(document["paths"]["/reports/{model}/latest/"]["get"]["responses"]) == {"307", "404"}
    routes = server.stack.http.config.app.routes
    for path in sorted(documented):
        scope = {
            "type": "http",
            "method": "GET",
            "path": path.format(model="m", version="1"),
            "root_path": "",
        }
        first = next(route for route in routes if route.matches(scope)[0] is Match.FULL)
        assert first.path_format == path


def test_no_reports_dir_serves_no_report_route(toy_server):
    with toy_server.client() as client:
        assert not [p for p in client.get("/v1/openapi.json").json()["paths"] if "reports" in p]
        response = client.get("/reports/tiny/3/")
    assert response.status_code == 404 and set(response.json()) == {"error"}


@pytest.fixture(scope="module")
def report_schema(server):
    """The server's document, its report operations only, for schemathesis."""
    config = {
        "generation": {"mode": "all", "max-examples": 25, "no-shrink": True},
        "phases": {"stateful": {"enabled": False}},
        "dictionaries": {"models": {"values": [MODEL]}, "versions": {"values": [1, 3, 7]}},
        "parameters": {
            "path.model": {"dictionary": "models", "probability": 0.7},
            "path.version": {"dictionary": "versions", "probability": 0.7},
        },
    }
    return schemathesis.openapi.from_url(
        f"{server.url}/v1/openapi.json", config=schemathesis.Config.from_dict(config), timeout=10
    ).include(path_regex="^/reports/")


report_operations = schemathesis.pytest.from_fixture("report_schema")


@report_operations.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_report_operation_answers_as_documented(case, home):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    with requests.Session() as session:
        response = case.call_and_validate(
            session=session, checks=checks, timeout=10, allow_redirects=False
        )
    assert SECRET not in response.content


def test_reports_need_the_bearer_token_when_the_server_has_one(home, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t0ken\n")
    settings = settings_for(
        workers=1,
        models_dir=str(tmp_path),
        reports_dir=os.path.join(home, "reports"),
        auth_token_file=str(token_file),
    )
    with running_server(settings) as guarded:
        for path in ("/reports/tiny/3/", "/reports/tiny/latest/", "/reports/tiny/3/report.json"):
            refused = httpx.get(guarded.url + path, timeout=10)
            assert refused.status_code == 401 and SECRET not in refused.content
        allowed = httpx.get(
            guarded.url + "/reports/tiny/3/", headers={"authorization": "Bearer t0ken"}, timeout=10
        )
    assert allowed.status_code == 200 and allowed.content == _page(3)


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--home", "{home}"], "{home}/reports"),
        (["--home", "{home}", "--model-base", "{home}/models"], ""),
        (["--home", "{home}", "--model-config-file", "{home}/models.config"], ""),
        (["--model-base", "{home}/models", "--reports-dir", "{home}/r"], "{home}/r"),
    ],
)
def test_serve_reports_dir_defaults_to_the_homes_reports(tmp_path, flags, expected):
    from pipelines.cli import build_parser, serve_settings

    args = build_parser().parse_args(["serve", *(flag.format(home=tmp_path) for flag in flags)])
    assert serve_settings(args).reports_dir == expected.format(home=tmp_path)


# The demo page's link, in headless Chromium: `tiny` has an export and a report of its version,
# `unreported` an export only, `text_only` reports (versions 2 and 5) but no export.
@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    saved_model = write_saved_model(str(tmp_path_factory.mktemp("tiny-saved-model") / "model"))
    exports, reports = str(home / "exports"), str(home / "reports")
    write_tiny_export(exports, MODEL, saved_model)
    shutil.copytree(os.path.join(exports, MODEL), os.path.join(exports, "unreported"))
    _write_version(os.path.join(reports, MODEL, "1"), 1)
    for version in (2, 5):
        _write_version(os.path.join(reports, "text_only", str(version)), version)
    settings = settings_for(
        workers=1,
        models_dir=str(tmp_path_factory.mktemp("no-models")),
        exports_dir=exports,
        reports_dir=reports,
    )
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


def _report_link(demo) -> dict:
    demo.page.wait_for_function("document.body.dataset.report !== undefined", timeout=30_000)
    return demo.page.evaluate(
        "() => { const a = document.getElementById('report-link'); return {state: "
        "document.body.dataset.report, visible: a.offsetParent !== null, "
        "href: a.getAttribute('href'), text: a.textContent}; }"
    )


def test_demo_links_the_report_of_the_version_it_shows(demo_server, browser):
    demo = open_demo(browser, f"{demo_server.url}/demo/?model={MODEL}")
    assert demo.status == "ready", demo.message
    assert "version 1" in demo.message
    link = _report_link(demo)
    assert link == {
        "state": "shown",
        "visible": True,
        "href": "/reports/tiny/1/",
        "text": "Report of version 1",
    }
    demo.page.click("#report-link")
    demo.page.wait_for_function("document.body.dataset.api !== undefined", timeout=30_000)
    assert demo.page.inner_text("#title") == "tiny version 1 — précis ✓"
    # The page's own script, style and data: image work under its policy; the API is unreachable.
    assert demo.page.evaluate("document.body.dataset.ran") == "yes"
    assert demo.page.evaluate("getComputedStyle(document.body).color") == "rgb(1, 2, 3)"
    assert demo.page.evaluate("document.getElementById('figure').naturalWidth") == 28
    assert demo.page.evaluate("document.body.dataset.api") == "blocked"


def test_demo_hides_the_link_when_the_version_has_no_report(demo_server, browser):
    demo = open_demo(browser, f"{demo_server.url}/demo/?model=unreported")
    assert demo.status == "ready", demo.message
    link = _report_link(demo)
    assert link["state"] == "none" and not link["visible"]


def test_demo_without_an_export_links_the_latest_report(demo_server, browser):
    demo = open_demo(browser, f"{demo_server.url}/demo/?model=text_only", timeout_s=30)
    assert demo.status == "error"
    link = _report_link(demo)
    assert link["state"] == "shown" and link["visible"]
    assert link["href"] == "/reports/text_only/5/" and link["text"] == "Report of version 5"


def test_demo_without_any_report_shows_no_link(demo_server, browser):
    demo = open_demo(browser, f"{demo_server.url}/demo/?model=never_trained", timeout_s=30)
    assert demo.status == "error"
    assert _report_link(demo)["state"] == "none"
