"""Pickles that other threads can interrupt while they are read back.

`pickle.loads` is one C call and holds the GIL throughout: 0.3 s for a parsed 30 MB body of
small objects (measured), long enough to stall the event loop's probes. `dumps` pickles every
list or dict of more than SLICE_OBJECTS objects in slices, each a pickle of its own; `loads`
joins them in a Python function, between whose slices the interpreter lets other threads run
(`sys.getswitchinterval()`, 5 ms). Numpy arrays count as one object: they are copied, not
walked.

Usage (the pickle is trusted: both ends are this server):
    stream, buffers = dumps(body)   # in a decoding process
    body = loads(stream, buffers)   # in a thread of the server
"""

import pickle
from collections.abc import Iterable
from typing import Any

# About 1-2 ms to unpickle (measured on floats and short strings).
SLICE_OBJECTS = 20_000
# Each level of slices nests one more `pickle.loads` in the reader's stack; deeper heavy
# containers are pickled whole.
MAX_SLICE_NESTING = 16
_LEAF_TYPES = frozenset({str, int, float, bool, type(None), bytes})


def _join(cls: type, state: dict | None, blobs: list[bytes]) -> Any:
    joined = cls()
    for blob in blobs:
        part = pickle.loads(blob)
        if isinstance(joined, dict):
            joined.update(part)
        else:
            joined.extend(part)
    if state:
        joined.__dict__.update(state)
    return joined


class _Slices:
    """A list or dict (or a subclass with attributes) pickled in slices."""

    def __init__(self, cls: type, state: dict | None, blobs: list[bytes]):
        self.cls, self.state, self.blobs = cls, state, blobs

    def __reduce__(self):
        return _join, (self.cls, self.state, self.blobs)


def _sliced(value: list | dict, entries: list, weights: list[int] | None) -> _Slices:
    """`entries` (a list's items or a dict's pairs) in slices of about SLICE_OBJECTS objects;
    `weights` None when every entry weighs one."""
    if weights is None:
        bounds = list(range(0, len(entries), SLICE_OBJECTS)) + [len(entries)]
    else:
        bounds, weight = [0], 0
        for end, entry_weight in enumerate(weights, 1):
            weight += entry_weight
            if weight >= SLICE_OBJECTS:
                bounds.append(end)
                weight = 0
        if bounds[-1] != len(entries):
            bounds.append(len(entries))
    blobs = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        part = dict(entries[start:end]) if isinstance(value, dict) else entries[start:end]
        blobs.append(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
    return _Slices(type(value), getattr(value, "__dict__", None), blobs)


def _pack(value: Any) -> tuple[Any, int, int]:
    """`value` with its heavy containers sliced, its weight in objects, and how deeply slices
    nest in it."""
    if not isinstance(value, list | dict):
        return value, 1, 0
    children = list(value.values()) if isinstance(value, dict) else value
    weights: list[int] | None = None
    nesting, changed = 0, False
    if set(map(type, children)) <= _LEAF_TYPES:  # a C-speed test: the common flat list
        packed_children, total = children, 1 + len(children)
    else:
        packed_children, weights = [], []
        for child in children:
            packed, weight, child_nesting = _pack(child)
            changed = changed or packed is not child
            packed_children.append(packed)
            weights.append(weight)
            nesting = max(nesting, child_nesting)
        total = 1 + sum(weights)
    if total > SLICE_OBJECTS and nesting < MAX_SLICE_NESTING:
        entries = (
            list(zip(value, packed_children, strict=True))
            if isinstance(value, dict)
            else packed_children
        )
        return _sliced(value, entries, weights), 1, nesting + 1
    if not changed:
        return value, total, nesting
    rebuilt: Any = type(value)()
    if isinstance(value, dict):
        rebuilt.update(zip(value, packed_children, strict=True))
    else:
        rebuilt.extend(packed_children)
    if getattr(value, "__dict__", None):
        rebuilt.__dict__.update(value.__dict__)
    return rebuilt, total, nesting


def dumps(value: Any) -> tuple[bytes, list[memoryview]]:
    """`value` pickled, its lists and dicts of more than SLICE_OBJECTS objects in slices:
    the pickle, and the buffers of the arrays outside the slices, left out of it (pickle
    protocol 5), to send as they are.

    Lists and dicts may be subclasses that take no arguments to build; their attributes are
    kept. Walks as deep as the value nests: the caller sets the recursion limit.
    """
    packed, _, _ = _pack(value)
    buffers: list[pickle.PickleBuffer] = []
    stream = pickle.dumps(packed, protocol=5, buffer_callback=buffers.append)
    return stream, [buffer.raw() for buffer in buffers]


def loads(stream: bytes, buffers: Iterable[Any] = ()) -> Any:
    """The value `dumps` pickled, from its pickle and buffers (bytearrays give writable
    arrays); other threads run between its slices."""
    return pickle.loads(stream, buffers=buffers)
