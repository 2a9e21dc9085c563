"""A real feedback log to label, for the `:feedback`, live metric and labelling page tests.

`write_feedback(home)` runs the feedback logger (serving/feedback.py) on `observe` calls of two
models, each version carrying its task.json as the Pusher publishes it, and returns what was
sent: the request ids, scores, predictions and the probability each example should have been
logged with, computed here from the design's rule (p = R + (H - R)(1 - margin), docs/
monitoring.md), not by serving/sampling.py. `running_label_app(...)` serves the `:feedback`
route, the labelling page and /metrics on a loopback port with uvicorn, as `dlwp serve` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time

import numpy as np
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from servers import free_port
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from contract.features import Feature
from contract.task import TaskContract
from contract.version_assets import ASSETS_EXTRA, TASK_FILE
from serving.feedback import FeedbackLogger
from serving.feedback_api import feedback_routes
from serving.feedback_index import FeedbackIndex
from serving.labelling import labelling_routes
from serving.live_metrics import LiveMetrics
from serving.metrics import ServingMetrics
from serving.request_ids import Trace
from serving.version_task import read_version_task

CLOTHES, HOUSES = "clothes", "houses"
CLASS_NAMES = ("t-shirt", "trouser", "pullover", "dress")
RATE, HARD_RATE = 0.3, 1.0
CLOTHES_TASK = TaskContract(
    features=(Feature("image", "image", (0, 255)),),
    label="label",
    problem_type="multiclass",
    metric="accuracy",
    num_classes=len(CLASS_NAMES),
    class_names=CLASS_NAMES,
)
HOUSES_TASK = TaskContract(
    features=(Feature("rooms", "numeric"), Feature("color", "categorical")),
    label="price",
    problem_type="regression",
    metric="mae",
)


@dataclasses.dataclass
class Sent:
    """One example the tests sent: its request, row, answer and expected sampling probability."""

    model: str
    version: int
    request_id: str
    index: int
    arm: str
    prediction: float
    margin: float | None
    probability: float
    pixels: np.ndarray | None = None


@dataclasses.dataclass
class Feedback:
    """The home of a logged feedback folder and what was sent to it."""

    home: str
    folder: str
    models_dir: str
    sent: list[Sent]

    def version_dir(self, model: str, version: int) -> str:
        return os.path.join(self.models_dir, model, str(version))

    def task_of(self, model: str, version: int) -> TaskContract | None:
        return read_version_task(self.version_dir(model, version))

    def logged_keys(self, model: str) -> set[tuple[str, int]]:
        """(request_id, index) of what the index holds of `model` (what can be labelled)."""
        reader = FeedbackIndex(os.path.join(self.folder, model), writable=False)
        try:
            return {
                (row.request_id, row.index)
                for sent in self.sent
                if sent.model == model
                for row in reader.find(sent.request_id, sent.index)
            }
        finally:
            reader.close()

    def logged(self, model: str) -> list[Sent]:
        """The sent examples of `model` that the log kept."""
        keys = self.logged_keys(model)
        return [s for s in self.sent if s.model == model and (s.request_id, s.index) in keys]


def _publish_task(models_dir: str, model: str, version: int, task: TaskContract) -> None:
    folder = os.path.join(models_dir, model, str(version), ASSETS_EXTRA)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, TASK_FILE), "w") as f:
        f.write(task.to_json())


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def write_feedback(home: str, clothes: int = 40, houses: int = 20, seed: int = 0) -> Feedback:
    """Logs `clothes` one-image requests (versions 1 and 2, version 2 as split arm "canary"),
    one request of three images, and `houses` one-row regression requests."""
    models_dir, folder = os.path.join(home, "models"), os.path.join(home, "feedback")
    for version in (1, 2):
        _publish_task(models_dir, CLOTHES, version, CLOTHES_TASK)
    _publish_task(models_dir, HOUSES, 1, HOUSES_TASK)
    feedback = Feedback(home, folder, models_dir, [])
    rng = np.random.default_rng(seed)
    logger = FeedbackLogger(
        folder,
        RATE,
        CollectorRegistry(),
        hard_rate=HARD_RATE,
        version_dir=feedback.version_dir,
        seed=seed,
        flush_s=0.05,
    )
    try:
        requests = [(f"c{i}", 1 + i % 2, 1) for i in range(clothes)] + [("multi", 1, 3)]
        for request_id, version, n in requests:
            # Some near ties (hard), some sure answers.
            logits = rng.normal(0, 1, (n, len(CLASS_NAMES))) * rng.choice([0.2, 3.0])
            scores = _softmax(logits).astype(np.float32)
            if request_id == "multi":
                scores[:] = 0.25  # margin 0: logged with probability 1
            pixels = rng.integers(0, 256, (n, 784)).astype(np.int64)
            class_ids = np.argmax(scores, axis=1)
            arm = "canary" if version == 2 else ""
            logger.observe(
                CLOTHES,
                version,
                "serving_default",
                {"image": pixels},
                {"scores": scores, "class_ids": class_ids},
                trace=Trace(request_id, arm),
            )
            top_two = np.sort(scores.astype(np.float64), axis=1)[:, -2:]
            for row in range(n):
                margin = float(top_two[row, 1] - top_two[row, 0])
                feedback.sent.append(
                    Sent(
                        CLOTHES,
                        version,
                        request_id,
                        row,
                        arm,
                        float(class_ids[row]),
                        margin,
                        RATE + (HARD_RATE - RATE) * (1 - margin),
                        pixels[row],
                    )
                )
        for i in range(houses):
            value = float(rng.normal(200.0, 50.0))
            logger.observe(
                HOUSES,
                1,
                "serving_default",
                {"rooms": np.array([float(i)], np.float32), "color": np.array([b"red"], object)},
                {"predictions": np.array([value], np.float32)},
                trace=Trace(f"h{i}"),
            )
            prediction = float(np.float32(value))
            feedback.sent.append(Sent(HOUSES, 1, f"h{i}", 0, "", prediction, None, RATE))
    finally:
        logger.close()
    return feedback


@dataclasses.dataclass
class LabelApp:
    """The served routes: their base URL, the registry of /metrics, the live metrics."""

    url: str
    registry: CollectorRegistry
    live: LiveMetrics
    indexes: dict[str, FeedbackIndex]


@contextlib.contextmanager
def running_label_app(
    feedback: Feedback | None,
    reports_dir: str = "",
    registry: CollectorRegistry | None = None,
    **feedback_options,
):
    """Serves `:feedback`, /label/ and /metrics over `feedback` (None: the server logs no
    feedback) on a loopback port; each model's index is this process's own, as the logger's."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ServingMetrics(registry)
    live = LiveMetrics(registry, reports_dir)
    indexes: dict[str, FeedbackIndex] = {}
    lock = threading.Lock()

    def model_index(model: str) -> FeedbackIndex | None:
        if feedback is None:
            return None
        with lock:
            if model not in indexes:
                indexes[model] = FeedbackIndex(os.path.join(feedback.folder, model))
            return indexes[model]

    def task_of(model: str, version: int) -> TaskContract | None:
        return feedback.task_of(model, version) if feedback is not None else None

    async def prometheus(_request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(
        routes=[
            *feedback_routes(
                model_index, task_of, live, sample_rate=RATE, metrics=metrics, **feedback_options
            ),
            *labelling_routes(model_index, task_of),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LabelApp(f"http://127.0.0.1:{port}", registry, live, indexes)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        for index in indexes.values():
            index.close()
