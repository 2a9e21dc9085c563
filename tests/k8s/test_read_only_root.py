"""The images' promise (Dockerfile, k8s/): dlwp writes only to /tmp, its home and $DLWP_HOME,
the volumes of its pods; everything else is a read-only root filesystem. The harness
(tests/read_only_root.py) is checked here; tests/e2e/test_local_runs.py runs a whole pipeline
in it."""

import os

from read_only_root import REPO, image_environment, in_read_only_root


def test_the_namespace_refuses_writes_outside_tmp(tmp_path):
    env = image_environment(str(tmp_path))
    outside = os.path.join(REPO, ".read-only-probe")
    inside = os.path.join(env["HOME"], "probe")
    result = in_read_only_root(
        ["sh", "-c", f"touch {inside} && ! touch {outside} 2>/dev/null"], env, 30
    )
    assert result.returncode == 0, result.stderr
    assert os.path.exists(inside) and not os.path.exists(outside)
