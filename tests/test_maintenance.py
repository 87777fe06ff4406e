"""Operations commands: retention without a batch, and the runbook's database procedures."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

from conftest import ROOT

from fashion_classifier.history import HistoryDB
from fashion_classifier.maintenance import backup_db, check_db, repair_db, run_retention


def _history_with_runs(path, count=300):
    db = HistoryDB(path)
    for i in range(count):
        db.log_batch_run(
            {
                "timestamp": f"2026-10-{1 + i % 28:02d}T02:00:00",
                "total_images": i,
                "successful": i,
                "failed": 0,
                "success_rate": 100.0,
                "status": "success",
                "error_message": f"run-{i:04d}-" + "x" * 190,
            }
        )
    db.record_alert("INFO", "Batch Processing Complete", "fine")
    db.close()


def test_retention_removes_only_expired_files(tmp_config):
    results = tmp_config.path("batch_results_dir")
    logs = tmp_config.path("logs_dir")
    results.mkdir(parents=True)
    logs.mkdir(parents=True)
    old_csv = results / "batch_results_20200101_020000.csv"
    new_csv = results / time.strftime("batch_results_%Y%m%d_020000.csv")
    old_log = logs / "batch_20200101_020000.log"
    other = results / "notes.txt"
    for path in (old_csv, new_csv, old_log, other):
        path.write_text("x")
    removed = run_retention(tmp_config)
    assert set(removed) == {old_csv, old_log}
    assert new_csv.exists() and other.exists()


def test_check_backup_and_repair_a_corrupted_database(tmp_path):
    db_path = tmp_path / "execution_history.db"
    _history_with_runs(db_path)
    assert check_db(db_path) == (True, "ok")
    backup = backup_db(db_path, tmp_path / "backups")
    assert check_db(backup)[0]
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT COUNT(*) FROM batch_runs").fetchone()[0] == 300
    content = db_path.read_bytes()
    with open(db_path, "r+b") as handle:  # scribble over the batch_runs page holding run 150
        handle.seek(content.index(b"run-0150-") // 4096 * 4096)
        handle.write(bytes(range(256)) * 16)
    ok, said = check_db(db_path)
    assert not ok and said
    aside, saved = repair_db(db_path)
    assert aside.exists() and aside.name.startswith("execution_history.db.corrupt-")
    assert check_db(db_path)[0]
    # the scribble spans at most two pages of ~15 rows each: only the rows on them are lost
    assert 250 <= saved["batch_runs"] < 300 and saved["alerts"] == 1
    db = HistoryDB(db_path)  # the repaired file is a normal, current history database
    assert len(db.execute("SELECT * FROM batch_runs")) == saved["batch_runs"]
    db.log_batch_run(
        {
            "timestamp": "2026-11-25T02:00:00",
            "total_images": 1,
            "successful": 1,
            "failed": 0,
            "success_rate": 100.0,
            "status": "success",
        }
    )


def test_cli_exit_codes(tmp_path):
    db_path = tmp_path / "h.db"
    db_path.write_bytes(b"this is not a database at all" * 200)
    command = [sys.executable, "-m", "fashion_classifier.maintenance"]
    done = subprocess.run(
        command + ["check-db", "--db", str(db_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2 and "CORRUPT" in done.stdout
    done = subprocess.run(
        command + ["repair-db", "--db", str(db_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        command + ["check-db", "--db", str(db_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0 and ": ok" in done.stdout
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "monitoring" / "cleanup_retention.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "retention" in help_text
