"""The anchor: the competent app a user would write in 20 lines instead of `dlwp serve`.

Starlette on uvicorn (uvloop, httptools), orjson, and the SavedModel's `serving_default` called in
Starlette's thread pool; TF Serving's REST paths, so wrk sends it the same request.

    python -m benchmarks.starlette_app --model-dir <models>/fashion_mnist/1 --port 8080
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import orjson
import tensorflow as tf
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

JSON = "application/json"


def create_app(model_dir: str, name: str) -> Starlette:
    """The app: `POST /v1/models/<name>:predict` ({"instances": [...]}) and the status GET."""
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]

    async def predict(request):
        instances = orjson.loads(await request.body())["instances"]
        outputs = await run_in_threadpool(serve, image=tf.constant(instances, tf.float32))
        scores, classes = outputs["scores"].numpy(), outputs["class_ids"].numpy()
        rows = [{"scores": s, "class_ids": int(c)} for s, c in zip(scores, classes, strict=True)]
        body = {"predictions": rows}  # TF Serving's row format, as dlwp serve answers
        return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type=JSON)

    async def status(request):
        state = {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}
        return Response(orjson.dumps(state), media_type=JSON)

    return Starlette(
        routes=[
            Route(f"/v1/models/{name}:predict", predict, methods=["POST"]),
            Route(f"/v1/models/{name}", status),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Loads the model and serves it until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="a SavedModel version directory")
    parser.add_argument("--name", default="fashion_mnist")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.model_dir, args.name), port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
