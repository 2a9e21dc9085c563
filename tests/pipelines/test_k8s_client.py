"""`dlwp k8s run` through the official kubernetes client, against a stand-in API server.

The API server is a mock (tests/pipelines/fake_kube_api.py): no cluster can run here. What is
real: the kubeconfig loading, the client's requests and its errors, and dlwp's handling of them.
"""

from cli_runner import run_dlwp


def k8s_run(*flags: str) -> tuple[int, str, str]:
    return run_dlwp("k8s", "run", "fashion_mnist", "--image", "registry.invalid/dlwp:1", *flags)


def test_follow_streams_the_log_and_returns_the_exit_code(cluster):
    cluster.exit_code = 1  # dlwp run's "the workflow said no"
    code, out, err = k8s_run("--follow", "--", "--epochs", "2")
    assert code == 1, err
    assert "step ExampleGen done\nstep Trainer done\n" in out
    assert "ended with exit code 1" in out
    (job,) = cluster.created
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--epochs", "2"]


def test_created_job_is_the_dry_run_job(cluster):
    import yaml

    _, printed, _ = k8s_run("--dry-run")
    assert cluster.created == []  # a dry run talks to no cluster
    code, out, err = k8s_run()
    assert code == 0, err
    (created,) = cluster.created
    expected = yaml.safe_load(printed)
    for job in (created, expected):
        job["metadata"].pop("name")  # a time stamp
    assert created == expected
    assert "kubectl logs -n dlwp -f job/dlwp-run-fashion-mnist-" in out


def test_success_returns_0(cluster):
    code, out, err = k8s_run("--follow")
    assert code == 0, err
    assert "step Trainer done\n" in out
    assert out.rstrip().endswith("ended with exit code 0")


def test_missing_claim_says_to_apply_the_base_manifests(cluster):
    cluster.claims.clear()
    code, _, err = k8s_run("--follow")
    assert code == 2
    assert "persistentvolumeclaim dlwp-home does not exist in namespace dlwp" in err
    assert "kubectl apply -k k8s/base" in err
    assert cluster.created == []


def test_missing_service_account_is_named(cluster):
    cluster.service_accounts.clear()
    code, _, err = k8s_run()
    assert code == 2 and "serviceaccount dlwp-pipeline" in err


def test_refused_creation_reports_the_api_server_answer(cluster):
    cluster.create_status = 403
    code, _, err = k8s_run()
    assert code == 2
    assert "403" in err and "forbidden: quota" in err


def test_image_that_cannot_be_pulled_stops_the_wait(cluster):
    cluster.pod_phases = ["Pending"]
    cluster.waiting_reason = "ImagePullBackOff"
    code, _, err = k8s_run("--follow")
    assert code == 2
    assert "cannot start" in err and "ImagePullBackOff" in err


def test_job_refused_at_admission_stops_the_wait(cluster):
    cluster.job_failure = 'pods "x" is forbidden: violates PodSecurity "restricted"'
    code, _, err = k8s_run("--follow")
    assert code == 2
    assert "violates PodSecurity" in err


def test_no_cluster_configured_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = k8s_run()
    assert code == 2
    assert "no Kubernetes cluster configured" in err and "--dry-run" in err
