"""Request log lines written in batches, off the request path.

Every request logs one line to stderr (JSON) and to ``logs/api.log``. Written by the request's
own thread once the answer was sent, formatting and writing it still competed for the cores
with the next request's model: about half a millisecond of a lone client's every request
(docs/benchmarks/peers.md). Here the access logger's records go on a queue, and one thread per
process writes them, in order, through the API logger's handlers, lingering up to
``linger_seconds`` after a line arrives so one wake-up writes many. Only the access logger
is queued: every other logger (warnings, errors, tracebacks) is written by the thread that logs.

The thread starts lazily in the process that logs (a gunicorn worker of a preloaded app gets
its own). A full queue makes the request thread write the line itself (slower, never lost).
``flush_all`` (at exit, from gunicorn's ``worker_exit`` and in tests) writes what is queued;
a worker killed outright loses the lines of its last half second, as ``recorder`` its rows.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import weakref

from .drain import drain

_STOP = object()
_HANDLERS: weakref.WeakSet[BackgroundHandler] = weakref.WeakSet()


class BackgroundHandler(logging.Handler):
    """Queues records for the handlers of ``target`` (the ``fashion_classifier.api`` logger)."""

    def __init__(self, target: logging.Logger, linger_seconds: float = 0.5, max_queue: int = 10_000):
        super().__init__()
        self.target = target
        self.linger_seconds = linger_seconds
        self.max_queue = max_queue
        self._pid: int | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._hurry = threading.Event()
        self._start_lock = threading.Lock()
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._ensure_thread().put_nowait(record)
        except queue.Full:
            self._write(record)

    def _ensure_thread(self) -> queue.Queue:
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                    self._queue, self._hurry = queue.Queue(self.max_queue), threading.Event()
                    self._thread = threading.Thread(target=self._run, args=(self._queue,),
                                                    name="api-access-log", daemon=True)
                    self._pid = os.getpid()
                    self._thread.start()
        return self._queue  # type: ignore[return-value]

    def _run(self, q: queue.Queue) -> None:
        while True:
            batch = [q.get()]
            if batch[0] is not _STOP and self.linger_seconds > 0:
                self._hurry.wait(self.linger_seconds)
            while batch[-1] is not _STOP:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            for record in batch:
                if record is not _STOP:
                    self._write(record)
                q.task_done()
            if batch[-1] is _STOP:
                return

    def _write(self, record: logging.LogRecord) -> None:
        try:
            for handler in self.target.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
        except Exception:  # a broken handler must not stop the writer
            self.handleError(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write every queued line now (True), or give up after ``timeout`` (False)."""
        q = self._queue
        if q is None or self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            return True
        return drain(q, self._hurry, timeout)

    def close(self) -> None:
        if self._queue is not None and self._pid == os.getpid() and self._thread is not None:
            self._hurry.set()
            try:
                self._queue.put(_STOP, timeout=1)
                self._thread.join(5)
            except queue.Full:
                pass
        super().close()


def flush_all(timeout: float = 5.0) -> None:
    """Every queued request line of this process, written (atexit, gunicorn's worker_exit)."""
    for handler in list(_HANDLERS):
        handler.flush(timeout)


atexit.register(flush_all)
