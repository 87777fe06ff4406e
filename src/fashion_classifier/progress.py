"""Progress for long loops: a live line on a terminal, periodic lines in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None,
             unit: str = "it", every_seconds: float = 5.0, stream=None) -> Iterator[T]:
    """Yield ``items`` while reporting count, rate and ETA to ``stream`` (stderr)."""
    stream = stream or sys.stderr
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    live = stream.isatty()
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= (0.2 if live else every_seconds):
            last = now
            _report(stream, label, done, total, now - start, unit, live)
    _report(stream, label, done, total, time.monotonic() - start, unit, live, final=True)


def _report(stream, label, done, total, elapsed, unit, live, final=False) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    if total:
        eta = (total - done) / rate if rate > 0 and not final else 0.0
        text = f"{label}: {done}/{total} ({100 * done / total:.0f}%) {rate:.1f} {unit}/s"
        text += f" eta {eta:.0f}s" if not final else f" in {elapsed:.1f}s"
    else:
        text = f"{label}: {done} {rate:.1f} {unit}/s"
    if live:
        stream.write("\r" + text + ("\n" if final else ""))
    else:
        stream.write(text + "\n")
    stream.flush()
