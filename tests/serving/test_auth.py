"""`dlwp serve --auth-token-file`: every REST route but the probes, and every gRPC call, needs
the bearer token; without the flag nothing does."""

import grpc
import httpx
import pytest
from servers import running_server, settings_for
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from serving.errors import StartupError
from serving.server import ServingStack

TOKEN = "s3cret-token"
PREDICT = {"instances": [[1.0, 2.0, 3.0]]}


@pytest.fixture(scope="module")
def guarded(toy_models, tmp_path_factory):
    token_file = tmp_path_factory.mktemp("auth") / "token"
    token_file.write_text(TOKEN + "\n")  # as `echo TOKEN > file` writes it
    with running_server(
        settings_for(models_dir=toy_models, auth_token_file=str(token_file))
    ) as server:
        yield server


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/models/toy:predict"),
        ("GET", "/v1/models/toy"),
        ("GET", "/metrics"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/demo/"),
        ("GET", "/no/such/path"),
    ],
)
def test_a_request_without_the_token_gets_401(guarded, method, path):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        response = httpx.request(
            method, guarded.url + path, json=PREDICT, headers=headers, timeout=10
        )
        assert response.status_code == 401, (headers, response.text)
        assert set(response.json()) == {"error"}
        assert "--auth-token-file" in response.json()["error"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_request_with_the_token_is_answered(guarded):
    response = httpx.post(
        guarded.url + "/v1/models/toy:predict",
        json=PREDICT,
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["predictions"][0]["version"] == 1


def test_the_probes_need_no_token(guarded):
    assert httpx.get(guarded.url + "/healthz", timeout=10).status_code == 200
    assert httpx.get(guarded.url + "/readyz", timeout=10).status_code == 200


def test_a_grpc_call_needs_the_token(guarded):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    with grpc.insecure_channel(guarded.grpc_address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetModelStatus(request, timeout=10)
        answer = stub.GetModelStatus(
            request, timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")]
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert answer.model_version_status[0].version == 1


def test_an_empty_token_file_stops_the_server_from_starting(tmp_path, toy_models):
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(StartupError, match="is empty"):
        ServingStack(settings_for(models_dir=toy_models, auth_token_file=str(empty)))


def test_without_the_flag_no_token_is_needed(rest):
    assert rest.post("/v1/models/toy:predict", json=PREDICT).status_code == 200
