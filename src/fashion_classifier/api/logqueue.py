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

``log_later`` queues a line without building its ``LogRecord`` in the request's thread (the
writer builds it, stamped with the time the line was queued): the record and logging's
dispatch were about a tenth of a small-photo request's own work in our code.
"""

from __future__ import annotations

import atexit
import logging
import queue
import time
import weakref

from .lingering import LingeringWriter

_HANDLERS: weakref.WeakSet[BackgroundHandler] = weakref.WeakSet()


class BackgroundHandler(logging.Handler):
    """Queues records for the handlers of ``target`` (the ``fashion_classifier.api`` logger)."""

    def __init__(self, target: logging.Logger, linger_seconds: float = 0.5, max_queue: int = 10_000):
        super().__init__()
        self.target = target
        self._writer = LingeringWriter(self._write_all, "api-access-log", max_queue, linger_seconds)
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.put(record)
        except queue.Full:
            self._write(record)

    def submit(self, logger: logging.Logger, level: int, msg: str, args: tuple, extra: dict) -> None:
        """Queue one line of ``logger``; its record is made by the writer (``log_later``)."""
        item = (logger.name, level, msg, args, extra, time.time())
        try:
            self._writer.put(item)
        except queue.Full:
            self._write(_record(item))

    def _write_all(self, items: list) -> None:
        for item in items:
            self._write(item if isinstance(item, logging.LogRecord) else _record(item))

    def _write(self, record: logging.LogRecord) -> None:
        try:
            for handler in self.target.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
        except Exception:  # a broken handler must not stop the writer
            self.handleError(record)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write every queued line now (True), or give up after ``timeout`` (False)."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        self._writer.close()
        super().close()


def _record(item: tuple) -> logging.LogRecord:
    name, level, msg, args, extra, created = item
    record = logging.LogRecord(name, level, "", 0, msg, args, None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    record.__dict__.update(extra)
    return record


def log_later(logger: logging.Logger, level: int, msg: str, *args, extra: dict) -> None:
    """``logger.log(level, msg, *args, extra=extra)`` for a logger whose handler is a
    ``BackgroundHandler``, without making the record in this thread; any other logger logs
    as usual."""
    if not logger.isEnabledFor(level):
        return
    handlers = logger.handlers
    if len(handlers) == 1 and isinstance(handlers[0], BackgroundHandler) and not logger.filters:
        handlers[0].submit(logger, level, msg, args, extra)
    else:
        logger.log(level, msg, *args, extra=extra)


def flush_all(timeout: float = 5.0) -> None:
    """Every queued request line of this process, written (atexit, gunicorn's worker_exit)."""
    for handler in list(_HANDLERS):
        handler.flush(timeout)


atexit.register(flush_all)
