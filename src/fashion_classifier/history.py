"""The execution-history database (``logs/execution_history.db``), shared by API and batch.

Tables of the reference design (``batch_runs``, ``api_calls``, ``alerts``) with
a few added columns, versioned: ``MIGRATIONS[i]`` brings a file from version
``i`` to ``i + 1``, so an old database is upgraded in place when opened.
WAL mode and a busy timeout let API workers and the batch write side by side.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000

MIGRATIONS: list[str] = [
    # 0 -> 1: the reference design's schema
    """
    CREATE TABLE IF NOT EXISTS batch_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        total_images INTEGER NOT NULL,
        successful INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        success_rate REAL NOT NULL,
        duration_seconds REAL,
        status TEXT NOT NULL,
        error_message TEXT
    );
    CREATE TABLE IF NOT EXISTS api_calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response_time REAL NOT NULL,
        success BOOLEAN NOT NULL
    );
    CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        severity TEXT NOT NULL,
        subject TEXT NOT NULL,
        message TEXT NOT NULL,
        resolved BOOLEAN DEFAULT 0,
        resolved_at TEXT,
        resolved_by TEXT
    );
    CREATE INDEX IF NOT EXISTS idx_batch_timestamp ON batch_runs(timestamp);
    CREATE INDEX IF NOT EXISTS idx_api_timestamp ON api_calls(timestamp);
    CREATE INDEX IF NOT EXISTS idx_alerts_severity ON alerts(severity);
    CREATE INDEX IF NOT EXISTS idx_alerts_resolved ON alerts(resolved);
    """,
    # 1 -> 2: what the API's /stats and the batch's run records need beyond the spec
    """
    ALTER TABLE api_calls ADD COLUMN request_id TEXT;
    ALTER TABLE api_calls ADD COLUMN method TEXT;
    ALTER TABLE api_calls ADD COLUMN category TEXT;
    ALTER TABLE api_calls ADD COLUMN images INTEGER DEFAULT 0;
    ALTER TABLE api_calls ADD COLUMN error TEXT;
    ALTER TABLE batch_runs ADD COLUMN run_id TEXT;
    ALTER TABLE batch_runs ADD COLUMN classifier_path TEXT;
    ALTER TABLE batch_runs ADD COLUMN images_per_second REAL;
    ALTER TABLE batch_runs ADD COLUMN low_confidence INTEGER;
    ALTER TABLE batch_runs ADD COLUMN summary_json TEXT;
    ALTER TABLE alerts ADD COLUMN source TEXT;
    ALTER TABLE alerts ADD COLUMN delivery TEXT;
    CREATE INDEX IF NOT EXISTS idx_batch_run_id ON batch_runs(run_id);
    CREATE INDEX IF NOT EXISTS idx_api_endpoint ON api_calls(endpoint);
    """,
    # 2 -> 3: one row per image the API classified (a batch call is one api_calls row
    # but many predictions), for the per-category counts of /stats
    """
    CREATE TABLE IF NOT EXISTS api_predictions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        request_id TEXT,
        endpoint TEXT NOT NULL,
        category TEXT NOT NULL,
        confidence REAL NOT NULL,
        tier TEXT
    );
    CREATE INDEX IF NOT EXISTS idx_api_predictions_category ON api_predictions(category);
    """,
    # 3 -> 4: the nightly batch's crash-safe file journal (fashion_classifier.batch.journal):
    # one row per run and one per input file, each file's state written before and after it moves
    """
    CREATE TABLE IF NOT EXISTS batch_run_state (
        run_id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        state TEXT NOT NULL,
        pid INTEGER,
        input_dir TEXT,
        attempts INTEGER NOT NULL DEFAULT 1,
        active_seconds REAL NOT NULL DEFAULT 0,
        classifier_path TEXT,
        error_message TEXT,
        outputs TEXT
    );
    CREATE TABLE IF NOT EXISTS batch_files (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        source_path TEXT NOT NULL,
        rel_name TEXT NOT NULL,
        size INTEGER,
        mtime REAL,
        content_hash TEXT,
        state TEXT NOT NULL,
        status TEXT,
        category TEXT,
        confidence REAL,
        tier TEXT,
        top2_category TEXT,
        top2_confidence REAL,
        all_predictions TEXT,
        model_version TEXT,
        classified_by TEXT,
        error_code TEXT,
        error TEXT,
        duplicate_of INTEGER,
        dest_path TEXT,
        move_method TEXT,
        note TEXT,
        classified_at TEXT,
        finished_at TEXT,
        UNIQUE (run_id, seq)
    );
    CREATE INDEX IF NOT EXISTS idx_batch_files_hash ON batch_files(content_hash);
    CREATE INDEX IF NOT EXISTS idx_batch_files_state ON batch_files(state);
    CREATE INDEX IF NOT EXISTS idx_batch_files_source ON batch_files(source_path);
    CREATE INDEX IF NOT EXISTS idx_batch_files_dest ON batch_files(dest_path);
    """,
    # 4 -> 5: monitoring. The clerk's review decisions (fashion_classifier.review: one per
    # reviewed photo, written "planned" before its file moves, like the batch journal) and
    # the log of the cron health checks of the API (fashion_classifier.monitoring.api_health)
    """
    CREATE TABLE IF NOT EXISTS review_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_file_id INTEGER NOT NULL UNIQUE,
        run_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_hash TEXT,
        tier TEXT,
        confidence REAL,
        old_category TEXT NOT NULL,
        new_category TEXT NOT NULL,
        action TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        old_path TEXT NOT NULL,
        new_path TEXT,
        state TEXT NOT NULL,
        move_method TEXT,
        note TEXT
    );
    CREATE INDEX IF NOT EXISTS idx_review_decisions_run ON review_decisions(run_id);
    CREATE INDEX IF NOT EXISTS idx_review_decisions_time ON review_decisions(decided_at);
    CREATE TABLE IF NOT EXISTS health_checks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        target TEXT NOT NULL,
        ok BOOLEAN NOT NULL,
        status_code INTEGER,
        response_time REAL,
        detail TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS idx_health_checks_timestamp ON health_checks(timestamp);
    """,
    # 5 -> 6: the dashboard's recent predictions and error distribution. What a /predict call
    # answered beyond its category (confidence, tier), how many files of a /predict_batch call
    # failed, and an index that finds the batch's latest classifications without a scan
    """
    ALTER TABLE api_calls ADD COLUMN confidence REAL;
    ALTER TABLE api_calls ADD COLUMN tier TEXT;
    ALTER TABLE api_calls ADD COLUMN failed INTEGER;
    CREATE INDEX IF NOT EXISTS idx_batch_files_classified ON batch_files(classified_at);
    """,
    # 6 -> 7: undoing a review decision (fashion_classifier.review.undo). The decision row stays
    # (audit trail) and says who undid it, when, and where the photo went back to; "planned"
    # before the file moves back, "done" after, like the decision itself. A photo can then be
    # decided again, so "one decision per photo" becomes "one decision not undone per photo":
    # the table is rebuilt with every column kept, the UNIQUE on batch_file_id replaced by a
    # partial unique index (SQLite cannot drop a column constraint in place)
    """
    CREATE TABLE review_decisions_v7 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch_file_id INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_hash TEXT,
        tier TEXT,
        confidence REAL,
        old_category TEXT NOT NULL,
        new_category TEXT NOT NULL,
        action TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        old_path TEXT NOT NULL,
        new_path TEXT,
        state TEXT NOT NULL,
        move_method TEXT,
        note TEXT,
        undo_state TEXT,
        undone_by TEXT,
        undone_at TEXT,
        undo_path TEXT,
        undo_note TEXT
    );
    INSERT INTO review_decisions_v7 (id, batch_file_id, run_id, filename, content_hash, tier,
        confidence, old_category, new_category, action, reviewer, decided_at, old_path, new_path, state,
        move_method, note)
        SELECT id, batch_file_id, run_id, filename, content_hash, tier, confidence, old_category,
        new_category, action, reviewer, decided_at, old_path, new_path, state, move_method, note
        FROM review_decisions;
    DROP TABLE review_decisions;
    ALTER TABLE review_decisions_v7 RENAME TO review_decisions;
    CREATE INDEX IF NOT EXISTS idx_review_decisions_run ON review_decisions(run_id);
    CREATE INDEX IF NOT EXISTS idx_review_decisions_time ON review_decisions(decided_at);
    CREATE UNIQUE INDEX IF NOT EXISTS idx_review_decisions_standing ON review_decisions(batch_file_id)
        WHERE undo_state IS NOT 'done';
    """,
    # 7 -> 8: the model lifecycle (fashion_classifier.models): every promotion and rollback of the
    # version in service, who did it, from which version to which, with the gate's figures
    """
    CREATE TABLE IF NOT EXISTS model_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        from_version TEXT,
        to_version TEXT NOT NULL,
        forced BOOLEAN NOT NULL DEFAULT 0,
        metrics TEXT,
        note TEXT
    );
    CREATE INDEX IF NOT EXISTS idx_model_events_time ON model_events(timestamp);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now_iso() -> str:
    """Local wall-clock time, ISO 8601 to the second (what the spec's examples show)."""
    return datetime.now().isoformat(timespec="seconds")


def utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the history database."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                           isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the missing migrations, each in its own transaction; returns the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current == version:  # another process may have migrated meanwhile
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _statements(script: str) -> Iterator[str]:
    for statement in script.split(";"):
        if statement.strip():
            yield statement


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# classified photos per run and how many the model called Other ("~" sorts after every run id)
OTHER_BY_RUN_SQL = (
    "SELECT run_id, COUNT(*) AS photos, SUM(category = 'Other') AS other,"
    " AVG(category = 'Other') AS share FROM batch_files WHERE status = 'success' AND run_id < ?"
    " GROUP BY run_id ORDER BY run_id DESC LIMIT ?")


class HistoryDB:
    """Thin, thread-safe access object over one database file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def execute(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # --- api_calls -------------------------------------------------------
    API_COLUMNS = ("timestamp", "endpoint", "status_code", "response_time", "success",
                   "request_id", "method", "category", "images", "error", "confidence", "tier", "failed")

    def record_api_calls(self, rows: Iterable[dict]) -> int:
        """Insert many api_calls rows in one transaction (rows: dicts of API_COLUMNS)."""
        values = [tuple(row.get(c) for c in self.API_COLUMNS) for row in rows]
        if not values:
            return 0
        placeholders = ", ".join("?" for _ in self.API_COLUMNS)
        with self._lock, transaction(self._conn):
            self._conn.executemany(
                f"INSERT INTO api_calls ({', '.join(self.API_COLUMNS)}) VALUES ({placeholders})", values)
        return len(values)

    PREDICTION_COLUMNS = ("timestamp", "request_id", "endpoint", "category", "confidence", "tier")

    def record_api_predictions(self, rows: Iterable[dict]) -> int:
        """Insert many api_predictions rows in one transaction (rows: dicts of PREDICTION_COLUMNS)."""
        values = [tuple(row.get(c) for c in self.PREDICTION_COLUMNS) for row in rows]
        if not values:
            return 0
        placeholders = ", ".join("?" for _ in self.PREDICTION_COLUMNS)
        with self._lock, transaction(self._conn):
            self._conn.executemany(
                f"INSERT INTO api_predictions ({', '.join(self.PREDICTION_COLUMNS)}) VALUES ({placeholders})",
                values)
        return len(values)

    # --- batch_runs ------------------------------------------------------
    BATCH_COLUMNS = ("timestamp", "total_images", "successful", "failed", "success_rate",
                     "duration_seconds", "status", "error_message", "run_id", "classifier_path",
                     "images_per_second", "low_confidence", "summary_json")

    def log_batch_run(self, run: dict) -> int:
        """Insert one batch_runs row (the spec's ``ExecutionHistoryDB.log_batch_run``)."""
        columns = [c for c in self.BATCH_COLUMNS if c in run]
        with self._lock, transaction(self._conn):
            cursor = self._conn.execute(
                f"INSERT INTO batch_runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [run[c] for c in columns])
        return int(cursor.lastrowid)

    def get_recent_batch_runs(self, days: float = 7) -> list[dict]:
        since = (datetime.now() - timedelta(days=days)).isoformat(timespec="seconds")
        rows = self.execute("SELECT * FROM batch_runs WHERE timestamp >= ? ORDER BY timestamp DESC",
                            (since,))
        return [dict(r) for r in rows]

    def other_by_run(self, runs: int = 7, before_run: str = "~") -> list[dict]:
        """Newest first: per batch run, classified photos and how many were Other (none of ours)."""
        return [dict(r) for r in self.execute(OTHER_BY_RUN_SQL, (before_run, runs))]

    # --- model_events ----------------------------------------------------
    def record_model_event(self, action: str, actor: str, from_version: str | None, to_version: str,
                           forced: bool = False, metrics: dict | None = None, note: str = "") -> int:
        import json

        with self._lock, transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO model_events (timestamp, action, actor, from_version, to_version, forced,"
                " metrics, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), action, actor, from_version, to_version, int(forced),
                 json.dumps(metrics or {}), note))
        return int(cursor.lastrowid)

    def model_events(self, limit: int = 20) -> list[dict]:
        rows = self.execute("SELECT * FROM model_events ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    # --- alerts ----------------------------------------------------------
    def record_alert(self, severity: str, subject: str, message: str, source: str = "",
                     delivery: str = "", timestamp: str | None = None) -> int:
        with self._lock, transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT INTO alerts (timestamp, severity, subject, message, resolved, source, delivery)"
                " VALUES (?, ?, ?, ?, 0, ?, ?)",
                (timestamp or now_iso(), severity, subject, message, source, delivery))
        return int(cursor.lastrowid)

    def update_alert_delivery(self, alert_id: int, delivery: str) -> None:
        with self._lock, transaction(self._conn):
            self._conn.execute("UPDATE alerts SET delivery = ? WHERE id = ?", (delivery, alert_id))

    def recent_alerts(self, limit: int = 20) -> list[dict]:
        return [dict(r) for r in self.execute("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))]
