"""The crash-safe journal of a batch run, in the execution-history database.

``batch_run_state``: one row per run (running -> reported -> done).
``batch_files``: one row per input file, whose ``state`` moves

    pending   scanned; nothing decided yet
    planned   classified; status, category and destination written *before* the move
    done      the file is at ``dest_path`` (terminal)
    left      the file stayed where it was, e.g. destination not writable (terminal)

Because every decision is committed before its filesystem effect, a run killed
at any instant is finished by the next one: pending rows are classified again,
planned rows are moved (or found already moved). Commits use
``synchronous=FULL`` so that a power cut cannot roll the journal back behind
the files.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..history import OTHER_BY_RUN_SQL, HistoryDB, connect, now_iso, transaction
from ..where_now import CURRENT_PATH, RUN_FILES_NOW
from .scanning import Candidate

PENDING, PLANNED, DONE, LEFT = "pending", "planned", "done", "left"
RUNNING, REPORTED, FINISHED = "running", "reported", "done"

PLAN_FIELDS = ("content_hash", "status", "category", "confidence", "tier", "top2_category",
               "top2_confidence", "all_predictions", "model_version", "classified_by", "error_code",
               "error", "duplicate_of", "dest_path", "classified_at")
FINISH_FIELDS = ("state", "dest_path", "move_method", "note", "status", "error_code", "error",
                 "finished_at")


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.conn = connect(self.path)
        self.conn.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        self.conn.close()

    def _rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        return [dict(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]

    # --- runs ----------------------------------------------------------------
    def run_exists(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM batch_run_state WHERE run_id = ?", (run_id,)).fetchone() \
            is not None

    def unfinished_runs(self) -> list[dict]:
        return self._rows("SELECT * FROM batch_run_state WHERE state != ? ORDER BY run_id", (FINISHED,))

    def run(self, run_id: str) -> dict:
        rows = self._rows("SELECT * FROM batch_run_state WHERE run_id = ?", (run_id,))
        if not rows:
            raise KeyError(run_id)
        return rows[0]

    def start_run(self, run_id: str, input_dir: Path, pid: int, files: Iterable[Candidate]) -> int:
        """The run and all its files, in one transaction: a run never exists half-listed."""
        values = [(run_id, seq, str(c.path), c.rel_name, c.size, c.mtime, PENDING)
                  for seq, c in enumerate(files, start=1)]
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO batch_run_state (run_id, started_at, state, pid, input_dir)"
                " VALUES (?, ?, ?, ?, ?)", (run_id, now_iso(), RUNNING, pid, str(input_dir)))
            self.conn.executemany(
                "INSERT INTO batch_files (run_id, seq, source_path, rel_name, size, mtime, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        return len(values)

    def resume_run(self, run_id: str, pid: int) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE batch_run_state SET attempts = attempts + 1, pid = ? WHERE run_id = ?",
                              (pid, run_id))

    def set_progress(self, run_id: str, active_seconds: float, classifier_path: str) -> None:
        with transaction(self.conn):
            self._set_progress(run_id, active_seconds, classifier_path)

    def _set_progress(self, run_id: str, active_seconds: float, classifier_path: str) -> None:
        self.conn.execute("UPDATE batch_run_state SET active_seconds = ?, classifier_path = ?"
                          " WHERE run_id = ?", (active_seconds, classifier_path, run_id))

    def record_failure(self, run_id: str, message: str, batch_run: dict) -> None:
        """A caught crash: the run stays resumable; batch_runs shows it failed (until resumed)."""
        with transaction(self.conn):
            self.conn.execute("UPDATE batch_run_state SET error_message = ? WHERE run_id = ?",
                              (message, run_id))
            self._upsert_batch_run(run_id, batch_run)

    def finalize(self, run_id: str, batch_run: dict, outputs: dict) -> None:
        """Outputs are written: log the run in batch_runs (once per run id) and mark it reported."""
        with transaction(self.conn):
            self._upsert_batch_run(run_id, batch_run)
            self.conn.execute("UPDATE batch_run_state SET state = ?, finished_at = ?, outputs = ?"
                              " WHERE run_id = ?", (REPORTED, now_iso(), json.dumps(outputs), run_id))

    def mark_finished(self, run_id: str) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE batch_run_state SET state = ? WHERE run_id = ?", (FINISHED, run_id))

    def _upsert_batch_run(self, run_id: str, batch_run: dict) -> None:
        row = dict(batch_run, run_id=run_id)
        columns = [c for c in HistoryDB.BATCH_COLUMNS if c in row]
        existing = self.conn.execute("SELECT id FROM batch_runs WHERE run_id = ?", (run_id,)).fetchone()
        if existing:
            sets = ", ".join(f"{c} = ?" for c in columns)
            self.conn.execute(f"UPDATE batch_runs SET {sets} WHERE id = ?",
                              [row[c] for c in columns] + [existing[0]])
        else:
            self.conn.execute(
                f"INSERT INTO batch_runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                [row[c] for c in columns])

    def batch_run(self, run_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM batch_runs WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    # --- files ---------------------------------------------------------------
    def files(self, run_id: str, states: Sequence[str] | None = None) -> list[dict]:
        if states:
            marks = ", ".join("?" for _ in states)
            return self._rows(f"SELECT * FROM batch_files WHERE run_id = ? AND state IN ({marks})"
                              " ORDER BY seq", (run_id, *states))
        return self._rows("SELECT * FROM batch_files WHERE run_id = ? ORDER BY seq", (run_id,))

    def files_now(self, run_id: str) -> list[dict]:
        """The run's rows in scan order, with where each photo is now after the review."""
        return self._rows(RUN_FILES_NOW, (run_id,))

    def plan(self, rows: list[dict]) -> None:
        """Commit the decisions (result + destination) of rows before any of them moves."""
        sets = ", ".join(f"{f} = ?" for f in PLAN_FIELDS)
        values = [[row.get(f) for f in PLAN_FIELDS] + [PLANNED, row["id"]] for row in rows]
        with transaction(self.conn):
            self.conn.executemany(f"UPDATE batch_files SET {sets}, state = ? WHERE id = ?", values)

    def replan_destination(self, row_id: int, dest: str) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE batch_files SET dest_path = ? WHERE id = ?", (dest, row_id))

    def finish(self, rows: list[dict], run_id: str | None = None, active_seconds: float | None = None,
               classifier_path: str = "") -> None:
        """Record where files ended (and the run's progress) in one transaction."""
        sets = ", ".join(f"{f} = ?" for f in FINISH_FIELDS)
        values = [[row.get(f) for f in FINISH_FIELDS] + [row["id"]] for row in rows]
        with transaction(self.conn):
            self.conn.executemany(f"UPDATE batch_files SET {sets} WHERE id = ?", values)
            if run_id is not None and active_seconds is not None:
                self._set_progress(run_id, active_seconds, classifier_path)

    def first_successes(self, hashes: Iterable[str]) -> dict[str, dict]:
        """content hash -> the first file with that content that was classified (placed or planned),
        with ``current_path``: where that photo is now, after any review decision."""
        found: dict[str, dict] = {}
        unique = sorted(set(hashes))
        for start in range(0, len(unique), 500):  # stay under SQLite's parameter limit
            part = unique[start:start + 500]
            for row in self._rows(
                    f"SELECT f.*, {CURRENT_PATH} AS current_path FROM batch_files f"
                    f" WHERE f.content_hash IN ({', '.join('?' for _ in part)})"
                    " AND f.status = 'success' AND f.state IN (?, ?) ORDER BY f.id", (*part, DONE, PLANNED)):
                found.setdefault(row["content_hash"], row)
        return found

    def planned_destinations(self) -> set[str]:
        sql = "SELECT dest_path FROM batch_files WHERE state = ? AND dest_path IS NOT NULL"
        return {row[0] for row in self.conn.execute(sql, (PLANNED,)).fetchall()}

    def source_removed(self, row_id: int, note: str) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE batch_files SET move_method = 'copy', note = ? WHERE id = ?",
                              (note, row_id))

    def other_shares(self, before_run: str, runs: int) -> list[float]:
        """Share of Other among the classified photos of the last ``runs`` runs before this one."""
        return [float(r["share"]) for r in self._rows(OTHER_BY_RUN_SQL, (before_run, runs))]

    def kept_sources(self) -> dict[tuple[str, int, float], dict]:
        """Files processed by copy whose source could not be deleted: (path, size, mtime) -> row."""
        rows = self._rows("SELECT * FROM batch_files WHERE state = ? AND move_method = 'copy (source kept)'"
                          " ORDER BY id", (DONE,))
        return {(r["source_path"], r["size"], r["mtime"]): r for r in rows}


def open_journal(path: Path) -> Journal:
    try:
        return Journal(path)
    except sqlite3.DatabaseError as exc:
        raise RuntimeError(f"cannot open the execution-history database {path}: {exc}") from exc
