"""The randomized traffic split of `dlwp serve --split MODEL=A:W,B:W` (an A/B test between two
version labels: docs/serving.md, "Request ids and the traffic split").

An unpinned predict, classify or regress request of a split model (no version nor label in the
path or the gRPC ModelSpec) goes to one of the arms, a version label of the model in the
`--model-config-file`, chosen at random with the weights. With an `X-Split-Key` header (gRPC
`x-split-key`) the choice is sticky: `sha256(model + "\\0" + key)` is read as a number uniform
in [0, 1) and picks the arm whose share of the cumulative weights holds it, so a user keeps
the same arm for the whole test, on every replica. Pinned requests are never split.

    split = TrafficSplit(dict([parse_split("fashion=stable:70,canary:30")]))
    split.choose("fashion", None)        # "stable" 70 % of the time, else "canary"
    split.choose("fashion", "user-42")   # always the same arm for this key
    split.choose("other", None)          # None: not split
"""

import bisect
import hashlib
import itertools
import math
import random
import re
from collections.abc import Mapping, Sequence

from prometheus_client import Counter

from serving.errors import ServeSettingsError, StartupError
from serving.model_specs import ModelSpec
from serving.request_ids import Trace

# (label, weight) of each arm, as given (the weights are normalised when the split is built).
Arms = tuple[tuple[str, float], ...]

_FLAG = "--split"
_LABEL = re.compile(r"[A-Za-z0-9_.-]+")
_FORM = "MODEL=LABEL:WEIGHT,LABEL:WEIGHT (e.g. fashion=stable:90,canary:10)"
# sha256's first 53 bits: a double in [0, 1) (64 bits would round up to 1.0 at the top).
_UNIT_BITS = 53


class SplitConfigError(StartupError):
    """`--split` does not fit the model config (no such model or label, or no config)."""


def parse_split(text: str) -> tuple[str, Arms]:
    """One `--split` value as (model, ((label, weight), ...)).

    Raises:
      ServeSettingsError: the value is not MODEL=LABEL:WEIGHT,LABEL:WEIGHT with two labels or
        more, each once, and positive finite weights; the message names the flag and the part.
    """
    model, equals, rest = text.partition("=")
    model = model.strip()
    if not equals or not model:
        raise ServeSettingsError(f"{_FLAG} {text!r} names no model: write {_FORM}")
    arms: list[tuple[str, float]] = []
    for part in rest.split(","):
        label, colon, weight_text = part.partition(":")
        label = label.strip()
        if not colon or not label:
            raise ServeSettingsError(
                f"{_FLAG} {text!r}: {part.strip()!r} is not LABEL:WEIGHT; write {_FORM}"
            )
        if _LABEL.fullmatch(label) is None:
            # The arm travels back in the X-Split-Arm header and gRPC metadata.
            raise ServeSettingsError(
                f"{_FLAG} {text!r}: the label {label!r} is not a version label name "
                "(letters, digits, _ . -)"
            )
        try:
            weight = float(weight_text)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise ServeSettingsError(
                f"{_FLAG} {text!r}: the weight of {label!r} must be a positive number, "
                f"got {weight_text.strip()!r}"
            )
        if label in (seen for seen, _ in arms):
            raise ServeSettingsError(f"{_FLAG} {text!r} names the label {label!r} twice")
        arms.append((label, weight))
    if len(arms) < 2:
        raise ServeSettingsError(
            f"{_FLAG} {text!r} has one arm: a split needs two labels or more (to send every "
            "request to one label, request /v1/models/MODEL/labels/LABEL)"
        )
    return model, tuple(arms)


def check_splits(splits: Sequence[tuple[str, Arms]]) -> None:
    """Refuses two `--split` flags for one model.

    Raises:
      ServeSettingsError: naming the model.
    """
    models = sorted(model for model, _ in splits)
    for model, group in itertools.groupby(models):
        if len(list(group)) > 1:
            raise ServeSettingsError(
                f"{_FLAG} is given twice for model {model!r}: give one {_FLAG} per model, "
                "listing all its arms"
            )


def check_against_config(
    splits: Sequence[tuple[str, Arms]], labels_by_model: Mapping[str, Sequence[str]] | None
) -> None:
    """Refuses a split that the model config cannot route.

    Args:
      splits: the parsed `--split` values.
      labels_by_model: each configured model's version labels; None when the server serves a
        folder (no `--model-config-file`, so no labels).

    Raises:
      SplitConfigError: no model config, a model it does not have, or a label the model does
        not have; the message names it and the remedy.
    """
    if not splits:
        return
    if labels_by_model is None:
        raise SplitConfigError(
            f"{_FLAG} routes to version labels, which come from a model config: serve with "
            "--model-config-file F whose models have version_labels"
        )
    for model, arms in splits:
        if model not in labels_by_model:
            raise SplitConfigError(
                f"{_FLAG} names model {model!r}, which the model config does not serve "
                f"(it serves {', '.join(sorted(labels_by_model)) or 'none'})"
            )
        known = set(labels_by_model[model])
        for label, _ in arms:
            if label not in known:
                raise SplitConfigError(
                    f"{_FLAG} names label {label!r} of model {model!r}, which the model config "
                    f"does not give it (its version_labels: {', '.join(sorted(known)) or 'none'}); "
                    "add version_labels { key: ... value: ... } to its config"
                )


class TrafficSplit:
    """Chooses the arm of an unpinned request of a split model.

    Args:
      arms_by_model: model -> its arms, (label, weight) pairs; the weights are normalised.
      rng: the random source of unkeyed choices, `rng` (tests seed it); its `random()` is
        thread-safe in CPython, so the REST loop and the gRPC threads share it.
    """

    def __init__(self, arms_by_model: Mapping[str, Arms], rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._labels: dict[str, tuple[str, ...]] = {}
        self._bounds: dict[str, list[float]] = {}
        for model, arms in arms_by_model.items():
            total = math.fsum(weight for _, weight in arms)
            cumulative = list(itertools.accumulate(weight / total for _, weight in arms))
            self._labels[model] = tuple(label for label, _ in arms)
            # The last bound is 1 (up to rounding): left out, so u in [0, 1) always finds an arm.
            self._bounds[model] = cumulative[:-1]

    @property
    def arms(self) -> dict[str, tuple[str, ...]]:
        """Model -> the labels of its arms, in the order given."""
        return dict(self._labels)

    def choose(self, model: str, split_key: str | None) -> str | None:
        """The arm (a version label) for a request of `model`, or None when it is not split.

        Args:
          split_key: the request's X-Split-Key: the same key always gets the same arm; None
            (or "") chooses at random.
        """
        labels = self._labels.get(model)
        if labels is None:
            return None
        if split_key:
            digest = hashlib.sha256(f"{model}\0{split_key}".encode()).digest()
            uniform = (int.from_bytes(digest[:8], "big") >> (64 - _UNIT_BITS)) / 2.0**_UNIT_BITS
        else:
            uniform = self.rng.random()
        return labels[bisect.bisect_right(self._bounds[model], uniform)]


def route(
    split: TrafficSplit | None,
    spec: ModelSpec,
    trace: Trace,
    split_key: str | None,
    counter: Counter,
) -> tuple[ModelSpec, Trace]:
    """An unpinned request of a split model, sent to the arm chosen for it (`split_key`, the
    client's X-Split-Key, makes the choice sticky) and counted per arm in `counter`; any other
    request (pinned, or of a model not split) as it is. REST and gRPC route the same way."""
    if split is None or spec.version is not None or spec.label is not None:
        return spec, trace
    arm = split.choose(spec.model, split_key)
    if arm is None:
        return spec, trace
    counter.labels(spec.model, arm).inc()
    return ModelSpec(spec.model, None, arm), Trace(trace.request_id, arm)
