"""What a request names: a model, and optionally a version or a label, checked in one place for
both front ends (docs/serving.md, "Errors").

TF Serving's versions are int64; a REST path's version must be ASCII digits within that range
(`str.isdigit` accepts `²` and `①`, which `int()` refuses, and `int()` accepts Arabic and
full-width digits, which no version folder is named with). Names must be printable: a control
character is never part of a model's folder or label, and an echo of one would garble a log.
"""

import dataclasses
import re

from serving.errors import InvalidArgument, NotFound, echo

MAX_VERSION = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Control characters (C0, DEL, C1): never in a model's folder name, label or signature name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A request's model, and the version or label it pins (neither: the newest version)."""

    model: str
    version: int | None = None
    label: str | None = None


def parse_version(text: str) -> int:
    """A REST path's version segment as a number.

    Raises:
      InvalidArgument: the segment is not ASCII digits, or is above int64 (TF Serving's type).
    """
    if not _ASCII_DIGITS.fullmatch(text):
        raise InvalidArgument(
            f"Malformed request: version '{echo(text)}' is not a number (ASCII digits 0-9)"
        )
    if len(text) > len(str(MAX_VERSION)) or int(text) > MAX_VERSION:
        raise InvalidArgument(
            f"Malformed request: version {echo(text)} is out of range (at most {MAX_VERSION})"
        )
    return int(text)


def check_name(kind: str, name: str) -> str:
    """`name` (of a model, label or signature), refused if it holds a control character.

    Raises:
      InvalidArgument: naming the kind and the offending name (cut to 256 bytes).
    """
    if _CONTROL.search(name):
        raise InvalidArgument(f"the {kind} name {echo(repr(name))} holds a control character")
    return name


def check_path(method: str, path: str) -> None:
    """Refuses a REST path with a control character: Starlette's route patterns end in `$`,
    which also matches before a final newline, so `/v1/models/M%0A` would otherwise be served
    as model M.

    Raises:
      NotFound: TF Serving's "Malformed request", as for any path no route answers.
    """
    if _CONTROL.search(path):
        raise NotFound(f"Malformed request: {method} {echo(repr(path))}")


def model_spec(model: str, version: int | None, label: str | None) -> ModelSpec:
    """The checked spec of a request (REST path or gRPC ModelSpec).

    Raises:
      InvalidArgument: a name holds a control character, or the version is negative.
    """
    check_name("model", model)
    if label is not None:
        check_name("version label", label)
    if version is not None and not 0 <= version <= MAX_VERSION:
        raise InvalidArgument(f"version {version} is out of range (0 to {MAX_VERSION})")
    return ModelSpec(model, version, label)
