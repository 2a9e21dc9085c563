"""Feature domains, read from the curated schema (tensorflow_metadata's `Schema` proto) that
every pushed version carries, so that training and serving judge a value by the same range."""

from __future__ import annotations

import os
from typing import NamedTuple

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from contract import text_files
from contract.version_assets import ASSETS_EXTRA, SCHEMA_FILE


class Domain(NamedTuple):
    """A feature's allowed values: a range (`min`, `max`, either may be None) or strings."""

    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None


def _range(domain: schema_pb2.IntDomain | schema_pb2.FloatDomain) -> Domain | None:
    low = domain.min if domain.HasField("min") else None
    high = domain.max if domain.HasField("max") else None
    return None if low is None and high is None else Domain(low, high)


def domain_of(schema: schema_pb2.Schema, name: str) -> Domain | None:
    """The domain the schema gives feature `name`, or None (no such feature, or no domain)."""
    feature = next((f for f in schema.feature if f.name == name), None)
    if feature is None:
        return None
    which = feature.WhichOneof("domain_info")
    if which == "int_domain":
        return _range(feature.int_domain)
    if which == "float_domain":
        return _range(feature.float_domain)
    if which == "string_domain":
        return Domain(values=tuple(feature.string_domain.value))
    if which == "domain":  # a named string domain at the schema's top level
        named = next((d for d in schema.string_domain if d.name == feature.domain), None)
        return Domain(values=tuple(named.value)) if named is not None else None
    return None


def read_schema(path: str) -> schema_pb2.Schema:
    """A schema in text format (SchemaGen's `schema.pbtxt`), local or through tf.io.gfile."""
    return text_format.Parse(text_files.read_text(path), schema_pb2.Schema())


def version_domains(version_dir: str, names: list[str]) -> dict[str, Domain | None]:
    """The domains of `names` in a pushed version's schema (none when it carries no schema)."""
    path = os.path.join(version_dir, ASSETS_EXTRA, SCHEMA_FILE)
    if not text_files.exists(path):
        return dict.fromkeys(names)
    schema = read_schema(path)
    return {name: domain_of(schema, name) for name in names}
