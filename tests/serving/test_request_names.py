"""What a REST path names (model, version, label) is checked strictly and answered 4xx, never
500: the cases a probe of `dlwp serve` answered with 500 or served by mistake."""

import pytest

from serving.errors import InvalidArgument
from serving.model_specs import MAX_VERSION, model_spec, parse_version

PREDICT = {"instances": [[1.0, 2.0, 3.0]]}


@pytest.mark.parametrize(
    "segment",
    [
        "%C2%B2",  # superscript two: str.isdigit() says yes, int() says no
        "%E2%91%A0",  # circled one: the same
        "%D9%A1",  # Arabic-Indic one: int() reads 1, no folder is named so
        "%EF%BC%91",  # full-width one: the same
        "1.0",
        "-1",
        "0x1",
    ],
)
def test_a_version_that_is_not_ascii_digits_is_a_400(rest, segment):
    for response in (
        rest.get(f"/v1/models/toy/versions/{segment}"),
        rest.post(f"/v1/models/toy/versions/{segment}:predict", json=PREDICT),
    ):
        assert response.status_code == 400, response.text
        assert "is not a number" in response.json()["error"]


@pytest.mark.parametrize("digits", ["9" * 4301, str(2**63), "1" + "0" * 30])
def test_a_version_beyond_int64_is_a_400_naming_the_range(rest, digits):
    response = rest.get(f"/v1/models/toy/versions/{digits}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "out of range" in error and str(2**63 - 1) in error
    assert len(error.encode()) < 400  # the 4,301 digits are not echoed whole


def test_the_largest_int64_version_is_looked_up_and_not_found(rest):
    response = rest.get(f"/v1/models/toy/versions/{2**63 - 1}")
    assert response.status_code == 404
    assert "Could not find version" in response.json()["error"]


def test_version_one_is_still_served(rest):
    response = rest.post("/v1/models/toy/versions/1:predict", json=PREDICT)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["version"] == 1


@pytest.mark.parametrize("suffix", ["%0A", "%0D", "%00", ":predict%0A"])
def test_a_path_with_a_control_character_is_not_served(rest, suffix):
    if suffix.startswith(":"):
        response = rest.post(f"/v1/models/toy{suffix}", json=PREDICT)
    else:
        response = rest.get(f"/v1/models/toy{suffix}")
    assert response.status_code in (400, 404), response.text
    assert set(response.json()) == {"error"}
    assert "Malformed request" in response.json()["error"]


def test_a_spec_with_a_control_character_in_a_name_is_refused_naming_it():
    # gRPC's ModelSpec carries names as they come (REST paths are refused before, above).
    with pytest.raises(InvalidArgument, match="version label name 'stable\\\\x07'"):
        model_spec("toy", None, "stable\x07")
    with pytest.raises(InvalidArgument, match="model name"):
        model_spec("toy\n", None, None)


def test_a_huge_model_name_is_a_404_with_a_short_echo(rest):
    name = "m" * 10_000
    response = rest.post(f"/v1/models/{name}:predict", json=PREDICT)
    assert response.status_code == 404
    assert len(response.content) < 600


def test_a_content_length_of_4301_digits_is_refused_as_a_client_error(toy_server):
    import socket

    host, port = toy_server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: " + b"9" * 4301 + b"\r\n\r\n"
        )
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"413"), status_line


def test_parse_version_reads_ascii_digits_up_to_int64():
    assert parse_version("0") == 0
    assert parse_version("0042") == 42
    assert parse_version(str(MAX_VERSION)) == 2**63 - 1
