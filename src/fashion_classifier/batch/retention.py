"""Retention: old results (30 days) and logs (90 days) are removed; never the current run's.

Age comes from the run id in the file name (``batch_results_20261124_020000.csv``),
so copying or backing up a file does not reset its clock; files without one use
their modification time. Leftover temporary files of a crashed writer go too.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from .naming import run_id_time

RESULT_FILE = re.compile(r"^(batch_results|summary|batch_report)_(\d{8}_\d{6})\.(csv|xlsx|json|html)$")
LOG_FILE = re.compile(r"^batch_(\d{8}_\d{6})\.log$")
TEMP_FILE = re.compile(r"^\..+\.\d+\.tmp$")
TEMP_MAX_AGE = 3600.0


def clean(results_dir: Path, logs_dir: Path, results_days: float, logs_days: float,
          keep: set[Path], now: float | None = None) -> list[Path]:
    """Delete expired files; returns what was deleted. ``keep`` is never touched."""
    now = time.time() if now is None else now
    keep = {Path(p).resolve() for p in keep}
    removed = _sweep(results_dir, RESULT_FILE, 2, results_days * 86400, keep, now)
    removed += _sweep(logs_dir, LOG_FILE, 1, logs_days * 86400, keep, now)
    return removed


def _sweep(folder: Path, pattern: re.Pattern, group: int, max_age: float, keep: set[Path],
           now: float) -> list[Path]:
    removed: list[Path] = []
    if max_age <= 0 or not Path(folder).is_dir():
        return removed
    for path in Path(folder).iterdir():
        match = pattern.match(path.name)
        if match:
            age = _age(path, match.group(group), now)
            limit = max_age
        elif TEMP_FILE.match(path.name):
            age, limit = _mtime_age(path, now), TEMP_MAX_AGE
        else:
            continue
        if age is not None and age > limit and path.resolve() not in keep and path.is_file():
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # retention must never break a run
    return removed


def _age(path: Path, run_id: str, now: float) -> float | None:
    stamp = run_id_time(run_id)
    if stamp is None:
        return _mtime_age(path, now)
    return now - stamp.timestamp()


def _mtime_age(path: Path, now: float) -> float | None:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return None


def cutoff_text(days: float, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return datetime.fromtimestamp(now - days * 86400).isoformat(timespec="seconds")
