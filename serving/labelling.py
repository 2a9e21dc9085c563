"""The labelling page (book 6.3.4: collect hard samples, label them; docs/monitoring.md,
"Audits"): the logged examples no one has labelled yet, the model's least sure answers first,
each shown the way a person looks at it, with a button per class.

    GET /label/M/                 the page (serving/templates/label.html.j2, label.js, label.css)
    GET /label/M                  307 to /label/M/
    GET /label/M/queue?limit=N    JSON: the N hardest unlabelled examples (default 10, at most 100)

A queue item: request_id, index, version, arm, margin (0: hardest; null for regression),
probability (the sampling probability), problem_type, prediction (the class name when the task
names its classes, else the class id or the regression value), choices (the classes, as
{"id", "name"}; null for regression) and the example: `{"image": "data:image/png;..."}` for a
784-pixel `image` feature (28x28 grey, enlarged), else `{"table": [[feature, value], ...]}` in
the task's feature order (word sequences as their indices). The page posts each label to
`POST /v1/models/M:feedback` with `"source": "page"` (serving/feedback_api.py).

The page loads only its own script and style and shows data: images (a strict
Content-Security-Policy): the examples are production data, shown on the API's own origin.
Values reach the page as JSON and are written as text, never as HTML; the template is
autoescaped.

    routes = labelling_routes(logger.index, task_of)
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import jinja2
import tensorflow as tf
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

# serving/rest.py registers the `segment` path convertor (a name without `:`, `/`) of the routes.
import serving.rest  # noqa: F401
from contract.example_images import IMAGE_SIDE, image_png
from contract.features import FeatureKind, ProblemType
from contract.feedback_index import FeedbackIndexError, IndexReader, LoggedExample
from contract.task import TaskContract
from serving import json_codec
from serving.errors import FailedPrecondition, InvalidArgument, ServingError, echo
from serving.feedback import (
    ARM_FEATURE,
    LOGGED_AT_FEATURE,
    MARGIN_FEATURE,
    MODEL_VERSION_FEATURE,
    PREDICTION_PREFIX,
    REQUEST_ID_FEATURE,
    REQUEST_INDEX_FEATURE,
    SAMPLING_PROBABILITY_FEATURE,
)
from serving.feedback_api import ModelIndex, ModelIndexes, TaskOf
from serving.model_specs import check_path
from serving.openapi import DocumentedRoute, Operation, error, text_answer

TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
PAGE_TEMPLATE = "label.html.j2"
STATIC_FILES = {"label.js": "text/javascript", "label.css": "text/css"}
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
# The page runs its own script and style, shows data: images and talks to its own origin only.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
}
# What the feedback log adds to an example (serving/feedback.py): not the example itself.
_LOG_FEATURES = frozenset(
    {
        MODEL_VERSION_FEATURE,
        LOGGED_AT_FEATURE,
        REQUEST_ID_FEATURE,
        REQUEST_INDEX_FEATURE,
        ARM_FEATURE,
        SAMPLING_PROBABILITY_FEATURE,
        MARGIN_FEATURE,
    }
)
_IMAGE = "image"


@functools.lru_cache(maxsize=1)
def _page_template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template(PAGE_TEMPLATE)


def render_page(model: str) -> str:
    """The labelling page of `model` (it fetches its queue itself)."""
    return _page_template().render(model=model, limit=DEFAULT_LIMIT)


def _values(feature: tf.train.Feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _text(values: list) -> str:
    """A table cell: "" when missing, bytes decoded, floats in their shortest float32 form,
    several values (a word sequence) as their indices separated by spaces."""
    shown = []
    for value in values:
        if isinstance(value, bytes):
            shown.append(value.decode("utf-8", errors="replace"))
        elif isinstance(value, float):
            shown.append(f"{value:.7g}")
        else:
            shown.append(str(value))
    return " ".join(shown)


def render_example(serialized: bytes, task: TaskContract | None) -> dict[str, Any]:
    """How the page shows one logged tf.Example: `{"image": data URI}` for a 784-pixel
    `image` feature, else `{"table": [[name, value], ...]}` (the task's features first, in
    its order; the log's own features and the model's answer left out)."""
    features = tf.train.Example.FromString(serialized).features.feature
    shown = {
        name: _values(feature)
        for name, feature in features.items()
        if name not in _LOG_FEATURES and not name.startswith(PREDICTION_PREFIX)
    }
    kinds = task.kinds if task is not None else {}
    pixels = shown.get(_IMAGE)
    if (
        pixels is not None
        and kinds.get(_IMAGE, FeatureKind.IMAGE) is FeatureKind.IMAGE
        and len(pixels) == IMAGE_SIDE * IMAGE_SIDE
    ):
        return {"image": image_png(pixels)}
    order = [name for name in kinds if name in shown] + sorted(set(shown) - set(kinds))
    return {"table": [[name, _text(shown[name])] for name in order]}


def _choices(task: TaskContract | None, logged: LoggedExample) -> list[dict] | None:
    """The classes a label may be, as {"id", "name"}; None for regression."""
    problem_type = task.problem_type.value if task is not None else logged.problem_type
    if problem_type == ProblemType.REGRESSION.value:
        return None
    names = list(task.class_names or ()) if task is not None else []
    count = (task.num_classes if task is not None else None) or len(names) or 2
    return [{"id": i, "name": names[i] if i < len(names) else str(i)} for i in range(count)]


def _prediction(task: TaskContract | None, logged: LoggedExample) -> Any:
    if not math.isfinite(logged.prediction):
        return None
    if logged.problem_type == ProblemType.REGRESSION.value:
        return logged.prediction
    class_id = int(logged.prediction)
    names = (task.class_names or ()) if task is not None else ()
    return names[class_id] if 0 <= class_id < len(names) else class_id


def queue_items(
    index: IndexReader, model: str, task_of: TaskOf, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """The `limit` hardest unlabelled examples of `model`, as the queue answers them.
    Blocking (SQLite, the TFRecord files): run it in a thread.

    Raises:
        FeedbackIndexError: a logged record is no longer in its file.
    """
    rows = index.unlabelled(limit)
    records = index.read_examples(rows) if rows else []
    items = []
    for logged, record in zip(rows, records, strict=True):
        task = task_of(model, logged.version)
        items.append(
            {
                "request_id": logged.request_id,
                "index": logged.index,
                "version": logged.version,
                "arm": logged.arm,
                "margin": logged.margin,
                "probability": logged.probability,
                "problem_type": logged.problem_type,
                "prediction": _prediction(task, logged),
                "choices": _choices(task, logged),
                "example": render_example(record, task),
            }
        )
    return items


def _limit(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be an integer from 1 to {MAX_LIMIT}, got {echo(text)}")
    return int(text)


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        json_codec.dumps(content),
        status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def labelling_routes(model_index: ModelIndex, task_of: TaskOf) -> list[BaseRoute]:
    """The labelling page's routes (module docstring).

    Args:
        model_index: model -> its feedback index, or None when the server logs no feedback
            (as for serving/feedback_api.feedback_routes).
        task_of: (model, version) -> the version's task, or None.
    """
    index_of = ModelIndexes(model_index)

    async def page(request: Request) -> Response:
        try:
            check_path(request.method, request.scope["path"])
            model = index_of.check_name(request.path_params["model"])
        except ServingError as refused:
            return _json({"error": refused.message}, refused.http_status)
        return Response(render_page(model), media_type="text/html", headers=_PAGE_HEADERS)

    async def with_slash(request: Request) -> Response:
        try:
            check_path(request.method, request.scope["path"])
            model = index_of.check_name(request.path_params["model"])
        except ServingError as refused:
            return _json({"error": refused.message}, refused.http_status)
        return RedirectResponse(f"/label/{model}/", 307)

    async def queue(request: Request) -> Response:
        try:
            check_path(request.method, request.scope["path"])
            model = request.path_params["model"]
            limit = _limit(request)
            index = index_of(model)
            try:
                items = await run_in_threadpool(queue_items, index, model, task_of, limit)
            except FeedbackIndexError as broken:
                raise FailedPrecondition(str(broken)) from None
        except ServingError as refused:
            return _json({"error": refused.message}, refused.http_status)
        return _json({"model": model, "examples": items})

    def static(name: str):
        path = os.path.join(TEMPLATES_DIR, name)

        async def answer(_request: Request) -> Response:
            return FileResponse(
                path, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
            )

        return answer

    missing = {"404": error("the model name is not a plain name")}
    routes: list[BaseRoute] = [
        DocumentedRoute(
            f"/label/{name}",
            static(name),
            Operation(f"The labelling page's {name}", text_answer(media_type, name)),
            methods=["GET"],
        )
        for name, media_type in STATIC_FILES.items()
    ]
    routes += [
        DocumentedRoute(
            "/label/{model:segment}/",
            page,
            Operation(
                "The labelling page: the model's least sure answers first, a button per class",
                text_answer("text/html", "the page", missing),
            ),
            methods=["GET"],
        ),
        DocumentedRoute(
            "/label/{model:segment}/queue",
            queue,
            Operation(
                "The hardest unlabelled logged examples (margin ascending), rendered",
                {
                    "200": {
                        "description": "the examples, hardest first (see serving/labelling.py)",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "400": error("a bad limit, or the server logs no feedback"),
                    **missing,
                },
                query=(
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        "description": f"examples to answer (default {DEFAULT_LIMIT})",
                    },
                ),
            ),
            methods=["GET"],
        ),
        DocumentedRoute(
            "/label/{model:segment}",
            with_slash,
            Operation(
                "Redirects to the labelling page (/label/M/)",
                {"307": {"description": "Location: /label/M/"}, **missing},
            ),
            methods=["GET"],
        ),
    ]
    return routes
