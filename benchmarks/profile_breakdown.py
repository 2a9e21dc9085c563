"""Where a REST predict request's time goes in `dlwp serve`, from a pstats file of the server.

cProfile's times are wall-clock: a function's cumulative time includes the time its thread waited
for the GIL or for a core while inside it. A coroutine's cumulative time covers only the slices
in which it ran (each `await` that suspends it ends one), so time spent suspended is not in it.
Each part below is a cumulative time divided by the number of predict requests the server
handled; what the client measured beyond the parts' sum is time spent waiting.

    breakdown = request_time_breakdown("server.pstats", client_mean_ms=24.2)
"""

from __future__ import annotations

import pstats
from dataclasses import dataclass

# A function in pstats: (file path suffix, function name).
FunctionKey = tuple[str, str]

UVICORN_HTTP = "uvicorn/protocols/http/httptools_impl.py"
REQUEST_COUNTER: FunctionKey = ("serving/rest_tensors.py", "predict_inputs")


@dataclass(frozen=True)
class Part:
    """A share of a request: the cumulative time of `functions` less that of `minus`."""

    name: str
    where: str
    functions: tuple[FunctionKey, ...]
    minus: tuple[FunctionKey, ...] = ()


PARTS = (
    Part(
        "http_server: parse the request (uvicorn + httptools)",
        "event loop",
        ((UVICORN_HTTP, "data_received"),),
    ),
    Part("http_server: write the response (uvicorn send)", "event loop", ((UVICORN_HTTP, "send"),)),
    Part(
        "asgi framework (starlette routing and middleware)",
        "event loop",
        ((UVICORN_HTTP, "run_asgi"),),
        (("serving/rest.py", "models"), (UVICORN_HTTP, "send")),
    ),
    Part("read the body", "event loop", (("serving/rest.py", "_read_body"),)),
    Part("json parse (orjson)", "event loop", (("serving/json_codec.py", "loads"),)),
    Part(
        "json → numpy, input checks",
        "event loop",
        (REQUEST_COUNTER, ("serving/signatures.py", "check_inputs")),
    ),
    Part(
        "serialize the response (numpy → json, Response)",
        "event loop",
        (("serving/rest_tensors.py", "predict_response"), ("serving/rest.py", "_json")),
    ),
    Part(
        "metrics",
        "event loop",
        (("serving/metrics.py", "__enter__"), ("serving/metrics.py", "__exit__")),
    ),
    Part(
        "rest of the handler (resolve, submit, await bookkeeping)",
        "event loop",
        (("serving/rest.py", "models"),),
        (
            ("serving/rest.py", "_read_body"),
            ("serving/json_codec.py", "loads"),
            REQUEST_COUNTER,
            ("serving/signatures.py", "check_inputs"),
            ("serving/rest_tensors.py", "predict_response"),
            ("serving/rest.py", "_json"),
            ("serving/metrics.py", "__enter__"),
            ("serving/metrics.py", "__exit__"),
        ),
    ),
    Part(
        "model call (Servable.run: tf.constant, signature, .numpy())",
        "model thread",
        (("serving/servable.py", "run"),),
    ),
    Part(
        "hand the result back to the event loop (future callbacks)",
        "model thread",
        (("concurrent/futures/_base.py", "_invoke_callbacks"),),
    ),
)

# Inside the model call: the TF runtime itself, and the conversions around it.
TFE_EXECUTE = "<built-in method tensorflow.python._pywrap_tfe.TFE_Py_Execute>"
MODEL_CALL_DETAIL = {
    "TF execute (TFE_Py_Execute)": ("~", TFE_EXECUTE),
    "tf.constant (inputs)": ("tensorflow/python/framework/constant_op.py", "constant"),
    ".numpy() (outputs)": ("tensorflow/python/framework/ops.py", "numpy"),
}


def _matches(entry: tuple[str, int, str], key: FunctionKey) -> bool:
    file_name, _line, function = entry
    return file_name.endswith(key[0]) and function == key[1]


def cumulative_s(stats: pstats.Stats, key: FunctionKey) -> float:
    """Cumulative seconds of every function matching `key` (all threads)."""
    return sum(value[3] for entry, value in stats.stats.items() if _matches(entry, key))


def call_count(stats: pstats.Stats, key: FunctionKey) -> int:
    """Primitive calls of the functions matching `key`."""
    return sum(value[0] for entry, value in stats.stats.items() if _matches(entry, key))


def event_loop_kind(stats: pstats.Stats) -> str:
    """ "asyncio" when the pure-Python asyncio loop ran the server, else "uvloop or other"."""
    ran_asyncio = call_count(stats, ("asyncio/base_events.py", "_run_once")) > 0
    return "asyncio (pure Python)" if ran_asyncio else "uvloop or other"


def request_time_breakdown(pstats_path: str, client_mean_ms: float) -> dict:
    """Per-request milliseconds of each part, and the waiting time the client saw beyond them.

    Args:
        pstats_path: the server's merged profile (all threads).
        client_mean_ms: the clients' mean latency in the profiled cell.
    """
    stats = pstats.Stats(pstats_path)
    requests = call_count(stats, REQUEST_COUNTER)
    if requests == 0:
        return {"error": "the profile holds no REST predict request"}

    def per_request_ms(keys: tuple[FunctionKey, ...]) -> float:
        return sum(cumulative_s(stats, key) for key in keys) * 1000.0 / requests

    parts = []
    for part in PARTS:
        milliseconds = per_request_ms(part.functions) - per_request_ms(part.minus)
        parts.append({"part": part.name, "where": part.where, "ms": round(milliseconds, 3)})
    active_ms = sum(part["ms"] for part in parts)
    waiting_ms = client_mean_ms - active_ms
    for part in parts:
        part["share"] = round(part["ms"] / client_mean_ms, 3)
    report = {
        "requests_profiled": requests,
        "event_loop": event_loop_kind(stats),
        "client_mean_ms": round(client_mean_ms, 3),
        "parts": parts,
        "active_ms": round(active_ms, 3),
        "waiting_ms": round(waiting_ms, 3),
        "waiting_share": round(waiting_ms / client_mean_ms, 3),
        "model_call_detail_ms": {
            name: round(per_request_ms((key,)), 3) for name, key in MODEL_CALL_DETAIL.items()
        },
        "note": (
            "cProfile wall-clock cumulative time per predict request (all threads), GIL and CPU "
            "waits inside a function included; waiting = client mean latency - sum of parts: "
            "time queued for the event loop, the model threads, the GIL or a core, plus the "
            "client and loopback. The profiler itself slows Python code."
        ),
    }
    if waiting_ms < 0:
        report["warning"] = (
            "the parts add up to more than the client's latency: some call was suspended for a "
            "long time (e.g. the process was stopped in the middle of it)"
        )
    return report
