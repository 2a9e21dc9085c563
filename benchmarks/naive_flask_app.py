"""The naive serving app the book warns about: Flask's dev server calling `model.predict`.

Per request: parse JSON → numpy → `model.predict` → `jsonify`. It answers TF Serving's REST paths
so the benchmark's load generator treats it like any other server.

    python -m benchmarks.naive_flask_app --keras-dir DIR --port 8080
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import numpy as np
from flask import Flask, jsonify, request


def create_app(models: dict) -> Flask:
    """A Flask app serving `models` (name → keras model) at `/v1/models/<name>[:predict]`."""
    app = Flask(__name__)

    @app.get("/v1/models/<name>")
    def model_status(name: str):
        if name not in models:
            return jsonify({"error": f"unknown model {name}"}), 404
        return jsonify({"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})

    @app.post("/v1/models/<name>:predict")
    def predict(name: str):
        if name not in models:
            return jsonify({"error": f"unknown model {name}"}), 404
        instances = np.asarray(request.get_json()["instances"], dtype=np.float32)
        predictions = models[name].predict(instances, verbose=0)
        return jsonify({"predictions": predictions.tolist()})

    return app


def load_keras_models(keras_dir: str) -> dict:
    """Loads every `<name>.keras` file of `keras_dir`, keyed by name."""
    import tf_keras as keras

    models = {}
    for file_name in sorted(os.listdir(keras_dir)):
        if file_name.endswith(".keras"):
            models[file_name.removesuffix(".keras")] = keras.models.load_model(
                os.path.join(keras_dir, file_name)
            )
    return models


def main(argv: Sequence[str] | None = None) -> int:
    """Loads the models and runs Flask's threaded dev server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-dir", required=True, help="folder of <name>.keras files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    app = create_app(load_keras_models(args.keras_dir))
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
