"""The stand-in Kubernetes API server (fake_kube_api.py) as a fixture of the tests here."""

import pytest
from fake_kube_api import ClusterState, fake_cluster


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """A fresh fake cluster per test, reached through $KUBECONFIG, polled without waiting."""
    from pipelines import k8s_client

    kubeconfig = tmp_path / "kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(k8s_client, "POLL_S", 0.01)
    state = ClusterState()
    with fake_cluster(state, str(kubeconfig)):
        yield state
