"""Schemathesis over the REST API's own OpenAPI document (/v1/openapi.json) on a real server.

Every documented operation is called with generated requests, valid and invalid ones, and
every answer is checked: no 5xx, a status code the document lists, the content type and the
JSON schema it declares (errors are TF Serving's `{"error": msg}`). The path parameters are
often the served model, its versions and labels (schemathesis dictionaries), so that bodies
reach the model, and otherwise random. A second test puts odd segments in the path of every
model route (unicode digits, numbers beyond int64, negative numbers, long names), which the
document's `integer` version would not generate, and a third asks for paths no route serves.
Each must be a client error whose message is at most 1 KB (echoed input is cut to 256 bytes,
docs/serving.md "Errors").

The bodies are fuzzed against the toy model's signatures in test_rest_body_fuzz.py.
"""

from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from saved_models import publish
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servers import running_server, settings_for

# Each answer must come within this: a hang fails the test instead of stalling it.
CLIENT_TIMEOUT_S = 10.0
# Generated cases per operation (23 operations): about a minute on two busy cores.
EXAMPLES_PER_OPERATION = 50
# `slow` is left out: it runs as many matrix products as the request asks for, by design.
SIGNATURES = ["serving_default", "from_examples", "regress_examples", "two_inputs"]


def _config() -> dict:
    served = {"probability": 0.7}
    return {
        # No shrinking: a failure's message names its request already, and shrinking many
        # failures (and Hypothesis's shrinker on schemathesis's strings) can take minutes.
        "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "no-shrink": True},
        # The stateful phase follows links between operations; the document has none.
        "phases": {"stateful": {"enabled": False}},
        "request-timeout": CLIENT_TIMEOUT_S,
        "dictionaries": {
            "models": {"values": ["toy"]},
            "versions": {"values": [1, 2]},
            "labels": {"values": ["stable", "canary"]},
            "signatures": {"values": SIGNATURES},
        },
        "parameters": {
            "path.model": {"dictionary": "models", **served},
            "path.version": {"dictionary": "versions", **served},
            "path.label": {"dictionary": "labels", **served},
            "body.signature_name": {"dictionary": "signatures", "probability": 0.5},
        },
    }


NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory, toy_versions):
    """A server of its own (fuzzing must not add series to the shared toy server's metrics):
    versions 1 and 2 of the toy model, labelled stable and canary."""
    from serving.settings import RestLimits

    folder = tmp_path_factory.mktemp("fuzzed")
    base = str(folder / "toy")
    for version, path in toy_versions.items():
        publish(path, base, version)
    config = folder / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "toy" base_path: "{base}" '
        'model_platform: "tensorflow" model_version_policy { all {} } '
        'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 } '
        "} }"
    )
    limits = RestLimits(max_body_bytes=256 * 1024, request_timeout_s=CLIENT_TIMEOUT_S / 2)
    with running_server(settings_for(model_config_file=str(config), limits=limits)) as server:
        yield server


@pytest.fixture(scope="module")
def rest_schema(fuzzed_server):
    """The document the server serves, loaded by schemathesis and aimed at that server."""
    return schemathesis.openapi.from_url(
        f"{fuzzed_server.url}/v1/openapi.json",
        config=schemathesis.Config.from_dict(_config()),
        timeout=CLIENT_TIMEOUT_S,
    )


schema = schemathesis.pytest.from_fixture("rest_schema")


@pytest.fixture(scope="module")
def session():
    with requests.Session() as client:
        yield client


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, session):
    # A redirect's own status is what the document promises, not its target's.
    case.call_and_validate(
        session=session, checks=CHECKS, timeout=CLIENT_TIMEOUT_S, allow_redirects=False
    )


def _cut(text: str, head: int = 100, tail: int = 60) -> str:
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}...{text[-tail:]} ({len(text)} chars)"


def check_error(response: requests.Response) -> None:
    """A client error, as TF Serving's `{"error": msg}` with a message of at most 1 KB."""
    what = (
        f"{response.request.method} {_cut(response.request.path_url)} -> "
        f"{response.status_code} {_cut(response.text)}"
    )
    assert 400 <= response.status_code < 500, what
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), what
    assert len(body["error"].encode()) <= 1024, what


def _not_served(segment: str) -> bool:
    """False for a segment that names what the server serves (`01` is version 1)."""
    return segment not in ("toy", "stable", "canary") and segment.lstrip("0") not in ("1", "2")


# Path segments that `int()` or `str.isdigit()` take for numbers, numbers beyond int64 (up to
# past Python's 4,300-digit limit of int()), negative numbers, and any text.
ODD_SEGMENTS = st.one_of(
    st.sampled_from(["²", "①", "٣", "１２", "-1", "+1", " 1", "1.0", "1e3", "0x1", "٠", "1_0"]),
    st.integers(min_value=2**63 - 2, max_value=2**64).map(str),
    st.text("0123456789", min_size=19, max_size=5000),
    st.integers(max_value=-1).map(str),
    st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=40),
    st.text(min_size=1, max_size=300),
    st.text(min_size=2000, max_size=10_000),
).filter(_not_served)


@schema.include(path_regex=r"^/v1/models/").parametrize()
@schema.given(segment=ODD_SEGMENTS, where=st.sampled_from(["version", "label", "model"]))
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=20, phases=NO_SHRINK)
def test_odd_path_segments_are_client_errors(case, segment, where, session):
    if where not in case.path_parameters:
        where = "model"
    case.path_parameters[where] = segment
    check_error(case.call(session=session, timeout=CLIENT_TIMEOUT_S))


# No route serves anything under these (nor a first segment other than the routes' own).
UNSERVED_PREFIXES = ["", "v2/models/", "v1/models/toy/x/", "monitoring/drift/", "exports/"]
ROUTES_FIRST_SEGMENTS = {"healthz", "readyz", "metrics", "monitoring", "v1", "demo", "exports"}


@settings(deadline=None, max_examples=100, database=None, phases=NO_SHRINK)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    prefix=st.sampled_from(UNSERVED_PREFIXES),
    rest=st.one_of(st.text(min_size=1, max_size=300), st.text(min_size=1000, max_size=3000)),
)
def test_unknown_paths_are_client_errors_with_a_short_message(
    fuzzed_server, session, method, prefix, rest
):
    assume(prefix or rest.split("/")[0] not in ROUTES_FIRST_SEGMENTS)
    url = f"{fuzzed_server.url}/{prefix}{quote(rest, safe='')}"
    check_error(session.request(method, url, timeout=CLIENT_TIMEOUT_S))
