"""The model manager: loads the versions the sources ask for, swaps them without downtime.

Each poll compares what is on disk with what is loaded. A new version is loaded and warmed up
before it takes traffic; only then does the version it replaces stop taking new requests, and
that one is unloaded once its in-flight requests finish. A version that fails to load or warm
up is refused, logged and shown in the status API (state END with the error) while the
previous version keeps serving; it is tried again only when its files change. A version
removed from disk is unloaded.
"""

import dataclasses
import gc
import logging
import posixpath
import threading
from collections.abc import Callable

import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from contract.versions import list_versions
from serving.errors import InvalidArgument, NotFound, echo
from serving.metrics import ServingMetrics
from serving.model_config import ModelSource, wanted_versions
from serving.servable import LoadError, Servable

log = logging.getLogger("dlwp.serving")

_State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass
class _Version:
    version: int
    state: int = _State.LOADING
    servable: Servable | None = None
    in_flight: int = 0
    error: str = ""
    files: tuple = ()


class Lease:
    """A loaded version held for one request; `release()` when the request is done."""

    def __init__(self, manager: "ModelManager", model: str, entry: _Version):
        self.model, self.version, self.servable = model, entry.version, entry.servable
        self._manager, self._entry, self._released = manager, entry, False

    def share(self) -> "Lease":
        """Another hold on the same version (for work that outlives this one)."""
        return self._manager._share(self.model, self._entry)

    def release(self) -> None:
        """Lets the manager unload the version once no request holds it (idempotent)."""
        if not self._released:
            self._released = True
            self._manager._release(self.model, self._entry)


def _files_of(path: str) -> tuple:
    """A cheap fingerprint of a version folder: its files with their sizes and mtimes."""
    files = []
    for root, _, names in tf.io.gfile.walk(path):
        for name in names:
            full = posixpath.join(root, name)
            stat = tf.io.gfile.stat(full)
            files.append((full, stat.length, stat.mtime_nsec))
    return tuple(sorted(files))


class ModelManager:
    """Keeps the served versions in step with the model sources.

    Args:
      list_sources: returns the models to serve (called on every poll, so a folder of models
        picks up new models).
      metrics: where versions loaded and load failures are counted.
      poll_s: seconds between polls of the base paths.
      load: builds a warmed-up Servable (tests pass their own to observe the swap).
    """

    def __init__(
        self,
        list_sources: Callable[[], list[ModelSource]],
        metrics: ServingMetrics,
        poll_s: float = 2.0,
        load: Callable[[str, int, str], Servable] | None = None,
    ):
        self._list_sources, self._metrics, self.poll_s = list_sources, metrics, poll_s
        self._load = load or _load_and_warm_up
        self._lock = threading.Lock()
        self._models: dict[str, dict[int, _Version]] = {}
        self._sources: dict[str, ModelSource] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polled = threading.Event()

    # --- polling -----------------------------------------------------------------------------

    def start(self) -> None:
        """Loads what is on disk now, then keeps polling in a background thread."""
        self.poll()
        self._thread = threading.Thread(target=self._poll_loop, name="model-manager", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling (loaded versions stay until the process ends)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception:  # a bad poll (e.g. a vanished bucket) must not stop serving
                log.exception("model poll failed; serving what is loaded")

    def poll(self) -> None:
        """One reconciliation of loaded versions with the sources."""
        sources = {s.name: s for s in self._list_sources()}
        with self._lock:
            self._sources = sources
            for name in list(self._models):
                if name not in sources:
                    self._retire_versions(name, set(self._models[name]))
        for source in sources.values():
            self._reconcile(source)
        self.polled.set()

    def _reconcile(self, source: ModelSource) -> None:
        wanted = wanted_versions(source, list_versions(source.base_path))
        with self._lock:
            versions = self._models.setdefault(source.name, {})
        for version in wanted:
            entry = versions.get(version)
            if entry is not None and entry.state in (_State.AVAILABLE, _State.LOADING):
                continue
            path = posixpath.join(source.base_path, str(version))
            files = _files_of(path)
            if entry is not None and entry.error and entry.files == files:
                continue  # refused before and unchanged since
            self._load_version(source.name, version, path, files)
        with self._lock:
            gone = {
                v
                for v, e in versions.items()
                if v not in wanted and e.state in (_State.AVAILABLE, _State.LOADING)
            }
            # A version that keeps serving because its successor failed stays while it is the
            # only one available: "the previous version keeps serving".
            available_wanted = [
                v for v in wanted if versions.get(v) and versions[v].state == _State.AVAILABLE
            ]
            if not available_wanted:
                on_disk_gone = {
                    v
                    for v in gone
                    if not tf.io.gfile.isdir(posixpath.join(source.base_path, str(v)))
                }
                gone = on_disk_gone
            self._retire_versions(source.name, gone)

    def _load_version(self, model: str, version: int, path: str, files: tuple) -> None:
        entry = _Version(version, files=files)
        with self._lock:
            self._models[model][version] = entry
        log.info("loading %s version %d from %s", model, version, path)
        try:
            servable = self._load(model, version, path)
        except Exception as error:  # refuse on any failure: a version must never stay LOADING
            if not isinstance(error, LoadError):
                log.exception("loading %s version %d failed unexpectedly", model, version)
                error = LoadError(f"{path}: {type(error).__name__}: {error}")
            with self._lock:
                entry.state, entry.error = _State.END, _first_lines(str(error))
            self._metrics.load_failures.labels(model).inc()
            log.error(
                "refused %s version %d (the previous version keeps serving): %s",
                model,
                version,
                entry.error,
            )
            log.debug("refused %s version %d: %s", model, version, error)
            return
        _settle_heap()
        with self._lock:
            entry.servable, entry.state = servable, _State.AVAILABLE
            self._update_gauge(model)
        log.info("%s version %d is available", model, version)

    def _retire_versions(self, model: str, versions: set[int]) -> None:
        """Under the lock: stop new requests to `versions`; unload each when idle."""
        for version in versions:
            entry = self._models[model][version]
            if entry.state == _State.AVAILABLE:
                entry.state = _State.UNLOADING
                log.info("unloading %s version %d", model, version)
                if entry.in_flight == 0:
                    self._finish_unload(model, entry)
        self._update_gauge(model)

    def _finish_unload(self, model: str, entry: _Version) -> None:
        entry.servable, entry.state = None, _State.END
        # Its objects were frozen with the rest of the heap: let the collector see them again.
        threading.Thread(target=_settle_heap, args=(True,), daemon=True).start()
        log.info("%s version %d unloaded", model, entry.version)

    def _update_gauge(self, model: str) -> None:
        available = sum(e.state == _State.AVAILABLE for e in self._models.get(model, {}).values())
        self._metrics.versions_loaded.labels(model).set(available)

    # --- requests ----------------------------------------------------------------------------

    def serves(self, model: str) -> bool:
        """True when `model` is one of the models being served (checked on every request)."""
        with self._lock:
            return model in self._sources

    def ready(self) -> bool:
        """True once the first poll is done and every model has an available version."""
        if not self.polled.is_set():
            return False
        with self._lock:
            return all(
                any(e.state == _State.AVAILABLE for e in self._models.get(name, {}).values())
                for name in self._sources
            )

    def acquire(self, model: str, version: int | None = None, label: str | None = None) -> Lease:
        """The version a request runs on: `version`, `label`'s version, or the newest.

        Raises:
          NotFound: no such model, or the version is not available.
          InvalidArgument: the model has no such label.
        """
        with self._lock:
            entry = self._find(model, version, label)
            entry.in_flight += 1
            return Lease(self, model, entry)

    def _find(self, model: str, version: int | None, label: str | None) -> _Version:
        versions = self._models.get(model) if model in self._sources else None
        if label is not None:
            labels = dict(self._sources[model].labels) if versions is not None else {}
            if label not in labels:
                if versions is None:
                    raise NotFound(f"Servable not found for request: Latest({echo(model)})")
                raise InvalidArgument(
                    f"Unrecognized servable version label: {echo(label)} (model {model} has "
                    f"{', '.join(sorted(labels)) or 'no labels'})"
                )
            version = labels[label]
        available = {v: e for v, e in (versions or {}).items() if e.state == _State.AVAILABLE}
        if version is None:
            if not available:
                raise NotFound(f"Servable not found for request: Latest({echo(model)})")
            return available[max(available)]
        if version not in available:
            raise NotFound(f"Servable not found for request: Specific({echo(model)}, {version})")
        return available[version]

    def _share(self, model: str, entry: _Version) -> Lease:
        with self._lock:
            entry.in_flight += 1
        return Lease(self, model, entry)

    def _release(self, model: str, entry: _Version) -> None:
        with self._lock:
            entry.in_flight -= 1
            if entry.in_flight == 0 and entry.state == _State.UNLOADING:
                self._finish_unload(model, entry)

    def status(
        self, model: str, version: int | None = None, label: str | None = None
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """TF Serving's GetModelStatusResponse for a model, one version or a label.

        Raises:
          NotFound: the model is not served, or has no such version.
        """
        with self._lock:
            versions = self._models.get(model) if model in self._sources else None
            if not versions:
                raise NotFound(f"Could not find any versions of model {echo(model)}")
            if label is not None:
                version = self._find(model, None, label).version
            if version is not None and version not in versions:
                raise NotFound(f"Could not find version {version} of model {model}")
            response = get_model_status_pb2.GetModelStatusResponse()
            for number in sorted(versions) if version is None else [version]:
                entry = versions[number]
                status = response.model_version_status.add(version=number, state=entry.state)
                status.status.SetInParent()  # TF Serving prints error_code OK when all is well
                if entry.error:
                    status.status.error_code = 2  # UNKNOWN, as TF Serving reports a failed load
                    status.status.error_message = entry.error
            return response


def _settle_heap(unfreeze: bool = False) -> None:
    """Moves what a loaded model allocated out of the garbage collector's sight.

    A loaded SavedModel leaves hundreds of thousands of long-lived Python objects; under load,
    full collections walked them all every second or so and froze the server for 0.4-0.5 s
    (measured: REST p99 470 ms -> 37 ms with the heap frozen). After an unload the heap is
    unfrozen first, so the old version's cycles are collected.
    """
    if unfreeze:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _first_lines(message: str, limit: int = 400) -> str:
    """The head of a (TF) error message, for the status API and the terminal."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = " ".join(lines[:3])
    return text if len(text) <= limit else text[:limit] + "..."


def _load_and_warm_up(model: str, version: int, path: str) -> Servable:
    servable = Servable(model, version, path)
    servable.warm_up()
    return servable
