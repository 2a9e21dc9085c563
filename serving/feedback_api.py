"""`POST /v1/models/<model>:feedback`: a person's label of an answered request, joined to the
example the feedback log kept of it (book 6.3.3, docs/monitoring.md, "Audits").

    POST /v1/models/houses:feedback  {"request_id": "a1b2", "label": 3}
    POST /v1/models/news:feedback    [{"request_id": "c3", "index": 1, "label": "sports"}, ...]
    -> {"accepted": 2, "relabelled": 0}

The request id is the one the predict answer carried (`X-Request-Id`); `index` names the
example's row in a request of several (required then). A label is a class id (an integer
0..K-1), a class name (the version's task.json `class_names`) or, for regression, a finite
number; `"source": "page"` marks the labelling page's labels ("api" otherwise). A body of up
to MAX_LABELS items is stored all or nothing: any bad item is a 400 (an unknown request id a
404) naming the item, and nothing is stored. Relabelling an example replaces its label.

    routes = feedback_routes(logger.index, task_of, live, sample_rate=0.01)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute

# serving/rest.py registers the `segment` path convertor (a name without `:`, `/`) of the routes.
import serving.rest  # noqa: F401
from contract.features import ProblemType
from contract.feedback_index import FeedbackIndexError, Label, LoggedExample
from contract.task import TaskContract
from serving import json_codec
from serving.errors import (
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    ServingError,
    echo,
)
from serving.feedback_index import FeedbackIndex
from serving.live_metrics import LabelSink
from serving.metrics import ServingMetrics
from serving.model_specs import check_path
from serving.openapi import DocumentedRoute, Operation, error
from serving.request_ids import MAX_REQUEST_ID_CHARS

log = logging.getLogger("dlwp.serving")

MAX_LABELS = 1000
# 1,000 labels of 128-character ids take about 200 kB.
MAX_BODY_BYTES = 1024 * 1024
SOURCES = ("api", "page")
_ITEM_KEYS = frozenset({"request_id", "index", "label", "source"})
# The pipeline names models after datasets and CSV files in these characters (as
# serving/reports.py checks them): a model names a folder of the feedback log.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")

ModelIndex = Callable[[str], FeedbackIndex | None]
TaskOf = Callable[[str, int], TaskContract | None]


@dataclasses.dataclass(frozen=True)
class LabelDomain:
    """What a label of one version may be.

    Attributes:
        problem_type: binary, multiclass or regression.
        num_classes: K of a classifier when known (binary: 2), else None.
        class_names: the classes' names, when the task names them.
    """

    problem_type: str
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None

    @classmethod
    def of(cls, task: TaskContract | None, logged: LoggedExample) -> LabelDomain | None:
        """The domain from the version's task, else from what the log recorded; None when
        neither says the problem type."""
        if task is not None:
            kind = task.problem_type.value
            classes = task.num_classes
            if kind == ProblemType.BINARY.value and classes is None:
                classes = 2
            return cls(kind, classes, task.class_names or None)
        if logged.problem_type in (p.value for p in ProblemType):
            classes = 2 if logged.problem_type == ProblemType.BINARY.value else None
            return cls(logged.problem_type, classes)
        return None

    def value(self, label: Any) -> float:
        """The stored value of `label`: the class id (as a float) or the regression target.

        Raises:
            InvalidArgument: `label` is not in the domain (names what would be).
        """
        if isinstance(label, bool):
            raise InvalidArgument(f"label {echo(label)} is a boolean; give {self._expected()}")
        if self.problem_type == ProblemType.REGRESSION.value:
            if not isinstance(label, int | float) or not math.isfinite(label):
                raise InvalidArgument(
                    f"label {echo(label)} is not a finite number, the regression's target"
                )
            return float(label)
        if isinstance(label, str):
            if self.class_names and label in self.class_names:
                return float(self.class_names.index(label))
            raise InvalidArgument(
                f"label {echo(repr(label))} is not a class name; give {self._expected()}"
            )
        if not isinstance(label, int | float) or not math.isfinite(label):
            raise InvalidArgument(f"label {echo(label)} is not a class; give {self._expected()}")
        if not float(label).is_integer():
            raise InvalidArgument(
                f"label {echo(label)} is not a class id (an integer); give {self._expected()}"
            )
        class_id = int(label)
        if class_id < 0 or (self.num_classes is not None and class_id >= self.num_classes):
            raise InvalidArgument(f"label {class_id} is out of range; give {self._expected()}")
        return float(class_id)

    def _expected(self) -> str:
        ids = (
            f"a class id 0 to {self.num_classes - 1}"
            if self.num_classes is not None
            else "a class id (0 or more)"
        )
        if not self.class_names:
            return ids
        shown = ", ".join(repr(name) for name in self.class_names[:10])
        more = ", ..." if len(self.class_names) > 10 else ""
        return echo(f"{ids} or a class name ({shown}{more})")


@dataclasses.dataclass(frozen=True)
class _Item:
    position: int | None  # in a list body; None for a single object
    request_id: str
    index: int | None
    label: Any
    source: str

    def refuse(self, error: ServingError) -> ServingError:
        """`error`, its message prefixed with this item's position in a list body."""
        if self.position is None:
            return error
        return type(error)(f"item {self.position}: {error.message}")


def _item(position: int | None, value: Any) -> _Item:
    """One label of the body, its fields checked (not yet its request or label)."""
    where = "" if position is None else f"item {position}: "
    if not isinstance(value, dict):
        raise InvalidArgument(
            f'{where}a label is an object {{"request_id": "...", "label": ...}}, got {echo(value)}'
        )
    unknown = sorted(set(value) - _ITEM_KEYS)
    if unknown:
        raise InvalidArgument(
            f"{where}unknown field {echo(unknown[0])}; a label has request_id, label and "
            "optionally index and source"
        )
    request_id = value.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID_CHARS:
        raise InvalidArgument(
            f"{where}request_id must be the predict answer's X-Request-Id (1 to "
            f"{MAX_REQUEST_ID_CHARS} characters), got {echo(request_id)}"
        )
    if "label" not in value:
        raise InvalidArgument(f"{where}no label for request {echo(request_id)}")
    index = value.get("index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise InvalidArgument(
            f"{where}index must be the example's row in its request (an integer from 0), got "
            f"{echo(index)}"
        )
    source = value.get("source", "api")
    if source not in SOURCES:
        raise InvalidArgument(f"{where}source must be 'api' or 'page', got {echo(source)}")
    return _Item(position, request_id, index, value["label"], source)


def parse_items(body: Any) -> list[_Item]:
    """The labels of a body: one object or a list of 1 to MAX_LABELS objects.

    Raises:
        InvalidArgument: the body is not that, or an item's fields are wrong (names the item).
    """
    if isinstance(body, dict):
        return [_item(None, body)]
    if not isinstance(body, list) or not body:
        raise InvalidArgument(
            'the body is a label {"request_id": "...", "label": ...} or a non-empty list of them'
        )
    if len(body) > MAX_LABELS:
        raise InvalidArgument(f"the body has {len(body)} labels, more than {MAX_LABELS}; split it")
    return [_item(position, value) for position, value in enumerate(body)]


class ModelIndexes:
    """model -> its feedback index, or the error that says why there is none (the `:feedback`
    route and the labelling page share it).

    Args:
        model_index: model -> its index (the feedback logger's `index`), or None when the
            server logs no feedback; it may raise FeedbackIndexError (a gs:// folder).
    """

    def __init__(self, model_index: ModelIndex):
        self._model_index = model_index

    @staticmethod
    def check_name(model: str) -> str:
        """`model`, if it is a plain name (it names a folder of the feedback log).

        Raises:
            NotFound: it is not (`..`, a hidden name, a control character).
        """
        if not _PLAIN_NAME.fullmatch(model):
            raise NotFound(
                f"no feedback log of model {echo(repr(model))}: a model name is letters, "
                "digits, '_', '-' and '.' (not first)"
            )
        return model

    def __call__(self, model: str) -> FeedbackIndex:
        """The index of `model`.

        Raises:
            NotFound: `model` is not a plain name.
            FailedPrecondition: the server logs no feedback, or its folder has no index.
        """
        self.check_name(model)
        try:
            found = self._model_index(model)
        except FeedbackIndexError as off:
            raise FailedPrecondition(f"labels are off: {off}") from None
        if found is None:
            raise FailedPrecondition(
                "this server logs no feedback, so it has nothing to label: serve with "
                "dlwp serve --feedback-rate R"
            )
        return found


def _logged_row(index: FeedbackIndex, model: str, item: _Item, rate_hint: str) -> LoggedExample:
    """The logged example an item labels (the latest, when its id was logged twice).

    Raises:
        NotFound: the request (or its row `index`) is not in the log.
        InvalidArgument: `index` is missing and the request logged another row than 0.
    """
    rows = index.find(item.request_id)
    if not rows:
        raise NotFound(
            f"request id {echo(item.request_id)} is not in the feedback log of {model}: it was "
            f"not sampled ({rate_hint}) or was never answered here"
        )
    logged_rows = sorted({row.index for row in rows})
    if item.index is None:
        if logged_rows != [0]:
            raise InvalidArgument(
                f"request {echo(item.request_id)} logged its examples {logged_rows[:10]}: say "
                'which one the label is for with "index"'
            )
        wanted = 0
    else:
        wanted = item.index
    matching = [row for row in rows if row.index == wanted]
    if not matching:
        raise NotFound(
            f"request {echo(item.request_id)} has no logged example {wanted}: the log kept "
            f"{logged_rows[:10]} (each example is sampled on its own)"
        )
    return max(matching, key=lambda row: row.logged_at_ms)


def store_labels(
    index: FeedbackIndex,
    model: str,
    items: Sequence[_Item],
    task_of: TaskOf,
    live: LabelSink | None = None,
    rate_hint: str = "--feedback-rate",
) -> dict[str, int]:
    """Checks every item against the log and its version's task, then stores them all at once
    and joins them into the live metrics. Blocking (SQLite): run it in a thread.

    Returns:
        {"accepted": n, "relabelled": k}.

    Raises:
        NotFound, InvalidArgument, FailedPrecondition: an item is refused (nothing stored).
    """
    now_ms = int(time.time() * 1000)
    labels: list[Label] = []
    logged: list[LoggedExample] = []
    seen: dict[tuple[str, int], int | None] = {}
    for item in items:
        try:
            row = _logged_row(index, model, item, rate_hint)
            if row.key in seen:
                first = seen[row.key]
                raise InvalidArgument(
                    f"it labels the same example as item {first} (request "
                    f"{echo(row.request_id)}, index {row.index}); send one label per example"
                )
            domain = LabelDomain.of(task_of(model, row.version), row)
            if domain is None:
                raise FailedPrecondition(
                    f"version {row.version} of {model} carries no task.json and its answers "
                    "do not say the problem type: labels need a version pushed by dlwp run"
                )
            value = domain.value(item.label)
        except ServingError as refused:
            raise item.refuse(refused) from None
        seen[row.key] = item.position
        logged.append(row)
        labels.append(Label(row.request_id, row.index, value, now_ms, item.source))
    if live is not None:
        live.restore(model, index)  # before the new labels, so they count once
    previous = index.add_labels(labels)
    if live is not None:
        for row, label, old in zip(logged, labels, previous, strict=True):
            live.add(row, label, old)
    return {"accepted": len(labels), "relabelled": sum(old is not None for old in previous)}


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"the body is larger than the limit of {limit} bytes; send at most "
                    f"{MAX_LABELS} labels a request"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise Cancelled("the client closed the connection while sending the body") from None
    return b"".join(chunks)


def _json(content: Any, status: int = 200) -> Response:
    return Response(json_codec.dumps(content), status, media_type="application/json")


def feedback_routes(
    model_index: ModelIndex,
    task_of: TaskOf,
    live: LabelSink | None = None,
    *,
    sample_rate: float | None = None,
    metrics: ServingMetrics | None = None,
    is_served: Callable[[str], bool] = lambda _model: True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> list[BaseRoute]:
    """The `:feedback` route; it goes before the `/v1/models/{path:path}` catch-all.

    Args:
        model_index: model -> its feedback index (the feedback logger's `index`), or None when
            the server logs no feedback; it may raise FeedbackIndexError (a gs:// folder).
        task_of: (model, version) -> the version's task (serving/version_task.py), or None.
        live: the live metrics to join the labels into, or None.
        sample_rate: `--feedback-rate`, for the message of an unknown request id.
        metrics: counts each request as `dlwp_request_count{api="feedback"}`, when given.
        is_served: whether a model is served (the metrics' `model` label; see metrics.py).
        max_body_bytes: a larger body is refused (413).
    """
    rate_hint = f"--feedback-rate {sample_rate:g}" if sample_rate else "--feedback-rate"

    index_of = ModelIndexes(model_index)

    async def feedback(request: Request) -> Response:
        model = request.path_params["model"]
        observed = (
            metrics.observe("feedback", "rest", model, is_served)
            if metrics is not None
            else contextlib.nullcontext()
        )
        with observed as seen:
            try:
                check_path(request.method, request.scope["path"])
                raw = await _read_body(request, max_body_bytes)
                try:
                    items = parse_items(json_codec.loads(raw))
                except json_codec.InvalidJson as invalid:
                    raise InvalidArgument(str(invalid)) from None
                index = index_of(model)
                answer = await run_in_threadpool(
                    store_labels, index, model, items, task_of, live, rate_hint
                )
                return _json(answer)
            except ServingError as refused:
                if seen is not None:
                    seen.code = refused.grpc_code.name
                return _json({"error": refused.message}, refused.http_status)
            except FeedbackIndexError as broken:  # a logged record moved, a read-only index
                if seen is not None:
                    seen.code = FailedPrecondition.grpc_code.name
                return _json({"error": f"labels are off: {broken}"}, FailedPrecondition.http_status)
            except Exception as bug:  # still TF Serving's error shape
                log.exception("internal error on POST %s", request.url.path)
                if seen is not None:
                    seen.code = "INTERNAL"
                return _json(
                    {"error": f"internal error: {type(bug).__name__}: {echo(str(bug))}"}, 500
                )

    responses = {
        "200": {
            "description": "stored: how many labels, and how many replaced an earlier label",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "accepted": {"type": "integer"},
                            "relabelled": {"type": "integer"},
                        },
                    }
                }
            },
        },
        "400": error("a bad item (the error names it; nothing is stored), or feedback is off"),
        "404": error("a request id (or its index) is not in the feedback log"),
        "413": error(f"the body is larger than {max_body_bytes} bytes"),
    }
    return [
        DocumentedRoute(
            "/v1/models/{model:segment}:feedback",
            feedback,
            Operation(
                'Label answered requests: {"request_id", "label", "index"?, "source"?} or a '
                f"list of up to {MAX_LABELS}, all or nothing",
                responses,
            ),
            methods=["POST"],
            name="feedback",
        )
    ]
