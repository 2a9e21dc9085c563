"""The version-folder layout TF Serving reads, and how a folder or file is published whole.

A model's base folder holds one integer-named folder per version (`<base>/1/`, `<base>/2/`);
other entries (hidden staging folders, notes) are not versions. Publishing writes beside the
target (a hidden `.partial-*` folder, or `<file>.partial`), then renames, so a server polling
the folder never sees half a version. Paths go through tf.io.gfile, so `gs://` works; TensorFlow
is imported on first use, which keeps `import contract` cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def _gfile() -> Any:
    import tensorflow as tf

    return tf.io.gfile


def parse_version(name: str) -> int | None:
    """The version number of a folder name (`"3"` or `"3/"`), or None when it is not one."""
    name = name.rstrip("/")
    return int(name) if name.isascii() and name.isdigit() else None


def list_versions(base_dir: str) -> list[int]:
    """The integer-named version folders under `base_dir`, ascending (none when it is absent)."""
    gfile = _gfile()
    if not gfile.isdir(base_dir):
        return []
    versions = []
    for entry in gfile.listdir(base_dir):
        version = parse_version(entry)
        if version is not None and gfile.isdir(os.path.join(base_dir, entry.rstrip("/"))):
            versions.append(version)
    return sorted(versions)


def _staged(parent: str, name: str, fill: Callable[[str], None]) -> str:
    """A hidden staging folder `parent/.partial-<name>-<pid>` that `fill` has written; a fill
    that fails leaves none behind."""
    gfile = _gfile()
    staging = os.path.join(parent, f".partial-{name}-{os.getpid()}")
    if gfile.exists(staging):
        gfile.rmtree(staging)
    gfile.makedirs(staging)
    try:
        fill(staging)
    except BaseException:
        if gfile.exists(staging):
            gfile.rmtree(staging)
        raise
    return staging


def publish_folder(target: str, fill: Callable[[str], None]) -> str:
    """Publishes `target` whole: `fill(staging)` writes its content beside, then one rename.

    Raises:
        FileExistsError: `target` exists already (a published folder is never replaced).
    """
    gfile = _gfile()
    parent, name = os.path.split(target.rstrip("/"))
    staging = _staged(parent, name, fill)
    if gfile.exists(target):
        gfile.rmtree(staging)
        raise FileExistsError(f"{target} is published already")
    gfile.rename(staging, target)
    return target


def publish_version(base_dir: str, fill: Callable[[str], None]) -> int:
    """Publishes the next version under `base_dir`: `fill(staging)` writes it, then a rename.

    Returns:
        The version number; the next free one if another writer took a number meanwhile.
    """
    gfile = _gfile()
    gfile.makedirs(base_dir)
    version = (list_versions(base_dir) or [0])[-1] + 1
    staging = _staged(base_dir, str(version), fill)
    while gfile.exists(os.path.join(base_dir, str(version))):
        version += 1  # another run published this number meanwhile
    gfile.rename(staging, os.path.join(base_dir, str(version)))
    return version


def read_json(folder: str | None, name: str) -> Any:
    """The JSON file `name` in `folder` (e.g. an artifact's), or None when no folder is given
    or it has no such file."""
    gfile = _gfile()
    path = os.path.join(folder, name) if folder else ""
    if not path or not gfile.exists(path):
        return None
    with gfile.GFile(path) as f:
        return json.load(f)


def write_json(path: str, content: Any, indent: int | None = 2, **dump_args: Any) -> None:
    """Writes `content` as JSON atomically (`<path>.partial`, then a rename over `path`), so a
    reader never sees half a file. `dump_args` go to `json.dump` (e.g. `default=`)."""
    gfile = _gfile()
    parent = os.path.dirname(path)
    if parent:
        gfile.makedirs(parent)
    partial = f"{path}.partial"
    with gfile.GFile(partial, "w") as f:
        json.dump(content, f, indent=indent, **dump_args)
        f.write("\n")
    gfile.rename(partial, path, overwrite=True)
