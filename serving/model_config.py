"""Which models to serve and which of their versions: a folder of models, or TF Serving's
`ModelServerConfig` text format (`--model_config_file`), parsed with TF Serving's own protos.

    model_config_list {
      config { name: "fashion_mnist" base_path: "/models/fashion_mnist"
               model_platform: "tensorflow"
               model_version_policy { specific { versions: 1 versions: 2 } }
               version_labels { key: "stable" value: 1 }
               version_labels { key: "canary" value: 2 } }
    }
"""

import dataclasses
import os
import posixpath

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import StartupError


class ModelConfigError(StartupError):
    """The model config file or folder cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model: where its versions live and which of them to serve.

    Attributes:
      name: the model name in request paths.
      base_path: the folder holding one integer-named folder per version.
      policy: "latest" (the newest `latest_n`), "all", or "specific" (`versions`).
      labels: version labels such as `stable` and `canary`, label -> version.
    """

    name: str
    base_path: str
    policy: str = "latest"
    latest_n: int = 1
    versions: tuple[int, ...] = ()
    labels: tuple[tuple[str, int], ...] = ()


def wanted_versions(source: ModelSource, on_disk: list[int]) -> list[int]:
    """The versions the policy serves, out of those on disk."""
    if source.policy == "all":
        return list(on_disk)
    if source.policy == "specific":
        return [v for v in on_disk if v in source.versions]
    return list(on_disk)[-source.latest_n :]


def sources_in_folder(models_dir: str) -> list[ModelSource]:
    """Every sub-folder of `models_dir` is a model; each serves its latest version."""
    if not tf.io.gfile.isdir(models_dir):
        return []
    return [
        ModelSource(name=entry.rstrip("/"), base_path=posixpath.join(models_dir, entry.rstrip("/")))
        for entry in sorted(tf.io.gfile.listdir(models_dir))
        if tf.io.gfile.isdir(posixpath.join(models_dir, entry.rstrip("/")))
        and not entry.startswith(".")
    ]


def _source(config: model_server_config_pb2.ModelConfig, config_dir: str) -> ModelSource:
    if not config.name:
        raise ModelConfigError("a model config has no name")
    if not config.base_path:
        raise ModelConfigError(f"model '{config.name}' has no base_path")
    if config.model_platform not in ("", "tensorflow"):
        raise ModelConfigError(
            f"model '{config.name}': model_platform '{config.model_platform}' is not supported "
            "(only 'tensorflow')"
        )
    base_path = config.base_path
    if "://" not in base_path and not os.path.isabs(base_path):
        base_path = os.path.join(config_dir, base_path)
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice") or "latest"
    latest_n = policy.latest.num_versions or 1
    versions = tuple(policy.specific.versions)
    if kind == "specific" and not versions:
        raise ModelConfigError(f"model '{config.name}': a 'specific' policy lists no versions")
    labels = tuple(sorted((k, int(v)) for k, v in config.version_labels.items()))
    if kind == "specific":
        unserved = [f"{k}={v}" for k, v in labels if v not in versions]
        if unserved:
            raise ModelConfigError(
                f"model '{config.name}': label(s) {', '.join(unserved)} point to versions the "
                f"policy does not serve ({list(versions)})"
            )
    return ModelSource(config.name, base_path, kind, latest_n, versions, labels)


def sources_from_config_file(path: str) -> list[ModelSource]:
    """The models of a TF Serving model config file.

    Raises:
      ModelConfigError: the file is missing, does not parse, or names a model twice.
    """
    if not tf.io.gfile.exists(path):
        raise ModelConfigError(f"model config file {path} does not exist")
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(tf.io.gfile.GFile(path).read(), config)
    except text_format.ParseError as error:
        raise ModelConfigError(f"model config file {path}: {error}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ModelConfigError(f"model config file {path} has no model_config_list")
    config_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else ""
    sources = [_source(c, config_dir) for c in config.model_config_list.config]
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelConfigError(f"model config file {path} names {', '.join(duplicates)} twice")
    return sources
