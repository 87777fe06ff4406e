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
import threading
import weakref
from pathlib import Path

from ..history import HistoryDB
from .drain import drain

log = logging.getLogger(__name__)

_STOP = object()
# The writer only appends: a small page cache is enough, and it caps the memory the
# connection holds (SQLite's default is 2 MB, filled slowly as the tables grow).
WRITER_CACHE_KIB = 256
_RECORDERS: weakref.WeakSet[CallRecorder] = weakref.WeakSet()


class CallRecorder:
    def __init__(self, db_path: Path, max_queue: int = 20_000, batch_size: int = 500,
                 linger_seconds: float = 0.5):
        self.db_path = Path(db_path)
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self._hurry = threading.Event()  # set by flush/close: write what is queued now
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.last_error: str | None = None  # of the latest write in this process; None after a success
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        _RECORDERS.add(self)

    # --- request side --------------------------------------------------------
    def record(self, call: dict, predictions: list[dict] | tuple = ()) -> bool:
        """Queue one api_calls row (and its api_predictions rows); False if dropped."""
        try:
            self._ensure_writer().put_nowait((call, list(predictions)))
            return True
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("history queue full, %d api_calls rows dropped so far", self.dropped)
            return False

    def pending(self) -> int:
        q = self._queue
        return q.unfinished_tasks if q is not None and self._pid == os.getpid() else 0

    def _ensure_writer(self) -> queue.Queue:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return self._queue  # type: ignore[return-value]
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._queue = queue.Queue(self.max_queue)
                self._hurry = threading.Event()  # not one inherited through a fork
                self._thread = threading.Thread(target=self._run, args=(self._queue,),
                                                name="api-call-recorder", daemon=True)
                self._pid = os.getpid()
                self._thread.start()
        return self._queue  # type: ignore[return-value]

    # --- writer thread -----------------------------------------------------
    def _run(self, q: queue.Queue) -> None:
        db: HistoryDB | None = None
        stop = False
        while not stop:
            items = [q.get()]
            if items[0] is not _STOP and self.linger_seconds > 0:
                self._hurry.wait(self.linger_seconds)  # let more rows join this transaction
            while items[-1] is not _STOP and len(items) < self.batch_size:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            rows = [item for item in items if item is not _STOP]
            if rows:
                db = self._write(db, rows)
            for _ in items:
                q.task_done()
        if db is not None:
            db.close()

    def _write(self, db: HistoryDB | None, rows: list) -> HistoryDB | None:
        try:
            if db is None:
                db = HistoryDB(self.db_path)
                db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
            db.record_api_calls([call for call, _ in rows])
            db.record_api_predictions([p for _, predictions in rows for p in predictions])
            self.written += len(rows)
            self.last_error = None
            return db
        except Exception as exc:  # logging must never take the service down
            self.failed += len(rows)
            self.last_error = str(exc) or type(exc).__name__
            log.exception("could not write %d api_calls rows to %s", len(rows), self.db_path)
            if db is not None:
                try:
                    db.close()
                except Exception:
                    pass
            return None  # reconnect on the next batch

    # --- shutdown ------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued row is written (True) or the timeout passes (False)."""
        q = self._queue
        if q is None or self._pid != os.getpid():
            return True
        return drain(q, self._hurry, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Write what is queued, then stop the writer thread. Safe to call twice."""
        thread, q = self._thread, self._queue
        if thread is None or q is None or self._pid != os.getpid() or not thread.is_alive():
            return True
        self._hurry.set()  # for good: the writer no longer lingers
        try:
            q.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        thread.join(timeout)
        return not thread.is_alive()


def close_all(timeout: float = 5.0) -> None:
    """Flush every recorder of this process (atexit, gunicorn's worker_exit)."""
    for recorder in list(_RECORDERS):
        recorder.close(timeout)


atexit.register(close_all)
