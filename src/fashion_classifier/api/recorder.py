"""Records every API call in the history database, off the request path.

Requests only put a row on a bounded queue (never blocking: a full queue drops
the row and counts it). One writer thread per process drains the queue in
batches into ``api_calls`` / ``api_predictions``; a database error is logged
and never reaches a request. The writer waits up to ``linger_seconds`` after
a row arrives before it writes, so a busy server writes one transaction for
many requests: one per request (a lone client) took about a millisecond of
every request's time, the commit competing with the next request's model for
the cores (docs/benchmarks/peers.md). ``flush`` cuts the wait short. Rows
still queued are written on ``close()``, which runs at exit and from gunicorn's
``worker_exit`` hook.

The thread starts lazily in the process that records, so an app built in
gunicorn's master (``preload_app``) gets a fresh writer in every worker.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import weakref
from pathlib import Path

from ..history import HistoryDB
from .lingering import LingeringWriter

log = logging.getLogger(__name__)

# The writer only appends: a small page cache is enough, and it caps the memory the
# connection holds (SQLite's default is 2 MB, filled slowly as the tables grow).
WRITER_CACHE_KIB = 256
_RECORDERS: weakref.WeakSet[CallRecorder] = weakref.WeakSet()


class CallRecorder:
    def __init__(self, db_path: Path, max_queue: int = 20_000, batch_size: int = 500,
                 linger_seconds: float = 0.5):
        self.db_path = Path(db_path)
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None  # of the latest write in this process; None after a success
        self._db: HistoryDB | None = None  # the writer thread's connection
        self._db_pid: int | None = None
        self._writer = LingeringWriter(self._write, "api-call-recorder", max_queue, linger_seconds,
                                       batch_size, finish=self._close_db)
        _RECORDERS.add(self)

    # --- request side --------------------------------------------------------
    def record(self, call: dict, predictions: list[dict] | tuple = ()) -> bool:
        """Queue one api_calls row (and its api_predictions rows); False if dropped."""
        try:
            self._writer.put((call, list(predictions)))
            return True
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("history queue full, %d api_calls rows dropped so far", self.dropped)
            return False

    def pending(self) -> int:
        return self._writer.pending()

    # --- writer thread -----------------------------------------------------
    def _write(self, rows: list) -> None:
        if self._db_pid != os.getpid():  # never a connection inherited through a fork
            self._db, self._db_pid = None, os.getpid()
        try:
            if self._db is None:
                self._db = HistoryDB(self.db_path)
                self._db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            self._db.record_api_calls([call for call, _ in rows])
            self._db.record_api_predictions([p for _, predictions in rows for p in predictions])
            self.written += len(rows)
            self.last_error = None
        except Exception as exc:  # logging must never take the service down
            self.failed += len(rows)
            self.last_error = str(exc) or type(exc).__name__
            log.exception("could not write %d api_calls rows to %s", len(rows), self.db_path)
            self._close_db()  # reconnect on the next batch

    def _close_db(self) -> None:
        if self._db is not None and self._db_pid == os.getpid():
            try:
                self._db.close()
            except Exception:
                pass
        self._db = None

    # --- shutdown ------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued row is written (True) or the timeout passes (False)."""
        return self._writer.flush(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Write what is queued, then stop the writer thread. Safe to call twice."""
        return self._writer.close(timeout)


def close_all(timeout: float = 5.0) -> None:
    """Flush every recorder of this process (atexit, gunicorn's worker_exit)."""
    for recorder in list(_RECORDERS):
        recorder.close(timeout)


atexit.register(close_all)
