"""``logs/api.log`` and ``logs/api_errors.log``: rotating log files that many processes share.

Gunicorn runs several workers, and logging's ``RotatingFileHandler`` is not safe across
processes: each worker rotates on its own and keeps writing to the file it had open, so after
a rotation lines land in a backup, and a later rotation by another worker can delete them with
the oldest backup. Here every line is written under an exclusive lock (``flock`` on
``<file>.lock``, opened by each process itself, since a lock inherited across ``fork`` is
shared with the parent and would exclude nothing). Holding it, the writer

1. reopens the file if another process (or logrotate) moved it: the path no longer names the
   file it has open;
2. rotates when the line would take the file past ``max_bytes``
   (``api.log`` -> ``api.log.1`` -> ... -> ``api.log.<backups>``, the oldest dropped);
3. appends the line with one ``write`` on an ``O_APPEND`` descriptor.

So no line is ever lost to a rotation or interleaved with another, and the newest lines are
always in ``api.log``. The cost is one lock and two ``stat`` calls per line. ``max_bytes`` 0
turns rotation off (for an external logrotate; step 1 then follows its moves, as logging's
``WatchedFileHandler`` does). Without ``fcntl`` (Windows) lines are not locked across processes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class SharedRotatingFileHandler(logging.Handler):
    def __init__(self, path: Path, max_bytes: int, backups: int, level: int = logging.NOTSET):
        super().__init__(level)
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.max_bytes = max(0, max_bytes)
        self.backups = max(0, backups)
        self._pid: int | None = None
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()  # an unwritable folder fails here, at start, not on every line

    # --- writing ---------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            if self._pid != os.getpid():  # a forked worker: its own descriptors and lock
                self._open()
            self._locked(True)
            try:
                self._follow()
                if self._due(len(data)):
                    self._rotate()
                _write_all(self._fd, data)
            finally:
                self._locked(False)
        except Exception:
            self.handleError(record)

    def _locked(self, on: bool) -> None:
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX if on else fcntl.LOCK_UN)

    def _follow(self) -> None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._open_log()
            return
        if (info.st_dev, info.st_ino) != self._identity:
            self._open_log()

    def _due(self, incoming: int) -> bool:
        if not self.max_bytes or not self.backups:
            return False
        size = os.fstat(self._fd).st_size
        return size > 0 and size + incoming > self.max_bytes

    def _rotate(self) -> None:
        for number in range(self.backups - 1, 0, -1):
            older = self._backup(number)
            if older.exists():
                os.replace(older, self._backup(number + 1))
        os.replace(self.path, self._backup(1))
        self._open_log()

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    # --- descriptors -------------------------------------------------------------
    def _open(self) -> None:
        self._close_fds()
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        self._open_log()
        self._pid = os.getpid()

    def _open_log(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, _FLAGS, 0o644)
        info = os.fstat(self._fd)
        self._identity = (info.st_dev, info.st_ino)

    def _close_fds(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd = self._lock_fd = None

    def close(self) -> None:
        self.acquire()
        try:
            self._close_fds()
        finally:
            self.release()
        super().close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
