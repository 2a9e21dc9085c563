"""The REST API's in-flight slots (`--max-concurrent-requests`): a request takes one once its
body has been read, and gives it back when its answer is sent *and* the model call it started
has finished, so work abandoned by a client that left or a deadline that passed still counts
until the model is done with it (docs/serving.md, "Limits"). `Slot` holds the in-flight gauge
(serving/metrics.py) the same way."""

import threading
from collections.abc import Callable
from concurrent.futures import Future


class RequestSlots:
    """A counted limit, shared by the event loop and the model threads.

    Usage:
        slot = slots.take()          # None: the limit is reached (answer 429)
        slot.hold_until_done(model_future)
        slot.release()               # the handler's own hold
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._taken = 0
        self._lock = threading.Lock()

    @property
    def taken(self) -> int:
        """Slots held now."""
        return self._taken

    def take(self) -> "Slot | None":
        """A slot, or None when all `limit` are held."""
        with self._lock:
            if self._taken >= self.limit:
                return None
            self._taken += 1
        return Slot(self._give_back)

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1


class Slot:
    """A hold on something a request counts in (a slot, the in-flight gauge): `on_free` runs
    once its handler and every held model call are done.

    Usage:
        slot = Slot(gauge.dec)
        slot.hold_until_done(model_future)
        slot.release()               # the handler's own hold
    """

    def __init__(self, on_free: Callable[[], None]):
        self._on_free = on_free
        self._holds = 1
        self._lock = threading.Lock()

    def hold_until_done(self, future: Future) -> None:
        """Keeps the slot taken until `future` (a model call) is done."""
        with self._lock:
            self._holds += 1
        future.add_done_callback(lambda _: self.release())

    def release(self) -> None:
        """Drops one hold; the last one gives the slot back."""
        with self._lock:
            self._holds -= 1
            last = self._holds == 0
        if last:
            self._on_free()
