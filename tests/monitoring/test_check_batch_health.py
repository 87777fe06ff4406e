"""check_batch_health.py on real histories: the status box, its exit codes, and its e-mail alert."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from batch_support import clean_env, copy_photos

from .history_support import backdate, connect, db_path, run_script


def health(out, *args, env=None):
    return run_script("check_batch_health.py", "--output-root", str(out), "--input", str(out / "incoming"),
                      *args, env=env or clean_env())


def field(text: str, name: str) -> str:
    match = re.search(rf"║  {re.escape(name)}: (.*?)\s*║", text)
    assert match, f"{name!r} not in:\n{text}"
    return match.group(1)


def test_healthy_history_exits_0_with_the_spec_box(history):
    out = history["out"]
    result = health(out, "--no-alerts")
    assert result.returncode == 0, result.stdout
    text = result.stdout
    assert "BATCH PROCESSING HEALTH CHECK" in text and field(text, "Status") == "✓ HEALTHY"
    assert field(text, "Issues") == "None detected"
    with connect(out) as conn:
        since = (datetime.now() - timedelta(days=7)).isoformat(timespec="seconds")
        total, ok = conn.execute("SELECT SUM(total_images), SUM(successful) FROM batch_runs"
                                 " WHERE timestamp >= ?", (since,)).fetchone()
        failed = conn.execute("SELECT COUNT(*) FROM batch_runs WHERE status = 'failed'").fetchone()[0]
    assert field(text, "Success Rate (7 days)") == f"{100 * ok / total:.1f}%"
    assert field(text, "Total Processed (7 days)") == f"{total:,} images"
    assert field(text, "Failed Runs (30 days)") == str(failed) == "1"
    assert field(text, "Last Run").startswith("3 hours ago")
    assert field(text, "Pending in incoming") == "0 files"
    assert "Next Scheduled Run: " in text


def test_no_run_for_36_hours_warns_and_emails_once(history_copy, receivers):
    smtp, slack, env = receivers
    with connect(history_copy) as conn:  # the scheduler stopped: nothing ran in the last 40 hours
        conn.execute("DELETE FROM batch_runs WHERE timestamp >= ?",
                     ((datetime.now() - timedelta(hours=40)).isoformat(),))
    first = health(history_copy, env=env)
    assert first.returncode == 1, first.stdout
    silence = re.search(r"No batch run in (\d+) hours \(limit 36 h\)", first.stdout)
    assert "⚠ WARNING" in first.stdout and silence and int(silence.group(1)) >= 40
    assert [m["subject"] for m in smtp.mailbox.messages] == ["[WARNING] Fashion Classifier - No Batch Run"]
    assert slack.posts == []  # the spec routes this one to e-mail only
    second = health(history_copy, env=env)
    assert second.returncode == 1 and len(smtp.mailbox.messages) == 1, "alerted twice for the same silence"


def test_failed_last_run_is_critical(history_copy):
    with connect(history_copy) as conn:
        failed = conn.execute("SELECT run_id FROM batch_runs WHERE status = 'failed'").fetchone()[0]
    backdate(db_path(history_copy), failed, datetime.now() - timedelta(minutes=30))
    result = health(history_copy, "--no-alerts")
    assert result.returncode == 2, result.stdout
    assert field(result.stdout, "Status") == "✗ CRITICAL"
    assert "✗ Last run" in result.stdout and "failed" in result.stdout


def test_files_waiting_in_incoming_are_counted(history_copy):
    copy_photos(history_copy / "incoming", 3)
    result = health(history_copy, "--no-alerts")
    assert result.returncode == 0
    assert field(result.stdout, "Pending in incoming") == "3 files"


def test_without_history_it_warns_and_a_broken_database_is_critical(tmp_path):
    empty = health(tmp_path / "nothing", "--no-alerts")
    assert empty.returncode == 1 and "No batch run recorded" in empty.stdout
    broken = tmp_path / "broken"
    (broken / "logs").mkdir(parents=True)
    (broken / "logs" / "execution_history.db").write_bytes(b"this is not a database" * 100)
    result = health(broken, "--no-alerts")
    assert result.returncode == 2 and "History database unreadable" in result.stdout


def test_help_documents_exit_codes_and_crontab():
    result = run_script("check_batch_health.py", "--help")
    assert result.returncode == 0
    assert "exit codes: 0 healthy, 1 warning" in result.stdout and "crontab" in result.stdout


def test_low_disk_space_warns_and_emails_once_per_spell(history_copy, receivers):
    smtp, _, env = receivers
    low = dict(env, FASHION_ALERT_MIN_FREE_DISK_GB="1000000")  # more than any disk has free
    first = health(history_copy, env=low)
    assert first.returncode == 1 and "⚠ Disk space low:" in first.stdout
    health(history_copy, env=low)
    assert [m["subject"] for m in smtp.mailbox.messages] == ["[WARNING] Fashion Classifier - Disk Space Low"]
    assert health(history_copy, env=env).returncode == 0  # space again: the next low spell alerts again
    health(history_copy, env=low)
    assert len(smtp.mailbox.messages) == 2
