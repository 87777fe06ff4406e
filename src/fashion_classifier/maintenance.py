"""Operations commands: retention, and the history database's check, backup and repair.

    python -m fashion_classifier.maintenance --help

``retention`` removes batch results older than FASHION_RESULTS_RETENTION_DAYS and logs
older than FASHION_LOGS_RETENTION_DAYS (also on days without a batch). ``check-db``
runs SQLite's integrity check (exit 0 ok, 2 corrupt or unreadable). ``backup-db``
takes an online-consistent copy. ``repair-db`` moves a corrupt database aside and
builds a fresh one with every row that can still be read (the runbook's
"database corrupted" procedure).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from .batch.retention import clean
from .config import Config, load_config
from .history import connect

log = logging.getLogger(__name__)


def run_retention(config: Config) -> list[Path]:
    removed = []
    for results_dir in {config.path("batch_results_dir"), config.path("reports_dir")}:
        removed += clean(
            results_dir,
            config.path("logs_dir"),
            config.results_retention_days,
            config.logs_retention_days,
            keep=set(),
        )
    return removed


def check_db(path: Path) -> tuple[bool, str]:
    """(ok, what SQLite said)."""
    if not path.is_file():
        return False, f"{path} does not exist"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return False, f"unreadable: {exc}"
    return rows == ["ok"], "; ".join(rows[:10])


def backup_db(path: Path, backup_dir: Path) -> Path:
    """Copy through SQLite's backup API: consistent even while API and batch write."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{path.stem}_{datetime.now():%Y%m%d_%H%M%S}.db"
    source = sqlite3.connect(str(path), timeout=10)
    try:
        dest = sqlite3.connect(str(target))
        with dest:
            source.backup(dest)
        dest.close()
    finally:
        source.close()
    return target


def repair_db(path: Path) -> tuple[Path, dict[str, int]]:
    """Move the database aside and salvage every readable row into a fresh one."""
    aside = path.with_name(f"{path.name}.corrupt-{datetime.now():%Y%m%d_%H%M%S}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            sidecar.rename(aside.with_name(aside.name + suffix))
    fresh = connect(path)  # current schema, all migrations
    saved = {}
    try:
        old = sqlite3.connect(str(aside), timeout=10)
        tables = [
            r[0]
            for r in fresh.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            saved[table] = _salvage_table(old, fresh, table)
        old.close()
    except sqlite3.DatabaseError as exc:
        log.error("old database unreadable as a whole (%s); started empty", exc)
    fresh.close()
    return aside, saved


def _salvage_table(old: sqlite3.Connection, fresh: sqlite3.Connection, table: str) -> int:
    """Copy every readable row: forwards by rowid until a damaged page, then backwards from the
    end down to it, so one bad page costs only the rows on it (and the rows are kept as read)."""
    columns = [r[1] for r in fresh.execute(f'PRAGMA table_info("{table}")')]
    try:
        old_columns = {r[1] for r in old.execute(f'PRAGMA table_info("{table}")')}
    except sqlite3.DatabaseError as exc:
        log.warning("table %s: unreadable (%s)", table, exc)
        return 0
    wanted = [c for c in columns if c in old_columns]
    select = f'SELECT rowid, {", ".join(wanted)} FROM "{table}"'
    insert = (f'INSERT OR IGNORE INTO "{table}" ({", ".join(wanted)}) '
              f"VALUES ({', '.join('?' for _ in wanted)})")
    last = _copy_rows(old, fresh, f"{select} ORDER BY rowid", (), insert, table)
    if last is not None:  # stopped at damage: read the rest from the other end
        _copy_rows(old, fresh, f"{select} WHERE rowid > ? ORDER BY rowid DESC", (last,), insert, table)
    return fresh.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


def _copy_rows(old, fresh, query: str, args: tuple, insert: str, table: str):
    """Insert rows until the query ends (None) or hits a damaged page (the last rowid read, or 0)."""
    last = 0
    fresh.execute("BEGIN")
    try:
        for row in old.execute(query, args):
            fresh.execute(insert, tuple(row)[1:])
            last = row[0]
    except sqlite3.DatabaseError as exc:
        log.warning("table %s: salvage stopped at a damaged page (%s)", table, exc)
        return last
    finally:
        fresh.execute("COMMIT")  # keep the rows read before any damage
    return None


def main(argv: list[str] | None = None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(
        prog="python -m fashion_classifier.maintenance", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["retention", "check-db", "backup-db", "repair-db"])
    parser.add_argument(
        "--db", default=str(config.path("history_db")), help="history database (default: %(default)s)"
    )
    parser.add_argument(
        "--backup-dir",
        default=str(config.path("logs_dir") / "backups"),
        help="where backup-db writes (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    db = Path(args.db)
    if args.command == "retention":
        removed = run_retention(config)
        print(f"retention: removed {len(removed)} files" + "".join(f"\n  {p}" for p in removed))
        return 0
    if args.command == "check-db":
        ok, said = check_db(db)
        print(f"{db}: {'ok' if ok else 'CORRUPT'} ({said})")
        return 0 if ok else 2
    if args.command == "backup-db":
        print(f"backup written: {backup_db(db, Path(args.backup_dir))}")
        return 0
    aside, saved = repair_db(db)
    print(
        f"corrupt database moved to {aside}; new {db} with salvaged rows: "
        + ", ".join(f"{t} {n}" for t, n in saved.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
