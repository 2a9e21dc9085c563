"""Version management on a real server: a new version swaps in under load, a broken or badly
warmed-up one is refused while the previous keeps serving, a deleted one is unloaded, and labels
come from TF Serving's model config file.

Versions are published as the pipeline publishes them (a sibling temp folder, then a rename);
the toy model's `version` output says which version answered.
"""

import os
import shutil
import threading
import time

import httpx
import numpy as np
import pytest
from saved_models import publish, write_warmup_requests
from server_probes import count_polls, metric_value, version_states, version_status
from servers import running_server, settings_for, wait_for

from serving.model_config import ModelConfigError, sources_from_config_file

PREDICT = {"instances": [[1.0, 2.0, 3.0]]}
LOAD_FAILURES = 'dlwp_model_load_failures_total{model="toy"}'


def toy_base(tmp_path, toy_versions, *versions: int) -> str:
    """`<tmp>/models/toy` with `versions` of the toy model published; returns it."""
    base = str(tmp_path / "models" / "toy")
    for version in versions:
        publish(toy_versions[version], base, version)
    return base


def answering_version(client: httpx.Client, path: str = "/v1/models/toy") -> int:
    """The version that answers a predict request on `path`."""
    response = client.post(f"{path}:predict", json=PREDICT)
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["version"]


def refused_status(client: httpx.Client, version: int) -> dict:
    """Waits until `version` shows state END in the status API; returns its status entry."""

    def refused():
        status = version_status(client, version)
        return status if status.get("state") == "END" else None

    return wait_for(refused, timeout_s=20, what=f"version {version} to be refused")


def answered_since(seen: list[tuple[float, object]], since_s: float) -> int:
    """How many of a client's requests were sent after `since_s` (and already answered)."""
    return sum(1 for sent_s, _ in seen if sent_s > since_s)


def write_config(tmp_path, body: str) -> str:
    path = tmp_path / "models.config"
    path.write_text(f"model_config_list {{ {body} }}")
    return str(path)


def toy_config(base: str, policy: str, labels: str = "") -> str:
    return (
        f'config {{ name: "toy" base_path: "{base}" model_platform: "tensorflow" '
        f"model_version_policy {{ {policy} }} {labels} }}"
    )


# --- a new version swaps in --------------------------------------------------------------------


def test_new_version_swaps_in_under_concurrent_load(tmp_path, toy_versions):
    base = toy_base(tmp_path, toy_versions, 1)
    stop = threading.Event()
    # Per client thread: (monotonic time the request was sent, version answered or the failure).
    answers: list[list[tuple[float, object]]] = [[] for _ in range(8)]

    def send_until_stopped(server, seen):
        with server.client() as client:
            while not stop.is_set():
                sent_s = time.monotonic()
                try:
                    response = client.post("/v1/models/toy:predict", json=PREDICT)
                except httpx.HTTPError as error:
                    seen.append((sent_s, repr(error)))
                    continue
                if response.status_code == 200:
                    seen.append((sent_s, response.json()["predictions"][0]["version"]))
                else:
                    seen.append((sent_s, f"HTTP {response.status_code}: {response.text}"))

    with running_server(settings_for(models_dir=os.path.dirname(base))) as server:
        threads = [
            threading.Thread(target=send_until_stopped, args=(server, seen)) for seen in answers
        ]
        for thread in threads:
            thread.start()
        try:
            with server.client() as client:
                wait_for(lambda: all(answers), what="every client to be answered by version 1")
                publish(toy_versions[2], base, 2)
                wait_for(
                    lambda: version_states(client) == {1: "END", 2: "AVAILABLE"},
                    timeout_s=25,
                    what="version 2 AVAILABLE and version 1 END",
                )
            swapped_s = time.monotonic()
            # Keep the load on after the swap: every client is answered a few more times.
            wait_for(
                lambda: all(answered_since(seen, swapped_s) >= 10 for seen in answers),
                what="every client to be answered 10 times after the swap",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

    failures = [answer for seen in answers for _, answer in seen if not isinstance(answer, int)]
    assert failures == []
    for seen in answers:
        # Every answer is a version (no failures): the filter only tells the type checker so.
        versions = [version for _, version in seen if isinstance(version, int)]
        assert versions == sorted(versions), "a client saw the version go backwards"
    assert {version for seen in answers for _, version in seen} == {1, 2}
    after_swap = [version for seen in answers for sent_s, version in seen if sent_s > swapped_s]
    assert after_swap and set(after_swap) == {2}


# --- a broken version is refused ---------------------------------------------------------------


def garbage_saved_model(folder: str, toy_versions) -> None:
    os.makedirs(folder)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as pb:
        pb.write(b"this is not a SavedModel")


def variables_missing(folder: str, toy_versions) -> None:
    """What a copy that stopped half way leaves: the graph without its variables."""
    shutil.copytree(toy_versions[2], folder, ignore=shutil.ignore_patterns("variables"))


BROKEN_VERSIONS = [
    # Protobuf parses these bytes into an empty SavedModel (with a RuntimeWarning).
    pytest.param(
        garbage_saved_model,
        ["saved_model.pb", "no MetaGraph"],
        id="garbage saved_model.pb",
        marks=pytest.mark.filterwarnings("ignore:Unexpected end-group tag"),
    ),
    pytest.param(variables_missing, ["variables"], id="variables missing"),
]


@pytest.mark.parametrize("write_broken,words", BROKEN_VERSIONS)
def test_broken_version_is_refused_and_the_previous_keeps_serving(
    tmp_path, toy_versions, write_broken, words
):
    base = toy_base(tmp_path, toy_versions, 1)
    broken = str(tmp_path / "broken")
    write_broken(broken, toy_versions)
    with (
        running_server(settings_for(workers=1, models_dir=os.path.dirname(base))) as server,
        server.client() as client,
    ):
        failures_before = metric_value(client, LOAD_FAILURES)
        publish(broken, base, 2)
        status = refused_status(client, 2)
        assert status["status"]["error_code"] == "UNKNOWN"
        for word in words:
            assert word in status["status"]["error_message"], status
        assert metric_value(client, LOAD_FAILURES) == failures_before + 1
        assert version_states(client) == {1: "AVAILABLE", 2: "END"}
        assert answering_version(client) == 1
        assert client.get("/readyz").status_code == 200


def test_refused_version_is_loaded_once_its_files_are_complete(tmp_path, toy_versions, monkeypatch):
    base = toy_base(tmp_path, toy_versions, 1)
    half_written = str(tmp_path / "half-written")
    variables_missing(half_written, toy_versions)
    with (
        running_server(settings_for(workers=1, models_dir=os.path.dirname(base))) as server,
        server.client() as client,
    ):
        polls = count_polls(monkeypatch, server.stack.backend.manager)
        publish(half_written, base, 2)
        refused_status(client, 2)
        # The poll that refused it may still be finishing; then three more of unchanged files.
        refused_after = polls()
        wait_for(
            lambda: polls() >= refused_after + 1 + 3,
            what="three more polls of the unchanged files",
        )
        assert metric_value(client, LOAD_FAILURES) == 1, "an unchanged refused version was retried"
        shutil.copytree(
            os.path.join(toy_versions[2], "variables"), os.path.join(base, "2", "variables")
        )
        wait_for(
            lambda: version_states(client) == {1: "END", 2: "AVAILABLE"},
            timeout_s=20,
            what="the completed version 2 to replace version 1",
        )
        assert answering_version(client) == 2
        assert version_status(client, 2)["status"]["error_message"] == ""


def test_unexpected_load_failure_refuses_the_version_instead_of_leaving_it_loading(
    tmp_path, toy_versions
):
    from serving.manager import ModelManager
    from serving.metrics import ServingMetrics
    from serving.model_config import ModelSource

    def load_with_a_bug(model, version, path):
        raise RuntimeError("the loader broke")

    base = toy_base(tmp_path, toy_versions, 1)
    manager = ModelManager(
        lambda: [ModelSource("toy", base)], ServingMetrics(), load=load_with_a_bug
    )
    manager.poll()
    (status,) = manager.status("toy").model_version_status
    assert status.state == status.END
    assert "RuntimeError: the loader broke" in status.status.error_message


# --- a deleted version is unloaded -------------------------------------------------------------


def test_deleting_the_latest_version_brings_back_the_previous_one(tmp_path, toy_versions):
    base = toy_base(tmp_path, toy_versions, 1, 2)
    with (
        running_server(settings_for(models_dir=os.path.dirname(base))) as server,
        server.client() as client,
    ):
        assert version_states(client) == {2: "AVAILABLE"}
        assert answering_version(client) == 2
        shutil.rmtree(os.path.join(base, "2"))
        wait_for(
            lambda: version_states(client) == {1: "AVAILABLE", 2: "END"},
            timeout_s=20,
            what="version 1 to replace the deleted version 2",
        )
        assert answering_version(client) == 1


def test_version_deleted_under_policy_all_is_unloaded(tmp_path, toy_versions):
    base = toy_base(tmp_path, toy_versions, 1, 2)
    config = write_config(tmp_path, toy_config(base, "all {}"))
    with (
        running_server(settings_for(model_config_file=config)) as server,
        server.client() as client,
    ):
        assert version_states(client) == {1: "AVAILABLE", 2: "AVAILABLE"}
        assert answering_version(client, "/v1/models/toy/versions/1") == 1
        shutil.rmtree(os.path.join(base, "1"))
        wait_for(
            lambda: version_states(client) == {1: "END", 2: "AVAILABLE"},
            timeout_s=20,
            what="the deleted version 1 to be unloaded",
        )
        response = client.post("/v1/models/toy/versions/1:predict", json=PREDICT)
        assert response.status_code == 404
        assert "Specific(toy, 1)" in response.json()["error"]
        assert answering_version(client, "/v1/models/toy/versions/2") == 2


# --- labels from a model config file -----------------------------------------------------------


def test_labels_from_the_config_file_route_requests(tmp_path, toy_versions):
    base = toy_base(tmp_path, toy_versions, 1, 2)
    config = write_config(
        tmp_path,
        toy_config(
            base,
            "specific { versions: 1 versions: 2 }",
            'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 }',
        ),
    )
    with (
        running_server(settings_for(model_config_file=config)) as server,
        server.client() as client,
    ):
        assert answering_version(client, "/v1/models/toy/labels/canary") == 2
        assert answering_version(client, "/v1/models/toy/labels/stable") == 1
        assert answering_version(client) == 2
        status = client.get("/v1/models/toy/labels/stable")
        assert status.status_code == 200
        assert [(s["version"], s["state"]) for s in status.json()["model_version_status"]] == [
            ("1", "AVAILABLE")
        ]


CONFIG_ERRORS = [
    ("syntax error", 'config { name: "toy" base_path: }', ["models.config", "base_path"]),
    (
        "label outside a specific policy",
        toy_config(
            "/models/toy",
            "specific { versions: 1 versions: 2 }",
            'version_labels { key: "canary" value: 3 }',
        ),
        ["'toy'", "canary=3", "does not serve"],
    ),
    (
        "duplicate names",
        toy_config("/models/a", "latest { num_versions: 1 }")
        + toy_config("/models/b", "latest { num_versions: 1 }"),
        ["toy", "twice"],
    ),
    (
        "specific policy without versions",
        toy_config("/models/toy", "specific { }"),
        ["'toy'", "lists no versions"],
    ),
]


@pytest.mark.parametrize("what,body,words", CONFIG_ERRORS, ids=[case[0] for case in CONFIG_ERRORS])
def test_config_file_error_names_the_problem(tmp_path, what, body, words):
    path = write_config(tmp_path, body)
    with pytest.raises(ModelConfigError) as raised:
        sources_from_config_file(path)
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def test_missing_config_file_is_an_error_naming_it(tmp_path):
    missing = str(tmp_path / "nowhere.config")
    with pytest.raises(ModelConfigError, match="nowhere.config does not exist"):
        sources_from_config_file(missing)


# --- warm-up -----------------------------------------------------------------------------------


def write_corrupt_warmup(version_dir: str) -> None:
    folder = os.path.join(version_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tf_serving_warmup_requests"), "wb") as records:
        records.write(b"not a TFRecord file" * 4)


BAD_WARMUPS = [
    (
        "wrong input name",
        lambda folder: write_warmup_requests(folder, [{"y": np.zeros([1, 3], np.float32)}]),
        ["warm-up", "unknown input(s): y"],
    ),
    (
        "wrong shape",
        lambda folder: write_warmup_requests(folder, [{"x": np.zeros([1, 4], np.float32)}]),
        ["warm-up", "[1, 4]"],
    ),
    ("not a TFRecord file", write_corrupt_warmup, ["tf_serving_warmup_requests", "corrupted"]),
]


@pytest.mark.parametrize("what,write_warmup,words", BAD_WARMUPS, ids=[c[0] for c in BAD_WARMUPS])
def test_failing_warmup_refuses_the_version(tmp_path, toy_versions, what, write_warmup, words):
    base = toy_base(tmp_path, toy_versions, 1)
    staged = str(tmp_path / "staged")
    shutil.copytree(toy_versions[2], staged)
    write_warmup(staged)
    with (
        running_server(settings_for(models_dir=os.path.dirname(base))) as server,
        server.client() as client,
    ):
        publish(staged, base, 2)
        status = refused_status(client, 2)
        for word in words:
            assert word in status["status"]["error_message"], status
        assert answering_version(client) == 1


def test_good_warmup_file_loads_the_version(tmp_path, toy_versions):
    base = toy_base(tmp_path, toy_versions, 1)
    staged = str(tmp_path / "staged")
    shutil.copytree(toy_versions[2], staged)
    write_warmup_requests(staged, [{"x": np.ones([2, 3], np.float32)}] * 3)
    with (
        running_server(settings_for(models_dir=os.path.dirname(base))) as server,
        server.client() as client,
    ):
        publish(staged, base, 2)
        wait_for(
            lambda: version_states(client) == {1: "END", 2: "AVAILABLE"},
            timeout_s=20,
            what="version 2 to load",
        )
        assert answering_version(client) == 2
        assert metric_value(client, LOAD_FAILURES) == 0
