"""One batch at a time: an advisory ``flock`` that the kernel drops when the holder dies.

A ``kill -9`` can therefore never leave a lock that blocks the next night; the
pid written into the file is only for people (and for the cron script's
"stale lock" message).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class BatchLocked(RuntimeError):
    def __init__(self, path: Path, holder: str):
        super().__init__(f"another batch run holds {path} (pid {holder or '?'})")
        self.holder = holder


class RunLock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise BatchLocked(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
