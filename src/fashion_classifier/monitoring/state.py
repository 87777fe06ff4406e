"""A small JSON file a cron check keeps between runs (e.g. its count of consecutive failures).

Two overlapping runs (a slow check and the next one five minutes later) must not
lose an update, so the whole read-modify-write happens under an ``flock``; the
file is replaced atomically, so a crash never leaves half a file. A corrupt or
unreadable file starts the state afresh: the check must keep working.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StateFile:
    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            print(f"monitoring: ignoring unreadable state file {self.path}: {exc}", file=sys.stderr)
            return {}
        return data if isinstance(data, dict) else {}

    def write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def update(self) -> Iterator[dict]:
        """``with state.update() as data: data[...] = ...``: read, change, write, under a lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            data = self.read()
            yield data
            self.write(data)
