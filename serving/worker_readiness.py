"""Readiness across the workers of `dlwp serve --workers N`: a file every process maps, one
byte for draining, one per worker for ready and one per worker for listening. Any worker
answers `/readyz`; it says ready only when every worker is and the server is not draining
(docs/serving.md, "Workers").

    readiness = SharedReadiness.create(path, workers)       # the supervisor, before the workers
    readiness = SharedReadiness(path, workers)              # each worker
    readiness.set_ready(index, True); readiness.all_ready()
"""

import mmap

_DRAINING = 0


class SharedReadiness:
    """The shared readiness bytes (a byte write is atomic: no lock is needed)."""

    def __init__(self, path: str, workers: int):
        self.workers = workers
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), 1 + 2 * workers)

    @classmethod
    def create(cls, path: str, workers: int) -> "SharedReadiness":
        """Writes the file (nobody ready, not draining) and maps it."""
        with open(path, "wb") as file:
            file.write(bytes(1 + 2 * workers))
        return cls(path, workers)

    @property
    def draining(self) -> bool:
        return self._map[_DRAINING] == 1

    @draining.setter
    def draining(self, value: bool) -> None:
        self._map[_DRAINING] = int(value)

    def set_ready(self, index: int, ready: bool) -> None:
        """Worker `index` is (or is no longer) ready."""
        self._map[1 + index] = int(ready)

    def set_listening(self, index: int, listening: bool) -> None:
        """Worker `index` listens on the ports (or no longer does)."""
        self._map[1 + self.workers + index] = int(listening)

    def all_listening(self) -> bool:
        """Whether every worker listens on the ports."""
        return all(self._map[1 + self.workers : 1 + 2 * self.workers])

    def ready_count(self) -> int:
        """How many workers are ready."""
        return sum(self._map[1 : 1 + self.workers])

    def all_ready(self) -> bool:
        """Whether every worker is ready and the server is not draining."""
        return not self.draining and self.ready_count() == self.workers

    def close(self) -> None:
        self._map.close()
