"""The randomized traffic split of `dlwp serve --split`: its flag, its startup checks, and on a
real server the share of unpinned requests each arm gets (within 3 sigma of the binomial), the
stickiness of X-Split-Key, and pinned, status and metadata requests left alone.

Versions 1 and 2 of the toy model are labelled stable and canary; the toy model's `version`
output says which version answered, so the arm a request went to is recounted from the model
itself as well as from the X-Split-Arm header and the split counter.
"""

import collections
import hashlib
import math
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from saved_models import publish
from server_probes import metric_value
from servers import running_server, settings_for, wait_for
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from pipelines import cli
from pipelines.cli import build_parser, serve_settings
from serving.errors import ServeSettingsError
from serving.server import ServingStack
from serving.traffic_split import SplitConfigError, TrafficSplit, parse_split

PREDICT = {"instances": [[1.0, 2.0, 3.0]]}
VERSION_OF = {"stable": 1, "canary": 2}
SPLIT = ("toy", (("stable", 7.0), ("canary", 3.0)))  # 70 / 30
CANARY_SHARE = 0.3


def split_counter(client, arm: str) -> float:
    return metric_value(client, f'dlwp_split_requests_total{{arm="{arm}",model="toy"}}')


def within_3_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 3 * math.sqrt(n * p * (1 - p))


def sticky_arm(model: str, key: str, canary_share: float = CANARY_SHARE) -> str:
    """The arm of `key`, recounted here: sha256's first 8 bytes as a fraction of 2**64, below
    the stable share -> stable."""
    digest = hashlib.sha256(model.encode() + b"\0" + key.encode()).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2**64
    return "stable" if uniform < 1 - canary_share else "canary"


@pytest.fixture(scope="module")
def labelled_config(tmp_path_factory, toy_versions) -> str:
    """A model config serving toy versions 1 (stable) and 2 (canary)."""
    root = tmp_path_factory.mktemp("split")
    base = str(root / "models" / "toy")
    for version in (1, 2):
        publish(toy_versions[version], base, version)
    config = root / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "toy" base_path: "{base}" '
        'model_platform: "tensorflow" '
        "model_version_policy { specific { versions: 1 versions: 2 } } "
        'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 } } }'
    )
    return str(config)


@pytest.fixture(scope="module")
def split_server(labelled_config):
    settings = settings_for(
        workers=1, model_config_file=labelled_config, split=(SPLIT,), drift=None
    )
    with running_server(settings) as server:
        yield server


@pytest.fixture
def rest(split_server):
    with split_server.client() as client:
        yield client


def predict(client, path: str = "/v1/models/toy", headers=None) -> tuple[str | None, int, int]:
    """(X-Split-Arm, X-Model-Version, the version the model says answered) of one predict."""
    response = client.post(f"{path}:predict", json=PREDICT, headers=headers)
    assert response.status_code == 200, response.text
    answered = response.json()["predictions"][0]["version"]
    return response.headers.get("x-split-arm"), int(response.headers["x-model-version"]), answered


# --- the flag ----------------------------------------------------------------------------------


def test_parse_split_reads_model_labels_and_weights():
    assert parse_split("fashion = stable:0.9, canary:0.1") == (
        "fashion",
        (("stable", 0.9), ("canary", 0.1)),
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("stable:1,canary:1", ["names no model"]),
        ("toy=stable:1", ["one arm", "/labels/"]),
        ("toy=stable,canary:1", ["'stable'", "LABEL:WEIGHT"]),
        ("toy=stable:0,canary:1", ["weight of 'stable'", "positive", "'0'"]),
        ("toy=stable:-2,canary:1", ["weight of 'stable'", "'-2'"]),
        ("toy=stable:nan,canary:1", ["weight of 'stable'"]),
        ("toy=stable:x,canary:1", ["weight of 'stable'", "'x'"]),
        ("toy=stable:1,stable:2", ["'stable' twice"]),
        ("toy=sta ble:1,canary:1", ["'sta ble'", "version label"]),
    ],
)
def test_a_bad_split_flag_is_refused_naming_the_flag(text, words):
    with pytest.raises(ServeSettingsError) as raised:
        parse_split(text)
    assert "--split" in str(raised.value)
    for word in words:
        assert word in str(raised.value)


def test_the_cli_passes_every_split_to_the_settings():
    args = build_parser().parse_args(
        ["serve", "--split", "toy=stable:7,canary:3", "--split", "m=a:1,b:1,c:2"]
    )
    assert serve_settings(args).split == (
        SPLIT,
        ("m", (("a", 1.0), ("b", 1.0), ("c", 2.0))),
    )


def test_two_splits_of_one_model_are_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "serve",
                "--home",
                str(tmp_path),
                "--split",
                "toy=stable:1,canary:1",
                "--split",
                "toy=stable:2,canary:1",
            ]
        )
    assert exit_info.value.code == 2
    assert "--split is given twice for model 'toy'" in capsys.readouterr().err


# --- the rule ----------------------------------------------------------------------------------


def test_a_split_key_picks_the_arm_its_hash_falls_in():
    split = TrafficSplit(dict([SPLIT]))
    keys = [f"user-{i}" for i in range(500)]
    assert [split.choose("toy", key) for key in keys] == [sticky_arm("toy", key) for key in keys]
    assert split.choose("other", "user-1") is None
    assert split.choose("other", None) is None


def test_three_arms_get_their_normalised_shares():
    split = TrafficSplit({"m": (("a", 1.0), ("b", 2.0), ("c", 7.0))})
    split.rng.seed(18)
    n = 20_000
    counts = collections.Counter(split.choose("m", None) for _ in range(n))
    for arm, share in (("a", 0.1), ("b", 0.2), ("c", 0.7)):
        assert within_3_sigma(counts[arm], n, share), counts


# --- startup checks ----------------------------------------------------------------------------


def test_a_split_needs_a_model_config(toy_models):
    with pytest.raises(SplitConfigError, match="--model-config-file"):
        ServingStack(settings_for(workers=1, models_dir=toy_models, split=(SPLIT,)))


@pytest.mark.parametrize(
    ("split", "words"),
    [
        (("other", (("stable", 1.0), ("canary", 1.0))), ["model 'other'", "serves toy"]),
        (
            ("toy", (("stable", 1.0), ("beta", 1.0))),
            ["label 'beta'", "canary, stable", "version_labels"],
        ),
    ],
)
def test_a_split_the_config_cannot_route_stops_the_start(labelled_config, split, words):
    with pytest.raises(SplitConfigError) as raised:
        ServingStack(settings_for(workers=1, model_config_file=labelled_config, split=(split,)))
    for word in words:
        assert word in str(raised.value)


# --- on a real server --------------------------------------------------------------------------


def test_unpinned_requests_split_70_30_and_header_version_and_model_agree(split_server, rest):
    split_server.stack.split.rng.seed(18)
    before = {arm: split_counter(rest, arm) for arm in VERSION_OF}
    n = 2000
    answers = [predict(rest) for _ in range(n)]
    for arm, header_version, answered in answers:
        assert VERSION_OF[arm] == header_version == answered
    counts = collections.Counter(arm for arm, _, _ in answers)
    assert within_3_sigma(counts["canary"], n, CANARY_SHARE), counts
    assert {arm: split_counter(rest, arm) - before[arm] for arm in VERSION_OF} == counts


def test_the_same_split_key_always_gets_the_same_arm(rest):
    for key in ("alice", "bob", "carol", "dave"):
        arms = {predict(rest, headers={"X-Split-Key": key})[0] for _ in range(10)}
        assert arms == {sticky_arm("toy", key)}


def test_many_split_keys_spread_over_the_arms(rest):
    n = 1000
    arms = [predict(rest, headers={"X-Split-Key": f"user-{i}"}) for i in range(n)]
    for arm, header_version, answered in arms:
        assert VERSION_OF[arm] == header_version == answered
    canary = sum(arm == "canary" for arm, _, _ in arms)
    assert within_3_sigma(canary, n, CANARY_SHARE), canary


@pytest.mark.parametrize(("path", "version"), [("/versions/1", 1), ("/labels/canary", 2)])
def test_pinned_rest_requests_are_never_split(rest, path, version):
    before = {arm: split_counter(rest, arm) for arm in VERSION_OF}
    for i in range(30):
        arm, header_version, answered = predict(
            rest, f"/v1/models/toy{path}", headers={"X-Split-Key": f"user-{i}"}
        )
        assert (arm, header_version, answered) == (None, version, version)
    assert {arm: split_counter(rest, arm) for arm in VERSION_OF} == before


def test_status_and_metadata_are_not_split(rest):
    before = {arm: split_counter(rest, arm) for arm in VERSION_OF}
    for _ in range(20):
        status = rest.get("/v1/models/toy")
        assert sorted(s["version"] for s in status.json()["model_version_status"]) == ["1", "2"]
        metadata = rest.get("/v1/models/toy/metadata")
        assert metadata.json()["model_spec"]["version"] == "2"  # the newest, as unsplit
        assert "x-split-arm" not in status.headers and "x-split-arm" not in metadata.headers
    assert {arm: split_counter(rest, arm) for arm in VERSION_OF} == before


def grpc_predict(stub, version=None, label=None, metadata=()):
    """(trailing metadata as a dict, the version the model says answered) of one Predict."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(PREDICT["instances"], np.float32)))
    response, call = stub.Predict.with_call(request, timeout=10, metadata=metadata)
    answered = int(tf.make_ndarray(response.outputs["version"])[0])
    assert response.model_spec.version.value == answered
    return dict(call.trailing_metadata()), answered


def test_grpc_unpinned_calls_are_split_and_pinned_ones_are_not(split_server, rest):
    split_server.stack.split.rng.seed(18)
    with grpc.insecure_channel(split_server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        before = {arm: split_counter(rest, arm) for arm in VERSION_OF}
        unpinned = [grpc_predict(stub) for _ in range(200)]
        for trailers, answered in unpinned:
            assert VERSION_OF[trailers["x-split-arm"]] == int(trailers["x-model-version"])
            assert int(trailers["x-model-version"]) == answered
        counts = collections.Counter(trailers["x-split-arm"] for trailers, _ in unpinned)
        assert within_3_sigma(counts["canary"], 200, CANARY_SHARE), counts
        assert {arm: split_counter(rest, arm) - before[arm] for arm in VERSION_OF} == counts

        for key in ("alice", "bob"):
            arms = {
                grpc_predict(stub, metadata=[("x-split-key", key)])[0]["x-split-arm"]
                for _ in range(5)
            }
            assert arms == {sticky_arm("toy", key)}

        before = {arm: split_counter(rest, arm) for arm in VERSION_OF}
        for pinned, version in (({"version": 1}, 1), ({"label": "canary"}, 2)):
            for _ in range(20):
                trailers, answered = grpc_predict(stub, **pinned)
                assert "x-split-arm" not in trailers
                assert (int(trailers["x-model-version"]), answered) == (version, version)
        metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata.model_spec.name = "toy"
        response, call = stub.GetModelMetadata.with_call(metadata, timeout=10)
        assert response.model_spec.version.value == 2
        assert "x-split-arm" not in dict(call.trailing_metadata())
        assert {arm: split_counter(rest, arm) for arm in VERSION_OF} == before


class ArmRecorder:
    """An observer that records each completed call's (version, trace)."""

    def __init__(self):
        self.calls: list[tuple[int, object]] = []
        self._lock = threading.Lock()

    def observe(self, model, version, signature_name, inputs, outputs, trace=None):
        with self._lock:
            self.calls.append((version, trace))

    def close(self):
        pass


def test_the_observers_see_the_arm_of_a_split_request(split_server, rest):
    recorder = ArmRecorder()
    split_server.stack.backend.observers.append(recorder)
    try:
        sent = []
        for i in range(20):
            answer = rest.post(
                "/v1/models/toy:predict",
                json=PREDICT,
                headers={"X-Request-Id": f"r-{i}", "X-Split-Key": f"user-{i}"},
            )
            sent.append(
                (int(answer.headers["x-model-version"]), f"r-{i}", sticky_arm("toy", f"user-{i}"))
            )
        rest.post(
            "/v1/models/toy/labels/canary:predict", json=PREDICT, headers={"X-Request-Id": "p"}
        )
        wait_for(lambda: len(recorder.calls) == 21, what="21 observed calls")
    finally:
        split_server.stack.backend.observers.remove(recorder)
    seen = sorted((version, trace.request_id, trace.arm) for version, trace in recorder.calls)
    assert seen == sorted([*sent, (2, "p", "")])
    assert all(VERSION_OF[arm] == version for version, _, arm in sent)
