"""Serving fixtures: tiny SavedModels written once, and real servers on loopback ports.

`running_server(settings)` runs the same ServingStack as `dlwp serve` (uvicorn + gRPC + the
model manager) in a background thread of the test process; the SIGTERM tests start the real
`dlwp serve` process instead.
"""

import pytest
from saved_models import write_toy_model
from servers import running_server, settings_for


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> str:
    """A folder of models: `toy` with version 1 (see saved_models.py)."""
    base = tmp_path_factory.mktemp("models")
    write_toy_model(str(base / "toy"), 1)
    return str(base)


@pytest.fixture(scope="session")
def toy_versions(tmp_path_factory) -> dict[int, str]:
    """Versions 1 and 2 of the toy model, written once, to copy into a test's own model
    folder with `saved_models.publish` (version -> folder)."""
    base = str(tmp_path_factory.mktemp("toy-versions"))
    return {version: write_toy_model(base, version) for version in (1, 2)}


@pytest.fixture(scope="session")
def toy_server(toy_models):
    """One server for the read-only API tests, with a small body limit (1 MiB)."""
    from serving.settings import RestLimits

    settings = settings_for(
        models_dir=toy_models,
        limits=RestLimits(
            max_body_bytes=1024 * 1024, max_concurrent_requests=64, request_timeout_s=10.0
        ),
    )
    with running_server(settings) as server:
        yield server


@pytest.fixture
def rest(toy_server):
    """An HTTP client to the toy server."""
    with toy_server.client() as client:
        yield client
