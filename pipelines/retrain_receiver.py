"""`dlwp retrain-receiver`: Alertmanager's webhook, which starts a retrain Job in the cluster when
DlwpLiveMetricBelowTest fires (book 6.3.4; docs/kubernetes.md, "Retraining, triggered").

    app = create_app(ReceiverSettings(models=("fashion_mnist",), image="REGISTRY/dlwp:0.1.0"))
    # POST /alerts   Alertmanager's webhook payload (version 4)
    # GET  /healthz  200 while the process runs
    # GET  /readyz   200 once the cluster's configuration (in-cluster token, or kubeconfig) is read

For each model with a firing DlwpLiveMetricBelowTest alert, and allowed by `models`, it creates
`pipelines/k8s_job.py`'s retrain Job through `pipelines/k8s_client.py`, as `dlwp k8s run` does,
unless a retrain Job of that model is unfinished (started by this receiver or by the CronJob).
The answer says what it did: {"started": [{"model", "job"}], "skipped": [{"model", "reason"}],
"ignored": n}. A payload Alertmanager would not send is a 400 naming what is wrong; a cluster that
refuses a call is a 503, which Alertmanager retries.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines import k8s_client, k8s_job

ALERT_NAME = "DlwpLiveMetricBelowTest"
WEBHOOK_VERSION = "4"
# What `dlwp run` names models: a book dataset, or a CSV's file name (components/csv_dataset.py).
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload (HTTP 400); the message says why."""


@dataclasses.dataclass(frozen=True)
class ReceiverSettings:
    """What the receiver's Jobs are made of and which models it may retrain.

    Attributes:
        models: the models it may retrain; empty for any model name.
        image: the retrain Jobs' image.
        namespace: where the Jobs are created (that of k8s/base).
    """

    models: tuple[str, ...] = ()
    image: str = k8s_job.DEFAULT_IMAGE
    namespace: str = k8s_job.NAMESPACE

    def __post_init__(self) -> None:
        bad = [model for model in self.models if not MODEL_NAME.fullmatch(model)]
        if bad:
            raise k8s_job.JobSettingsError(
                f"--models: {', '.join(map(repr, bad))} is not a model name (letters, digits, "
                "'_', '.', '-', at most 63)"
            )
        # The Job's own checks (namespace, image) at start rather than at the first alert.
        k8s_job.retrain_job(self.job_settings(self.models[0] if self.models else "model"))

    def job_settings(self, model: str) -> k8s_job.JobSettings:
        """The retrain Job's settings for `model`."""
        return k8s_job.JobSettings(dataset=model, image=self.image, namespace=self.namespace)


def parse_models(value: str) -> tuple[str, ...]:
    """`--models M1,M2` as a tuple (spaces and empty items dropped)."""
    return tuple(model.strip() for model in value.split(",") if model.strip())


def firing_models(payload: Any) -> tuple[list[str], int]:
    """The models with a firing DlwpLiveMetricBelowTest alert in a webhook payload, in the
    order they first appear, and how many alerts were something else (resolved, or another
    alert).

    Raises:
        PayloadError: not a version 4 webhook payload, or a firing alert without a model.
    """
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object: Alertmanager's webhook payload")
    if payload.get("version") != WEBHOOK_VERSION:
        raise PayloadError(
            f"version {payload.get('version')!r}: this receiver reads Alertmanager's webhook "
            f"payload version {WEBHOOK_VERSION!r}"
        )
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list of alerts")
    models: list[str] = []
    ignored = 0
    for position, alert in enumerate(alerts):
        where = f"alerts[{position}]"
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError(f"{where} must be an object with 'labels'")
        if alert.get("status") not in ("firing", "resolved"):
            raise PayloadError(
                f"{where}.status is {alert.get('status')!r}, not 'firing' or 'resolved'"
            )
        labels = alert["labels"]
        if alert["status"] != "firing" or labels.get("alertname") != ALERT_NAME:
            ignored += 1
            continue
        model = labels.get("model")
        if not isinstance(model, str) or not MODEL_NAME.fullmatch(model):
            raise PayloadError(
                f"{where}.labels.model is {model!r}: a firing {ALERT_NAME} names its model"
            )
        if model not in models:
            models.append(model)
    return models, ignored


class RetrainReceiver:
    """Starts retrain Jobs for the models of webhook payloads, one unfinished Job per model.

    Args:
        settings: the Jobs' image and namespace, and the models allowed.
        connect: returns the cluster's API (called once, at the first need).
    """

    def __init__(
        self,
        settings: ReceiverSettings,
        connect: Callable[[], k8s_client.KubernetesApi] = k8s_client.connect,
    ) -> None:
        self.settings = settings
        self._connect = connect
        self._api: k8s_client.KubernetesApi | None = None
        # Alertmanager may deliver two notifications at once: the check for an unfinished Job
        # and the creation are one step.
        self._lock = threading.Lock()

    def api(self) -> k8s_client.KubernetesApi:
        """The cluster's API, connected at the first call.

        Raises:
            k8s_client.ClusterError: no cluster configuration.
        """
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    def handle(self, payload: Any) -> dict[str, Any]:
        """What `POST /alerts` does with a payload; returns the answer's JSON.

        Raises:
            PayloadError: a payload Alertmanager would not send.
            k8s_client.ClusterError: the cluster refused a call.
        """
        models, ignored = firing_models(payload)
        started: list[dict[str, str]] = []
        skipped: list[dict[str, str]] = []
        for model in models:
            if self.settings.models and model not in self.settings.models:
                skipped.append(
                    {
                        "model": model,
                        "reason": f"not one of --models ({', '.join(self.settings.models)})",
                    }
                )
                continue
            outcome = self._retrain(model)
            (started if "job" in outcome else skipped).append(outcome)
        return {"started": started, "skipped": skipped, "ignored": ignored}

    def _retrain(self, model: str) -> dict[str, str]:
        api = self.api()
        job = k8s_job.retrain_job(self.settings.job_settings(model))
        selector = f"{k8s_job.RETRAIN_LABEL}={k8s_job.label_value(model)}"
        with self._lock:
            running = k8s_client.unfinished_jobs(api, self.settings.namespace, selector)
            if running:
                return {"model": model, "reason": f"retrain job {running[0]} has not finished"}
            k8s_client.check_prerequisites(api, job)
            k8s_client.create_job(api, job)
        return {"model": model, "job": job["metadata"]["name"]}


def create_app(
    settings: ReceiverSettings,
    connect: Callable[[], k8s_client.KubernetesApi] = k8s_client.connect,
) -> Starlette:
    """The receiver's Starlette app: POST /alerts, GET /healthz, GET /readyz."""
    receiver = RetrainReceiver(settings, connect)

    # The kubernetes client blocks: its calls run in Starlette's thread pool.
    async def alerts(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
        except ValueError as error:
            return JSONResponse({"error": f"the body is not JSON: {error}"}, status_code=400)
        try:
            return JSONResponse(await run_in_threadpool(receiver.handle, payload))
        except PayloadError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        except k8s_client.ClusterError as error:
            return JSONResponse({"error": str(error)}, status_code=503)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(receiver.api)
        except k8s_client.ClusterError as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/alerts", alerts, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def serve(settings: ReceiverSettings, host: str, port: int) -> None:
    """Runs the receiver until SIGTERM or SIGINT (uvicorn finishes the requests under way)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=True)
