"""A local run imports only what it runs (docs/architecture.md, "Start-up"): the Kubeflow,
Vertex AI and TFX extension modules load only for `dlwp compile` and the cluster commands."""

import json
import subprocess
import sys

CLUSTER_MODULES = (
    "google.cloud.aiplatform",
    "tfx.extensions",
    "tfx.v1",
    "tfx.orchestration.kubeflow",
    "kfp",
    "kfp.pipeline_spec",
)


def test_the_local_path_loads_no_cluster_module():
    code = (
        "import json, sys\n"
        "import pipelines.local_runner, pipelines.pipeline\n"
        f"print(json.dumps([m for m in {CLUSTER_MODULES!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == []
