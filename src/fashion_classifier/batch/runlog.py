"""The run's log file, ``logs/batch_YYYYMMDD_HHMMSS.log``, in the spec's line format.

``[2025-10-13 02:00:04]   ✓ Category: Tshirts (confidence: 95.3%)``. Per-file
lines go to the file only; milestones also go to stderr (the cron log). The
file is appended to, so a resumed run continues the story of the crashed one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

RULE = "=" * 60


class RunLog:
    def __init__(self, path: Path | None, console: TextIO | None = None, quiet: bool = False):
        self.path = path
        self.console = console if console is not None else sys.stderr
        self.quiet = quiet
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1 << 16)
        self._stamp_second = -1
        self._stamp = ""

    def _now(self) -> str:
        second = int(time.time())
        if second != self._stamp_second:  # formatting the time is the costly part of a log line
            self._stamp_second = second
            self._stamp = time.strftime("[%Y-%m-%d %H:%M:%S] ", time.localtime(second))
        return self._stamp

    def file(self, message: str = "") -> None:
        """A line in the log file only (per-file detail)."""
        if self._file is not None:
            self._file.write(self._now() + message + "\n" if message else "\n")

    def info(self, message: str = "") -> None:
        """A line in the log file and on the console."""
        self.file(message)
        if not self.quiet and message:
            self.console.write(self._now() + message + "\n")
            self.console.flush()

    def banner(self, title: str) -> None:
        self.file("")
        for line in (RULE, title, RULE):
            self.info(line)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
