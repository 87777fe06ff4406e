"""Execution histories made by real batch runs, moved back in time.

A real ``src/batch_processor.py --local`` run classifies real product photos
and writes its journal, ``batch_runs`` row and alerts; ``backdate`` then shifts
that run's timestamps (and run id) to an earlier night, keeping its duration, so
a few seconds of test time give a history of many nights. Photos are distinct
slices of the shared dataset, so no night sees a duplicate of another.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from batch_support import DATASET_IMAGES, ROOT, bad_inputs, clean_env, run_batch, write_file

STRIDE = 41  # every 41st photo of the dataset: a varied mix of categories
MONITORING = ROOT / "monitoring"


@dataclass(frozen=True)
class Night:
    days_ago: int
    photos: int
    bad: bool = False  # add a truncated, a non-image and an empty file
    only_bad: bool = False  # nothing but bad files: the run fails


def photo_pool() -> list[Path]:
    return [DATASET_IMAGES / name for name in sorted(os.listdir(DATASET_IMAGES))[::STRIDE]]


def build_history(base: Path, nights: list[Night], now: datetime | None = None, **settings: str) -> Path:
    """Run one real batch per night into ``base/out``; returns ``out`` (data/, results/, logs/).

    ``settings``: environment for the batch, e.g. stricter tier thresholds.
    """
    now = now or datetime.now()
    out, pool, used = base / "out", photo_pool(), 0
    for number, night in enumerate(sorted(nights, key=lambda n: -n.days_ago)):
        incoming = base / f"incoming_{number}"
        incoming.mkdir(parents=True)
        if night.only_bad or night.bad:
            bad_inputs(incoming)
        if not night.only_bad:
            day = now - timedelta(days=night.days_ago)
            for photo in pool[used:used + night.photos]:
                write_file(incoming, f"return_{day:%Y%m%d}_{photo.stem}.jpg", photo.read_bytes())
            used += night.photos
        result = run_batch(incoming, out, "--local", "--quiet", env=clean_env(**settings))
        assert result.returncode in (0, 1), result.stderr
        run_id = latest_run_id(out)
        when = (now - timedelta(days=night.days_ago)).replace(hour=2, minute=0, second=number % 60)
        if night.days_ago == 0:
            when = now - timedelta(hours=3, seconds=number)
        backdate(db_path(out), run_id, when)
    return out


def db_path(out: Path) -> Path:
    return out / "logs" / "execution_history.db"


def connect(out: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path(out), isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def latest_run_id(out: Path) -> str:
    with connect(out) as conn:
        return conn.execute("SELECT run_id FROM batch_run_state ORDER BY started_at DESC, rowid DESC"
                            " LIMIT 1").fetchone()[0]


def _shift(text: str | None, delta: timedelta) -> str | None:
    return None if not text else (datetime.fromisoformat(text) + delta).isoformat(timespec="seconds")


def backdate(db: Path, run_id: str, start: datetime) -> str:
    """Move one run (journal, batch_runs row, its alerts) to start at ``start``; returns the new run id."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        state = conn.execute("SELECT * FROM batch_run_state WHERE run_id = ?", (run_id,)).fetchone()
        began = datetime.fromisoformat(state["started_at"])
        delta = start - began
        new_id = start.strftime("%Y%m%d_%H%M%S")
        run = conn.execute("SELECT * FROM batch_runs WHERE run_id = ?", (run_id,)).fetchone()
        conn.execute("BEGIN")
        window = (state["started_at"], _shift(run["timestamp"], timedelta(seconds=5)))
        alerts = conn.execute("SELECT id, timestamp FROM alerts WHERE source = 'batch' AND timestamp >= ?"
                              " AND timestamp <= ?", window).fetchall()
        for alert_id, stamp in alerts:
            conn.execute("UPDATE alerts SET timestamp = ? WHERE id = ?", (_shift(stamp, delta), alert_id))
        conn.execute("UPDATE batch_runs SET timestamp = ?, run_id = ? WHERE run_id = ?",
                     (_shift(run["timestamp"], delta), new_id, run_id))
        conn.execute("UPDATE batch_run_state SET started_at = ?, finished_at = ?, run_id = ?"
                     " WHERE run_id = ?", (_shift(state["started_at"], delta),
                                           _shift(state["finished_at"], delta), new_id, run_id))
        files = conn.execute("SELECT id, classified_at, finished_at FROM batch_files WHERE run_id = ?",
                             (run_id,)).fetchall()
        for row in files:
            conn.execute("UPDATE batch_files SET classified_at = ?, finished_at = ?, run_id = ? WHERE id = ?",
                         (_shift(row[1], delta), _shift(row[2], delta), new_id, row[0]))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return new_id


def clone(out: Path, target: Path) -> Path:
    """A copy of a history (photos and database) whose recorded paths point into the copy."""
    shutil.copytree(out, target)
    old, new = str(out), str(target)
    with connect(target) as conn:
        for table, columns in (("batch_files", ("source_path", "dest_path")),
                               ("review_decisions", ("old_path", "new_path"))):
            for column in columns:
                conn.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
    return target


def run_script(name: str, *args: str, env: dict | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """One of the ``monitoring/*.py`` commands in a subprocess, as cron would run it."""
    return subprocess.run([sys.executable, str(MONITORING / name), *args], cwd=ROOT,
                          env=env or clean_env(), capture_output=True, text=True, timeout=timeout)
