"""The REST API on 8501: TF Serving's paths and JSON, as a Starlette (ASGI) app.

    GET  /v1/models/M[/versions/V|/labels/L]             model status
    GET  /v1/models/M[/versions/V|/labels/L]/metadata    signature defs
    POST /v1/models/M[/versions/V|/labels/L]:predict|:classify|:regress
    GET  /metrics, /monitoring/prometheus/metrics        Prometheus
    GET  /healthz (liveness), /readyz (readiness), /v1/openapi.json
    GET  /monitoring/drift[?model=M]                     drift measurements (drift_monitor.py)
    GET  /demo/, /exports/...                            the browser demo (serving/demo.py)
    GET  /reports/M/V/..., /reports/M/latest/            the version reports (serving/reports.py)

`RestApi.routes` registers every route, one per path and HTTP method, each with its OpenAPI
description; the document at /v1/openapi.json is written from them (serving/openapi.py).
Every error is `{"error": msg}` with TF Serving's status code. Limits protect the server: the
body size (413), the JSON nesting depth (400), the requests in flight (429) and a per-request
deadline (504). A predict, classify or regress answer, errors too, carries the request's id
(`X-Request-Id`), the version that answered (`X-Model-Version`, once resolved) and the arm of
`--split` that chose it (`X-Split-Arm`; serving/request_ids.py, serving/traffic_split.py).
"""

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving import json_codec
from serving.backends import Backend, Target
from serving.body_decoding import JsonBodyDecoder
from serving.demo import demo_routes
from serving.errors import (
    Cancelled,
    DeadlineExceeded,
    InvalidArgument,
    PayloadTooLarge,
    RequestTimeout,
    ResourceExhausted,
    ServingError,
    Unavailable,
    echo,
    model_error,
)
from serving.examples import classifications, example_inputs, examples_from_json, regressions
from serving.http_protocol import CONNECTION_EVENTS, ConnectionEvents
from serving.metrics import INFERENCE_APIS, ServingMetrics
from serving.model_specs import ModelSpec, check_path, model_spec, parse_version
from serving.openapi import (
    TRACE_REQUEST_HEADERS,
    DocumentedRoute,
    Operation,
    document,
    error,
    json_answer,
    query_parameter,
    text_answer,
    traced_answer,
)
from serving.reports import report_routes
from serving.request_ids import (
    MODEL_VERSION_HEADER,
    REQUEST_ID_HEADER,
    SPLIT_ARM_HEADER,
    SPLIT_KEY_HEADER,
    Trace,
    new_request_id,
    request_id,
)
from serving.request_slots import RequestSlots, Slot
from serving.rest_tensors import predict_inputs, predict_response
from serving.settings import RestLimits
from serving.signatures import CLASSIFY_METHOD, REGRESS_METHOD, check_inputs, find_signature
from serving.traffic_split import TrafficSplit, route

log = logging.getLogger("dlwp.serving")


class _SegmentConvertor(StringConvertor):
    """A model name, version or label: one path segment without the `:` that starts a verb (nor
    a newline, where the catch-all route's `path` convertor stops too)."""

    regex = "[^/:\n]+"


register_url_convertor("segment", _SegmentConvertor())


@dataclasses.dataclass(frozen=True)
class _ModelVerb:
    """One of TF Serving's model requests: a route under the model, a version, and a label."""

    name: str  # also the `api` label of the metrics
    path_suffix: str
    method: str
    operation: Operation


# The hot verbs come first (Starlette tries the routes in order).
_MODEL_VERBS = (
    _ModelVerb(
        "predict",
        ":predict",
        "POST",
        Operation(
            "Predict: row (instances) or columnar (inputs) tensors",
            traced_answer("PredictResponse"),
            request_schema="PredictRequest",
            headers=TRACE_REQUEST_HEADERS,
        ),
    ),
    _ModelVerb(
        "classify",
        ":classify",
        "POST",
        Operation(
            "Classify tf.Examples",
            traced_answer("ClassifyResponse"),
            request_schema="ExamplesRequest",
            headers=TRACE_REQUEST_HEADERS,
        ),
    ),
    _ModelVerb(
        "regress",
        ":regress",
        "POST",
        Operation(
            "Regress tf.Examples",
            traced_answer("RegressResponse"),
            request_schema="ExamplesRequest",
            headers=TRACE_REQUEST_HEADERS,
        ),
    ),
    _ModelVerb(
        "metadata",
        "/metadata",
        "GET",
        Operation("Signature defs (GetModelMetadata)", json_answer("ModelMetadata")),
    ),
    _ModelVerb(
        "status", "", "GET", Operation("Model status (GetModelStatus)", json_answer("ModelStatus"))
    ),
)
_PROMETHEUS_TEXT = text_answer("text/plain", "Prometheus text format")


class ServerState:
    """Shared between the front ends and shutdown: draining turns readiness off and refuses
    new model requests (503) while those in flight finish; `slots` are the REST API's.
    `peers`: the shared readiness of `dlwp serve --workers N` (serving/worker_readiness.py),
    or None for one process."""

    def __init__(
        self, max_concurrent_requests: int = RestLimits.max_concurrent_requests, peers=None
    ):
        self.draining = False
        self.slots = RequestSlots(max_concurrent_requests)
        self.peers = peers


def _json(content: Any, status: int = 200) -> Response:
    return Response(json_codec.dumps(content), status, media_type="application/json")


def _error(error: ServingError) -> Response:
    return _json({"error": error.message}, error.http_status)


def _proto_json(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, including_default_value_fields=True
    )


_JOIN_ON_THE_LOOP_BYTES = 1 << 20


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise PayloadTooLarge(f"the body has {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    if size > _JOIN_ON_THE_LOOP_BYTES:
        # Joining 31 MB took 8-30 ms, which held the loop; bytes.join releases the GIL.
        return await asyncio.to_thread(b"".join, chunks)
    return b"".join(chunks)


class RestApi:
    """The request handlers; `app()` builds the ASGI application."""

    def __init__(
        self,
        backend: Backend,
        metrics: ServingMetrics,
        limits: RestLimits,
        state: ServerState,
        resolve_blocks: bool = False,
        web_dir: str = "",
        exports_dir: str = "",
        reports_dir: str = "",
        drift=None,
        decoder: JsonBodyDecoder | None = None,
        split: TrafficSplit | None = None,
        extra_routes: Sequence[BaseRoute] = (),
    ):
        self.backend, self.metrics, self.limits, self.state = backend, metrics, limits, state
        self.decoder = decoder or JsonBodyDecoder()
        # A gateway resolves over the network: keep that off the event loop.
        self._resolve_blocks = resolve_blocks
        self.web_dir, self.exports_dir = web_dir, exports_dir
        self.reports_dir = reports_dir  # "": no /reports/ routes
        self.drift = drift  # serving/drift_monitor.py, or None when it is off
        self.split = split  # serving/traffic_split.py, or None: no model is split
        # Routes of other modules under /v1/models/ (`:feedback`), tried before the catch-all.
        self.extra_routes = tuple(extra_routes)

    def app(self) -> Starlette:
        """The Starlette app with every route; its OpenAPI document is written once, here."""
        routes = self.routes()
        app = Starlette(
            routes=routes, exception_handlers={404: self._not_found, 405: self._not_allowed}
        )
        app.state.openapi_body = json_codec.dumps(document(routes))
        return app

    def routes(self) -> list[BaseRoute]:
        """Every route, one per path and HTTP method, each with its OpenAPI description.

        Starlette tries them in order: the requests sent most (predict, the probes) come first.
        """
        return [
            *self._model_routes(""),
            DocumentedRoute(
                "/healthz",
                self.liveness,
                Operation("Liveness", json_answer("Liveness", errors={})),
                methods=["GET"],
            ),
            DocumentedRoute(
                "/readyz",
                self.readiness,
                Operation(
                    "Readiness (models loaded, not draining)",
                    {
                        **json_answer("Readiness", errors={}),
                        "503": {"description": "not ready: loading, draining, or unreachable"},
                    },
                ),
                methods=["GET"],
            ),
            *self._model_routes("/versions/{version:segment}"),
            *self._model_routes("/labels/{label:segment}"),
            *self.extra_routes,
            # The rest of /v1/models/: TF Serving's "Malformed request" (400 or 404).
            Route(
                "/v1/models/{path:path}",
                self.malformed,
                methods=["GET", "POST"],
                include_in_schema=False,
            ),
            DocumentedRoute(
                "/metrics",
                self.prometheus,
                Operation("Prometheus metrics", _PROMETHEUS_TEXT),
                methods=["GET"],
            ),
            DocumentedRoute(
                "/monitoring/prometheus/metrics",
                self.prometheus,
                Operation("Prometheus metrics (TF Serving's path)", _PROMETHEUS_TEXT),
                methods=["GET"],
            ),
            DocumentedRoute(
                "/monitoring/drift",
                self.drift_status,
                Operation(
                    "The drift monitor's latest measurements, per model and version",
                    json_answer(
                        "DriftStatus",
                        errors={"404": error("the monitor is off, or has no measurement of M")},
                    ),
                    query=(query_parameter("model", "only this model's measurements"),),
                ),
                methods=["GET"],
            ),
            DocumentedRoute(
                "/v1/openapi.json",
                self.openapi,
                Operation("This OpenAPI document", json_answer("OpenAPI", errors={})),
                methods=["GET"],
            ),
            *demo_routes(self.web_dir, self.exports_dir),
            *(report_routes(self.reports_dir) if self.reports_dir else []),
        ]

    def _model_routes(self, scope: str) -> list[BaseRoute]:
        """The model routes under `scope` (none, a version or a label), one per verb."""
        routes: list[BaseRoute] = []
        for verb in _MODEL_VERBS:
            path = f"/v1/models/{{model:segment}}{scope}{verb.path_suffix}"
            endpoint = functools.partial(self.model_request, verb.name)
            route = DocumentedRoute(
                path, endpoint, verb.operation, methods=[verb.method], name=verb.name
            )
            # TF Serving answers GET and POST only (HEAD is a malformed request there);
            # Starlette adds HEAD to a GET route.
            route.methods = {verb.method}
            routes.append(route)
        return routes

    async def _not_found(self, request: Request, _exc) -> Response:
        if request.url.path.startswith(("/demo/", "/exports/", "/reports/")):
            return _json({"error": f"no such file: {echo(request.url.path)}"}, 404)
        return _json(
            {"error": f"Malformed request: {request.method} {echo(request.url.path)}"}, 404
        )

    async def _not_allowed(self, request: Request, _exc) -> Response:
        return _json({"error": f"{request.method} is not allowed on {echo(request.url.path)}"}, 405)

    async def liveness(self, _request: Request) -> Response:
        return _json({"status": "alive"})

    async def readiness(self, _request: Request) -> Response:
        peers = self.state.peers
        draining = self.state.draining or (peers is not None and peers.draining)
        ready = not draining and await run_in_threadpool(self.backend.ready)
        answer: dict[str, Any] = {"ready": ready, "draining": draining}
        if peers is not None:  # ready only when every worker is
            ready_workers = peers.ready_count()
            ready = ready and ready_workers == peers.workers
            answer.update(ready=ready, workers={"ready": ready_workers, "count": peers.workers})
        return _json(answer, 200 if ready else 503)

    async def prometheus(self, _request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return Response(request.app.state.openapi_body, media_type="application/json")

    async def drift_status(self, request: Request) -> Response:
        """The drift monitor's latest measurements, per model and version (`?model=M`)."""
        if self.drift is None:
            return _json({"error": "the drift monitor is off (dlwp serve --no-drift)"}, 404)
        status = self.drift.status()
        model = request.query_params.get("model")
        if model is not None:
            if model not in status:
                return _json(
                    {
                        "error": f"no drift measurements for model {echo(model)} yet: "
                        "it has no reference, or too few requests"
                    },
                    404,
                )
            status = {model: status[model]}
        return _json(status)

    async def malformed(self, request: Request) -> Response:
        """A path under /v1/models/ that no model route answers, answered as TF Serving does:
        400 when a model route has this path under another method, else 404."""
        known = any(
            route.matches(request.scope)[0] is Match.PARTIAL for route in request.app.router.routes
        )
        path = echo(request.path_params["path"])
        return _json(
            {"error": f"Malformed request: {request.method} /v1/models/{path}"},
            400 if known else 404,
        )

    async def model_request(self, verb: str, request: Request) -> Response:
        """A model route: `verb` (status, metadata, predict, classify, regress) on the model,
        version or label in the path, counted and limited.

        The body is read first, within `--body-timeout-s` (408); only then does the request
        take an in-flight slot (429 when none is free), so slow senders never hold one. An
        inference answer carries the trace headers, on errors too."""
        model = request.path_params["model"]
        inference = verb in INFERENCE_APIS
        trace: Trace | None = None
        with self.metrics.observe(verb, "rest", model, self.backend.is_served) as seen:
            try:
                check_path(request.method, request.scope["path"])
                number = request.path_params.get("version")
                spec = model_spec(
                    model,
                    None if number is None else parse_version(number),
                    request.path_params.get("label"),
                )
                if inference:
                    trace = Trace(request_id(request.headers.get(REQUEST_ID_HEADER)))
                raw = b"" if verb in ("status", "metadata") else await self._read_body(request)
                if self.state.draining:
                    raise Unavailable("the server is shutting down; retry on another replica")
                slot = self.state.slots.take()
                if slot is None:
                    raise ResourceExhausted(
                        f"{self.state.slots.taken} requests are in flight, the limit is "
                        f"{self.limits.max_concurrent_requests}; retry later"
                    )
                try:
                    if trace is not None:
                        spec, trace = route(
                            self.split,
                            spec,
                            trace,
                            request.headers.get(SPLIT_KEY_HEADER),
                            self.metrics.split_requests,
                        )
                    response = await self._answer(request, verb, spec, raw, seen, slot, trace)
                finally:
                    slot.release()
            except ServingError as error:
                seen.code = error.grpc_code.name
                response = _error(error)
            except Exception as error:  # a bug: still answer TF Serving's error shape
                log.exception("internal error on %s %s", request.method, request.url.path)
                seen.code = "INTERNAL"
                response = _json(
                    {"error": f"internal error: {type(error).__name__}: {echo(str(error))}"}, 500
                )
            if inference:
                _trace_headers(response, trace, seen.version)
            return response

    async def _read_body(self, request: Request) -> bytes:
        """The body, within the size limit; the connection (serving/http_protocol.py) cuts a
        body still incomplete after `--body-timeout-s`, and answers the 408 itself.

        Raises:
          PayloadTooLarge: over `--max-body-bytes`.
          RequestTimeout: not all there within `--body-timeout-s`.
          Cancelled: the client closed the connection first.
        """
        try:
            return await _read_body(request, self.limits.max_body_bytes)
        except ClientDisconnect:
            events = _connection_events(request)
            if events is not None and events.body_timed_out:
                raise RequestTimeout(
                    f"the body did not arrive within {self.limits.body_timeout_s:g} s "
                    "(--body-timeout-s)"
                ) from None
            raise Cancelled("the client closed the connection while sending the body") from None

    async def _answer(
        self,
        request: Request,
        verb: str,
        spec: ModelSpec,
        raw: bytes,
        seen,
        slot: Slot,
        trace: Trace | None,
    ) -> Response:
        if verb == "status":
            response = await self._maybe_blocking(
                self.backend.status, spec.model, spec.version, spec.label
            )
            return _json(_proto_json(response))
        body: dict[str, Any] = {}
        if verb != "metadata":
            body = await self.decoder.loads(raw)  # a JSON object, or InvalidArgument
            if not isinstance(body.get("signature_name", ""), str):
                raise InvalidArgument("'signature_name' must be a string")
        target = await self._maybe_blocking(
            self.backend.resolve, spec.model, spec.version, spec.label
        )
        try:
            seen.version = str(target.version)
            if verb == "metadata":
                return _json(self._metadata(target))
            return _json(await self._run(request, target, verb, body, len(raw), seen, slot, trace))
        finally:
            target.release()

    async def _maybe_blocking(self, function, *args):
        if self._resolve_blocks:
            return await run_in_threadpool(function, *args)
        return function(*args)

    def _metadata(self, target: Target) -> dict:
        spec = model_pb2.ModelSpec(name=target.model)
        spec.version.value = target.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in target.signature_defs.items():
            signatures.signature_def[name].CopyFrom(signature)
        return {
            "model_spec": _proto_json(spec),
            "metadata": {"signature_def": _proto_json(signatures)},
        }

    async def _run(
        self,
        request: Request,
        target: Target,
        verb: str,
        body: dict,
        body_bytes: int,
        seen,
        slot: Slot,
        trace: Trace | None,
    ) -> dict:
        requested = body.get("signature_name") or None
        limit = self.limits.max_batch_instances
        if verb == "predict":
            name, signature = find_signature(target.signature_defs, requested)
            inputs, row_format = await self.decoder.run(
                body_bytes, predict_inputs, body, signature, limit
            )
            check_inputs(name, signature, inputs)
            outputs = await self._submit(request, target, name, inputs, seen, slot, trace)
            return predict_response(outputs, row_format)
        serialized = await self.decoder.run(body_bytes, examples_from_json, body, limit)
        method = CLASSIFY_METHOD if verb == "classify" else REGRESS_METHOD
        name, inputs = example_inputs(target.signature_defs, requested, method, serialized)
        outputs = await self._submit(request, target, name, inputs, seen, slot, trace)
        if verb == "classify":
            return {"results": classifications(outputs, len(serialized))}
        return {"results": regressions(outputs, len(serialized))}

    async def _submit(
        self,
        request: Request,
        target: Target,
        signature_name: str,
        inputs,
        seen,
        slot: Slot,
        trace: Trace | None,
    ) -> dict:
        """The model's outputs, within `--request-timeout-s`.

        A model call whose client leaves, or whose deadline passes, is cancelled if it has not
        started; if it has, it keeps its slot and counts in flight until it ends.
        """
        future = target.submit(signature_name, inputs, trace)
        slot.hold_until_done(future)
        seen.hold_until_done(future)
        # Cancelling the waiter cancels the model call too, if it has not started.
        answer = asyncio.wrap_future(future)
        events = _connection_events(request)
        if events is not None:
            events.on_close(answer.cancel)
        try:
            return await asyncio.wait_for(answer, self.limits.request_timeout_s)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(
                f"the model did not answer within {self.limits.request_timeout_s} s"
            ) from None
        except asyncio.CancelledError:
            if events is not None and events.closed:
                raise Cancelled("the client closed the connection before the answer") from None
            raise
        except ServingError:
            raise
        except Exception as error:  # the model failed: TF's own status says whose fault
            raise model_error(error) from error


def _trace_headers(response: Response, trace: Trace | None, version: str) -> None:
    """Sets an inference answer's X-Request-Id (a new one when the client's was refused),
    X-Model-Version once the version was resolved, and X-Split-Arm when `--split` chose it."""
    headers = response.headers
    headers[REQUEST_ID_HEADER] = trace.request_id if trace is not None else new_request_id()
    if version:
        headers[MODEL_VERSION_HEADER] = version
    if trace is not None and trace.arm:
        headers[SPLIT_ARM_HEADER] = trace.arm


def _connection_events(request: Request) -> ConnectionEvents | None:
    """What the connection tells about this request (None under another server)."""
    return request.scope.get("extensions", {}).get(CONNECTION_EVENTS)
