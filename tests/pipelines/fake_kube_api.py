"""A stand-in Kubernetes API server on loopback, for `dlwp k8s run` against the real client.

A mock, because no cluster (nor kind, nor a container engine) can run on these machines: it
answers only the calls `pipelines/k8s_client.py` makes, in the API's JSON, so that the official
`kubernetes` client, its kubeconfig loading and its HTTP are exercised for real.
"""

import contextlib
import dataclasses
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml


@dataclasses.dataclass
class ClusterState:
    """What the fake cluster holds and how it answers."""

    claims: set = dataclasses.field(default_factory=lambda: {"dlwp-home"})
    service_accounts: set = dataclasses.field(default_factory=lambda: {"dlwp-pipeline"})
    create_status: int = 201
    pod_phases: list = dataclasses.field(default_factory=lambda: ["Pending", "Running"])
    waiting_reason: str = ""  # e.g. ImagePullBackOff while Pending
    log_lines: tuple = ("step ExampleGen done\n", "step Trainer done\n")
    exit_code: int = 0
    job_failure: str = ""  # a Failed condition's message, set on the Job
    created: list = dataclasses.field(default_factory=list)
    # Job name -> "Complete" or "Failed": the condition a listed Job has (none: still running).
    finished: dict = dataclasses.field(default_factory=dict)
    requests: list = dataclasses.field(default_factory=list)
    services: dict = dataclasses.field(default_factory=dict)  # name -> the created Service
    # An indexed Job's pods, listed once it is finished: (completion index, exit code) each.
    indexed_pods: tuple = ()


def _finished_condition(kind: str) -> dict:
    """A finished Job's condition: `Complete`, or `Failed` as the Job controller words it."""
    failed = kind == "Failed"
    return {
        "type": kind,
        "status": "True",
        "reason": "BackoffLimitExceeded" if failed else "",
        "message": "Job has reached the specified backoff limit" if failed else "",
    }


def _ended(exit_code: int) -> dict:
    """A pod's status once its container exited with `exit_code`."""
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "containerStatuses": [
            {
                "name": "dlwp",
                "image": "x",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code}},
            }
        ],
    }


def _pod(state: ClusterState, job_name: str, final: bool) -> dict:
    phase = state.pod_phases.pop(0) if len(state.pod_phases) > 1 else state.pod_phases[0]
    status: dict = {"phase": phase}
    if phase == "Pending" and state.waiting_reason:
        status["containerStatuses"] = [
            {
                "name": "dlwp",
                "image": "x",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": state.waiting_reason, "message": "pull failed"}},
            }
        ]
    if final:
        status = _ended(state.exit_code)
    return {
        "metadata": {"name": f"{job_name}-abcde", "labels": {"job-name": job_name}},
        "status": status,
    }


def _indexed_pods(state: ClusterState, job_name: str) -> list[dict]:
    return [
        {
            "metadata": {
                "name": f"{job_name}-{index}-x{index}",
                "labels": {"job-name": job_name},
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
            },
            "status": _ended(code),
        }
        for index, code in state.indexed_pods
    ]


def _handler(state: ClusterState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, body, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self, kind: str, name: str) -> None:
            self._send(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                    "message": f'{kind} "{name}" not found',
                },
            )

        def do_GET(self):  # noqa: N802 (http.server's name)
            state.requests.append(("GET", self.path))
            url = urllib.parse.urlsplit(self.path)
            path, query = url.path, urllib.parse.parse_qs(url.query)
            if m := re.fullmatch(
                r"/api/v1/namespaces/([^/]+)/persistentvolumeclaims/([^/]+)", path
            ):
                if m[2] not in state.claims:
                    return self._not_found("persistentvolumeclaims", m[2])
                return self._send(200, {"metadata": {"name": m[2]}, "spec": {}})
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)", path):
                if m[2] not in state.service_accounts:
                    return self._not_found("serviceaccounts", m[2])
                return self._send(200, {"metadata": {"name": m[2]}})
            if m := re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)/status", path):
                conditions = (
                    [
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "FailedCreate",
                            "message": state.job_failure,
                        }
                    ]
                    if state.job_failure
                    else []
                )
                if m[2] in state.finished:
                    conditions = [_finished_condition(state.finished[m[2]])]
                return self._send(
                    200, {"metadata": {"name": m[2]}, "status": {"conditions": conditions}}
                )
            if m := re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs", path):
                wanted = dict(
                    pair.split("=", 1)
                    for pair in query.get("labelSelector", [""])[0].split(",")
                    if pair
                )
                items = [
                    {
                        **job,
                        "status": {"conditions": [_finished_condition(state.finished[name])]}
                        if (name := job["metadata"]["name"]) in state.finished
                        else {"active": 1},
                    }
                    for job in state.created
                    if job["metadata"].get("namespace") == m[1]
                    and wanted.items() <= job["metadata"].get("labels", {}).items()
                ]
                return self._send(200, {"items": items, "metadata": {}})
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path):
                job = query["labelSelector"][0].removeprefix("job-name=")
                if state.indexed_pods:
                    return self._send(200, {"items": _indexed_pods(state, job), "metadata": {}})
                if state.job_failure:
                    return self._send(200, {"items": [], "metadata": {}})
                return self._send(200, {"items": [_pod(state, job, False)], "metadata": {}})
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path):
                return self._send(200, "".join(state.log_lines).encode(), "text/plain")
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)", path):
                return self._send(200, _pod(state, m[2].rsplit("-", 1)[0], True))
            return self._not_found("path", path)

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(("POST", self.path))
            if re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs", self.path):
                job = json.loads(body)
                if state.create_status != 201:
                    return self._send(
                        state.create_status,
                        {
                            "kind": "Status",
                            "status": "Failure",
                            "code": state.create_status,
                            "reason": "Forbidden",
                            "message": "jobs.batch is forbidden: quota",
                        },
                    )
                state.created.append(job)
                return self._send(201, job)
            if re.fullmatch(r"/api/v1/namespaces/([^/]+)/services", self.path):
                service = json.loads(body)
                state.services[service["metadata"]["name"]] = service
                return self._send(201, service)
            return self._not_found("path", self.path)

        def do_DELETE(self):  # noqa: N802
            state.requests.append(("DELETE", self.path))
            if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/services/([^/]+)", self.path):
                if state.services.pop(m[2], None) is None:
                    return self._not_found("services", m[2])
                return self._send(200, {"kind": "Status", "status": "Success"})
            return self._not_found("path", self.path)

    return Handler


@contextlib.contextmanager
def fake_cluster(state: ClusterState, kubeconfig_path: str) -> Iterator[ClusterState]:
    """Serves `state` on a free loopback port and writes a kubeconfig that points at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "fake",
        "clusters": [
            {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
        ],
        "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }
    with open(kubeconfig_path, "w") as f:
        yaml.safe_dump(kubeconfig, f)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
