"""Builds the kustomizations under k8s/ and reads what they produce, for tests/k8s.

text = build("gpu")                      # `kubectl kustomize k8s/overlays/gpu`
objects = documents(text)
for obj, pod in pod_templates(objects): ...
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys
from types import ModuleType

import jsonschema
import kubernetes_validate
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KUSTOMIZATIONS = {
    "base": REPO / "k8s" / "base",
    "gpu": REPO / "k8s" / "overlays" / "gpu",
    "tpu": REPO / "k8s" / "overlays" / "tpu",
    "monitoring": REPO / "k8s" / "overlays" / "monitoring",
    "retrain": REPO / "k8s" / "overlays" / "retrain",
    "multi-worker": REPO / "k8s" / "overlays" / "multi-worker",
}
# The oldest Kubernetes the manifests are meant for (the preStop sleep handler is on by default
# since 1.30) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def kubectl() -> str:
    """kubectl's path; kustomize is built into it."""
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl is not on PATH: tests/k8s build with `kubectl kustomize`")
    return found


def build(name: str) -> subprocess.CompletedProcess:
    """`kubectl kustomize` of one kustomization, as run (exit status, YAML, errors)."""
    return subprocess.run(
        [kubectl(), "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=120,
    )


def documents(text: str) -> list[dict]:
    """The objects of a multi-document YAML stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def object_name(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_templates(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(owner, pod template) for every object that creates pods (a CronJob's, its Jobs')."""
    found = [(obj, obj["spec"]["template"]) for obj in objects if obj["kind"] in POD_OWNERS]
    found += [
        (obj, obj["spec"]["jobTemplate"]["spec"]["template"])
        for obj in objects
        if obj["kind"] == "CronJob"
    ]
    return found


def containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def selector_matches(selector: dict, labels: dict) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


# kubernetes-validate ships schemas for the built-in kinds only: for the Prometheus Operator's
# kinds it raises SchemaNotFoundError (its command line merely warns). These schemas are written
# from the operator's CRDs (monitoring.coreos.com/v1, example/prometheus-operator-crd/): the
# required fields, and the type and pattern of every field these manifests use. Like strict
# mode, they refuse any other field, so a misspelt field fails instead of being ignored.
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
    r"(([0-9]+)ms)?)$",
}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
_LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "additionalProperties": False,
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def _custom_resource(kind: str, spec: dict, api_version: str = "monitoring.coreos.com/v1") -> dict:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


CUSTOM_RESOURCE_SCHEMAS = {
    "ServiceMonitor": _custom_resource(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _LABEL_SELECTOR,
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                        },
                    },
                },
            },
        },
    ),
    "PrometheusRule": _custom_resource(
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string", "minLength": 1},
                                        "record": {"type": "string", "minLength": 1},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
}

# AlertmanagerConfig (monitoring.coreos.com/v1alpha1, the operator's
# monitoring.coreos.com_alertmanagerconfigs.yaml): the route (its receiver, grouping, timing and
# matchers) and receivers with webhooks, the fields k8s/overlays/retrain uses.
_MATCHER = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "matchType": {"enum": ["!=", "=", "=~", "!~"]},
        "regex": {"type": "boolean"},
    },
}
_ROUTE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "receiver": {"type": "string"},
        "groupBy": {"type": "array", "items": {"type": "string"}},
        "groupWait": _DURATION,
        "groupInterval": _DURATION,
        "repeatInterval": _DURATION,
        "matchers": {"type": "array", "items": _MATCHER},
        "continue": {"type": "boolean"},
        "routes": {"type": "array"},
        "muteTimeIntervals": {"type": "array", "items": {"type": "string"}},
        "activeTimeIntervals": {"type": "array", "items": {"type": "string"}},
    },
}
_WEBHOOK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "sendResolved": {"type": "boolean"},
        "maxAlerts": {"type": "integer", "minimum": 0},
        "timeout": _DURATION,
    },
}
_ALERTMANAGER_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "route": _ROUTE,
        "receivers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "webhookConfigs": {"type": "array", "items": _WEBHOOK},
                },
            },
        },
    },
}
CUSTOM_RESOURCE_SCHEMAS["AlertmanagerConfig"] = _custom_resource(
    "AlertmanagerConfig", _ALERTMANAGER_CONFIG, "monitoring.coreos.com/v1alpha1"
)


def validate(obj: dict, version: str) -> None:
    """Validates one object: built-in kinds with kubernetes-validate in strict mode, the
    Prometheus Operator's kinds with CUSTOM_RESOURCE_SCHEMAS.

    Raises:
      kubernetes_validate.ValidationError, jsonschema.ValidationError: the object is invalid.
      kubernetes_validate.SchemaNotFoundError: a kind that neither knows.
    """
    schema = CUSTOM_RESOURCE_SCHEMAS.get(obj["kind"])
    if schema is None:
        kubernetes_validate.validate(obj, version, strict=True)
    else:
        jsonschema.Draft202012Validator(schema).validate(obj)


def checkov() -> str:
    """The checkov installed beside this Python (the project's virtual environment)."""
    path = pathlib.Path(sys.executable).parent / "checkov"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: `make install` installs checkov")
    return str(path)


def run_checkov(files: dict[str, str], folder: pathlib.Path) -> dict:
    """Runs checkov's Kubernetes checks once over several built manifests.

    Args:
      files: file name -> YAML text; the names tell the results apart.
      folder: where to write them.

    Returns:
      checkov's JSON report: `summary` and `results` (passed, failed and skipped checks).
    """
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text)
        paths += ["-f", str(folder / name)]
    # --skip-download: no call to the vendor's platform (there is no network in CI).
    done = subprocess.run(
        [
            checkov(),
            "--framework",
            "kubernetes",
            *paths,
            "--compact",
            "-o",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed ({done.returncode}): {done.stderr[-4000:]}")
    report = json.loads(done.stdout)
    # One report per framework: a list when there are several, the report itself otherwise.
    return report[0] if isinstance(report, list) else report


def sync() -> ModuleType:
    """k8s/sync.py as a module (it is a script, not part of a package)."""
    path = REPO / "k8s" / "sync.py"
    spec = importlib.util.spec_from_file_location("k8s_sync", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
