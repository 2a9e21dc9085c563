"""`dlwp retrain-receiver`: the real command on loopback, Alertmanager's webhook payloads over
HTTP, and the official kubernetes client against the stand-in API server of fake_kube_api.py
(no cluster can run here). The Job it creates is checked against the committed CronJob's
jobTemplate (k8s/overlays/retrain/retrain-cronjob.yaml), not against the code that made it.
"""

import concurrent.futures
import copy
import os
import pathlib
import subprocess
import sys

import httpx
import pytest
import yaml
from fake_kube_api import ClusterState, fake_cluster
from servers import free_port, wait_for

from pipelines.k8s_job import JobSettingsError
from pipelines.retrain_receiver import PayloadError, ReceiverSettings, firing_models

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRONJOB = ROOT / "k8s" / "overlays" / "retrain" / "retrain-cronjob.yaml"
IMAGE = "registry.invalid/dlwp:1"


def alert(model: str | None, status: str = "firing", name: str = "DlwpLiveMetricBelowTest"):
    labels = {"alertname": name, "severity": "warning", "version": "2", "arm": "unsplit"}
    if model is not None:
        labels["model"] = model
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": "..."},
        "startsAt": "2026-12-01T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "0123456789abcdef",
    }


def payload(*alerts: dict) -> dict:
    """Alertmanager's webhook body (version 4) for one group of alerts."""
    return {
        "version": "4",
        "groupKey": '{}/{alertname="DlwpLiveMetricBelowTest"}:{model="fashion_mnist"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dlwp/dlwp-retrain/dlwp-retrain",
        "groupLabels": {"model": "fashion_mnist"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


@pytest.fixture(scope="module")
def cluster_and_url(tmp_path_factory):
    """The fake cluster, and `dlwp retrain-receiver` (a subprocess) reaching it by KUBECONFIG."""
    folder = tmp_path_factory.mktemp("receiver")
    kubeconfig, log_path = folder / "kubeconfig", folder / "receiver.log"
    state = ClusterState()
    with fake_cluster(state, str(kubeconfig)):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
        env["KUBECONFIG"] = str(kubeconfig)
        log = open(log_path, "wb")  # noqa: SIM115 (closed below, after the process)
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "retrain-receiver", "--port", str(port)]
            + ["--models", "fashion_mnist,houses", "--image", IMAGE],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        def up():
            if process.poll() is not None:
                raise AssertionError(log_path.read_text())
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(up, 30, "dlwp retrain-receiver")
            yield state, url
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()


@pytest.fixture
def cluster(cluster_and_url):
    state, _ = cluster_and_url
    state.created.clear()
    state.finished.clear()
    state.create_status = 201
    return state


@pytest.fixture
def post(cluster_and_url):
    _, url = cluster_and_url

    def send(body, **kwargs) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.post(f"{url}/alerts", content=body, timeout=30, **kwargs)
        return httpx.post(f"{url}/alerts", json=body, timeout=30, **kwargs)

    return send


def cron_job_template() -> dict:
    """The committed CronJob's jobTemplate, with the receiver's image."""
    template = copy.deepcopy(yaml.safe_load(CRONJOB.read_text())["spec"]["jobTemplate"])
    template["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE
    return template


def test_firing_alerts_start_one_retrain_job_like_the_cron_jobs(cluster, post):
    answer = post(
        payload(
            alert("fashion_mnist"),
            alert("fashion_mnist"),  # another arm, or another replica: one model, one Job
            alert("fashion_mnist", status="resolved"),
            alert("fashion_mnist", name="DlwpFeatureDrift"),
        )
    )
    assert answer.status_code == 200, answer.text
    (job,) = cluster.created
    assert answer.json() == {
        "started": [{"model": "fashion_mnist", "job": job["metadata"]["name"]}],
        "skipped": [],
        "ignored": 2,
    }
    assert job["metadata"]["name"].startswith("dlwp-retrain-fashion-mnist-")
    assert job["metadata"]["namespace"] == "dlwp"
    assert {"metadata": {"labels": job["metadata"]["labels"]}, "spec": job["spec"]} == (
        cron_job_template()
    )
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["retrain", "fashion_mnist", "--home", "/var/lib/dlwp"]


def test_no_second_job_while_one_of_the_model_is_unfinished(cluster, post):
    first = post(payload(alert("houses"))).json()
    (started,) = first["started"]
    again = post(payload(alert("houses"))).json()
    assert again["started"] == []
    assert again["skipped"] == [
        {"model": "houses", "reason": f"retrain job {started['job']} has not finished"}
    ]
    assert len(cluster.created) == 1
    cluster.finished[started["job"]] = "Failed"  # a finished Job, failed or not, is no obstacle
    after = post(payload(alert("houses"))).json()
    assert [s["model"] for s in after["started"]] == ["houses"]
    assert len(cluster.created) == 2


def test_a_job_of_another_model_does_not_block(cluster, post):
    assert post(payload(alert("houses"))).json()["started"]
    assert post(payload(alert("fashion_mnist"))).json()["started"]
    assert len(cluster.created) == 2


def test_concurrent_notifications_start_one_job(cluster, post):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(payload(alert("fashion_mnist"))), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert sum(len(a.json()["started"]) for a in answers) == 1
    assert len(cluster.created) == 1


def test_a_model_outside_models_is_skipped(cluster, post):
    answer = post(payload(alert("imdb"))).json()
    assert answer["skipped"] == [
        {"model": "imdb", "reason": "not one of --models (fashion_mnist, houses)"}
    ]
    assert cluster.created == []


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "the body is not JSON"),
        ({**payload(alert("houses")), "version": "3"}, "version '3'"),
        ({**payload(), "alerts": {"0": alert("houses")}}, "'alerts' must be a list"),
        (payload(alert("houses"), alert(None)), "alerts[1].labels.model is None"),
        (payload(alert("houses"), alert("houses", status="pending")), "alerts[1].status"),
        (payload(alert("../houses")), "alerts[0].labels.model is '../houses'"),
    ],
    ids=["not-json", "version", "alerts", "no-model", "status", "bad-model"],
)
def test_bad_payloads_are_400_and_start_nothing(cluster, post, body, message):
    answer = post(body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert cluster.created == []


def test_a_refused_creation_is_503_for_alertmanager_to_retry(cluster, post):
    cluster.create_status = 403
    answer = post(payload(alert("houses")))
    assert answer.status_code == 503
    assert "the API server answered 403" in answer.json()["error"]


def test_health_and_readiness(cluster_and_url):
    _, url = cluster_and_url
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}


def test_firing_models_keeps_the_first_appearance_order():
    models, ignored = firing_models(
        payload(alert("b"), alert("a"), alert("b"), alert("a", status="resolved"))
    )
    assert (models, ignored) == (["b", "a"], 1)


def test_payload_that_is_not_an_object_is_refused():
    with pytest.raises(PayloadError, match="JSON object"):
        firing_models([alert("a")])


@pytest.mark.parametrize(
    "settings, flag",
    [
        ({"models": ("fashion mnist",)}, "--models"),
        ({"namespace": "Not_A_Namespace"}, "--namespace"),
        ({"image": "dlwp 1"}, "--image"),
    ],
)
def test_settings_kubernetes_would_refuse_fail_at_start(settings, flag):
    with pytest.raises(JobSettingsError, match=flag):
        ReceiverSettings(**settings)
