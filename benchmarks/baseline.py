"""The serving benchmark's baseline: `dlwp serve` run from an earlier checkout of this repository,
side by side with the working tree's, so one run compares the two on the same machine state.

    git archive <rev> | tar -x -C /tmp/dlwp-base   # or: git worktree add /tmp/dlwp-base <rev>
    python -m benchmarks.serving --baseline /tmp/dlwp-base

The venv's `dlwp` package is an editable install of the working tree, so the baseline's servers
run with the checkout as their working folder and first on `PYTHONPATH`, through a launcher that
logs where `serving` and `pipelines` were imported from; `verify_code` checks that log.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass

# Variant names of the baseline's cells: `rest` → `rest_baseline`.
BASELINE_SUFFIX = "_baseline"
CODE_LINE_PREFIX = "dlwp code: "
# What `python -m pipelines.cli` does, after logging where the packages came from.
LAUNCHER = (
    "import runpy, serving, pipelines\n"
    f"print({CODE_LINE_PREFIX!r} + serving.__file__ + ' ' + pipelines.__file__, flush=True)\n"
    "runpy.run_module('pipelines.cli', run_name='__main__', alter_sys=True)\n"
)
# Files a checkout of this repository has, whatever its age.
REQUIRED_FILES = ("pipelines/cli.py", "serving/__init__.py")


class BaselineCodeError(RuntimeError):
    """The baseline folder is not a checkout, or a baseline server ran other code than its own."""


@dataclass(frozen=True)
class BaselineCheckout:
    """An earlier checkout: its folder and its commit (None when it is not a git checkout)."""

    root: str
    commit: str | None
    server_code_changed: bool | None

    @property
    def label(self) -> str:
        """The commit, or the folder's name when there is no commit."""
        return self.commit or os.path.basename(self.root)

    def as_dict(self) -> dict:
        """JSON-ready fields."""
        return {
            "dir": self.root,
            "commit": self.commit,
            "label": self.label,
            "server_code_changed": self.server_code_changed,
        }


def open_checkout(directory: str) -> BaselineCheckout:
    """The checkout in `directory`, with its commit when it is the top of a git work tree.

    Raises:
        BaselineCodeError: `directory` does not hold this repository's serving code.
    """
    root = os.path.realpath(directory)
    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise BaselineCodeError(
            f"--baseline {directory}: not a checkout of this repository (no {', '.join(missing)});"
            " make one with `git archive <rev> | tar -x -C DIR`"
        )
    commit, changed = git_state(root)
    return BaselineCheckout(root, commit, changed)


def checkout_or_usage_error(
    parser: argparse.ArgumentParser, directory: str | None
) -> BaselineCheckout | None:
    """The checkout `--baseline DIR` names (None without the flag); a folder that is not one
    ends the program with a usage error that says why."""
    if directory is None:
        return None
    try:
        return open_checkout(directory)
    except BaselineCodeError as error:
        parser.error(str(error))


def git_state(root: str) -> tuple[str | None, bool | None]:
    """(HEAD, whether serving/ or pipelines/ differ from it) of the work tree whose top is `root`;
    (None, None) when `root` is not one (an unpacked archive, or a folder inside another repo)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", root, *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        if os.path.realpath(git("rev-parse", "--show-toplevel")) != root:
            return None, None
        commit = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--", "serving", "pipelines")
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(changes)


def serve_command(serve_args: list[str]) -> list[str]:
    """The command that runs `dlwp serve <serve_args>` from the checkout (see `LAUNCHER`)."""
    return [sys.executable, "-c", LAUNCHER, *serve_args]


def serve_environment(checkout: BaselineCheckout) -> dict[str, str]:
    """Environment entries that put the checkout's packages before the editable install's."""
    paths = [checkout.root, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def verify_code(checkout: BaselineCheckout, server_name: str, log_path: str) -> list[str]:
    """The files the server's `serving` and `pipelines` came from, read from its log.

    Raises:
        BaselineCodeError: the log has no launcher line, or a package came from elsewhere.
    """
    with open(log_path, errors="replace") as log:
        lines = [line for line in log if line.startswith(CODE_LINE_PREFIX)]
    if not lines:
        raise BaselineCodeError(f"{server_name}: its log {log_path} does not say which code ran")
    origins = lines[0][len(CODE_LINE_PREFIX) :].split()
    foreign = [path for path in origins if not is_inside(path, checkout.root)]
    if foreign or len(origins) != 2:
        raise BaselineCodeError(
            f"{server_name} should run the code in {checkout.root} but imported {origins}"
        )
    return origins


def is_inside(path: str, root: str) -> bool:
    """Whether `path` (resolved) lies under the folder `root`."""
    return os.path.commonpath([os.path.realpath(path), root]) == root
