"""The model in service, swapped without a restart when the store's pointer changes.

Each worker polls ``models/CURRENT`` (one ``stat`` at most every
``model_reload_seconds``). When it changed, the new version is loaded and warmed up
in a background thread while the old one keeps answering; then one reference
assignment switches every later request to it. A request already running keeps
the Predictor it started with, so no request fails and none mixes two versions.
A version that fails to load is logged and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..models.store import ModelStore

log = logging.getLogger(__name__)


class ModelHolder:
    def __init__(self, predictor, store: ModelStore | None, load: Callable[[], object],
                 poll_seconds: float = 1.0, on_switch: Callable[[object], None] = lambda p: None):
        self._predictor = predictor
        self._store = store  # None: nothing to watch (an injected model or an explicit model file)
        self._load = load
        self._poll_seconds = poll_seconds
        self._on_switch = on_switch
        self._stamp = store.pointer_stamp() if store else None
        self._next_check = time.monotonic() + poll_seconds
        self._lock = threading.Lock()
        self._loading = False
        self.last_error: str | None = None

    def get(self):
        if self._store is not None and time.monotonic() >= self._next_check:
            self._poll()
        return self._predictor

    def _poll(self) -> None:
        with self._lock:
            self._next_check = time.monotonic() + self._poll_seconds
            stamp = self._store.pointer_stamp()
            if stamp == self._stamp or self._loading:
                return
            self._loading = True
        threading.Thread(target=self._reload, args=(stamp,), name="model-reload", daemon=True).start()

    def _reload(self, stamp) -> None:
        try:
            predictor = self._load()
        except Exception as exc:  # keep serving the old version
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("new model version could not be loaded; still serving the old one: %s", self.last_error)
            with self._lock:
                self._stamp, self._loading = stamp, False  # retried when the pointer changes again
            return
        old = self._predictor
        self._predictor = predictor  # the switch: one reference assignment
        with self._lock:
            self._stamp, self._loading = stamp, False
        self.last_error = None
        self._on_switch(predictor)
        log.info("model switched", extra={"from_version": getattr(old, "version", None),
                                          "model_version": predictor.version})

    def wait_idle(self, timeout: float = 30.0) -> None:
        """For tests and graceful stops: until a reload in progress has finished."""
        deadline = time.monotonic() + timeout
        while self._loading and time.monotonic() < deadline:
            time.sleep(0.01)
