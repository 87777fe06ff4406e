"""A bounded queue with one writer thread per process that lingers before it writes.

The history recorder (``recorder``) and the request log lines (``logqueue``) both hand their
work to such a writer: after an item arrives it waits up to ``linger_seconds`` so that one
wake-up writes many (one transaction, one burst of lines) instead of competing with the next
request's model for the cores. ``flush`` (and ``close``) cut the wait short.

The thread starts lazily in the process that puts (a gunicorn worker of a preloaded app gets
its own queue and thread, never the master's).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable

_STOP = object()


class LingeringWriter:
    def __init__(self, write: Callable[[list], None], name: str, max_queue: int,
                 linger_seconds: float = 0.5, batch_size: int = 0,
                 finish: Callable[[], None] = lambda: None):
        """``write(items)`` runs in the writer thread for each batch (at most ``batch_size``
        items, 0: no cap) and must not raise; ``finish()`` runs there once, after the last."""
        self._write, self._finish, self.name = write, finish, name
        self.max_queue, self.linger_seconds, self.batch_size = max_queue, linger_seconds, batch_size
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._hurry = threading.Event()  # set by flush/close: write what is queued now

    def put(self, item) -> None:
        """Queue ``item`` without blocking (``queue.Full`` when the queue is full)."""
        self._ensure_thread().put_nowait(item)

    def pending(self) -> int:
        """Items of this process not written yet."""
        q = self._queue
        return q.unfinished_tasks if q is not None and self._pid == os.getpid() else 0

    def _ensure_thread(self) -> queue.Queue:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return self._queue  # type: ignore[return-value]
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._queue = queue.Queue(self.max_queue)
                self._hurry = threading.Event()  # not one inherited through a fork
                self._thread = threading.Thread(target=self._run, args=(self._queue,), name=self.name,
                                                daemon=True)
                self._pid = os.getpid()
                self._thread.start()
        return self._queue  # type: ignore[return-value]

    def _run(self, q: queue.Queue) -> None:
        stop = False
        while not stop:
            items = [q.get()]
            if items[0] is not _STOP and self.linger_seconds > 0:
                self._hurry.wait(self.linger_seconds)  # let more items join this batch
            while items[-1] is not _STOP and (not self.batch_size or len(items) < self.batch_size):
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is _STOP
            batch = [item for item in items if item is not _STOP]
            if batch:
                self._write(batch)
            for _ in items:
                q.task_done()
        self._finish()

    def flush(self, timeout: float = 5.0) -> bool:
        """True once every item put in this process is written; False if ``timeout`` passes first."""
        q = self._queue
        if q is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        self._hurry.set()
        try:
            with q.all_tasks_done:
                while q.unfinished_tasks:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    q.all_tasks_done.wait(remaining)
            return True
        finally:
            self._hurry.clear()

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
