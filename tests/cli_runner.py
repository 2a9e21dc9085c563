"""Runs the `dlwp` CLI in the test process, capturing what it writes to fds 1 and 2.

A module of its own (not conftest.py) so that module-scoped fixtures can import it: several
conftest.py files exist, and `import conftest` finds whichever comes first on sys.path.
"""

import contextlib
import os
import sys
import tempfile


def run_dlwp(*args: str) -> tuple[int, str, str]:
    """Runs `dlwp` in this process; returns (exit code, terminal output, error output)."""
    from pipelines import cli

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        # pytest replaces sys.stdout/err with objects of its own: point them at the descriptors.
        stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = cli.main(list(args))
        finally:
            stdout.close()
            stderr.close()
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(), err.read().decode()
