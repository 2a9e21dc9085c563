"""Runs a command as in the dlwp image: a read-only root filesystem, only /tmp writable.

No container engine runs here, so a mount namespace makes the same file system: `unshare`
remounts / read-only and keeps /tmp writable, where callers put HOME, DLWP_HOME and KERAS_HOME
as the image's environment does (Dockerfile). The checkout and its virtual environment (the
image's /app) are read-only too, even when the checkout itself lies under /tmp.
"""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Keep /tmp writable (the emptyDir), then make every other file system read-only, and the
# folders of $READ_ONLY_FOLDERS too, wherever they are.
READ_ONLY_ROOT = """
set -e
mount --bind /tmp /tmp
for folder in $READ_ONLY_FOLDERS; do mount --bind "$folder" "$folder"; done
for mount_point in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$mount_point" in
    /tmp|/tmp/*|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;;
    *) mount -o remount,bind,ro "$mount_point" ;;
  esac
done
for folder in $READ_ONLY_FOLDERS; do mount -o remount,bind,ro "$folder"; done
exec "$@"
"""


def in_read_only_root(command: list[str], env: dict, timeout_s: float):
    """Runs `command` in a private mount namespace whose root is read-only, /tmp excepted."""
    if not env["HOME"].startswith("/tmp/"):
        raise ValueError(f"HOME {env['HOME']} must be under /tmp, the one writable folder")
    read_only = {REPO, os.path.realpath(sys.prefix)}
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            READ_ONLY_ROOT,
            "sh",
            *command,
        ],
        env={**env, "READ_ONLY_FOLDERS": " ".join(sorted(read_only))},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def image_environment(writable: str) -> dict:
    """The Dockerfile's environment, its volumes made as folders under `writable` (in /tmp)."""
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "HOME": os.path.join(writable, "home"),
        "DLWP_HOME": os.path.join(writable, "dlwp"),
        "KERAS_HOME": os.path.join(writable, "dlwp", "keras"),
        "MPLCONFIGDIR": os.path.join(writable, "matplotlib"),
        "DLWP_WEB_DIR": os.path.join(REPO, "web"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("HOME", "DLWP_HOME"):
        os.makedirs(env[name], exist_ok=True)
    return env


def dlwp_in_read_only_root(args: list[str], writable: str, timeout_s: float = 900):
    """`dlwp ARGS` as the image runs it; a CompletedProcess with its text output."""
    return in_read_only_root(
        [sys.executable, "-m", "pipelines.cli", *args], image_environment(writable), timeout_s
    )
