"""``monitoring/check_batch_health.py``: the spec's status box of the nightly batch (6.6.2).

Last run and its age, success rate and images of the last 7 days, failed runs
of the last 30, files waiting in the incoming folder, an interrupted run
waiting to be resumed, free disk space. "No batch run in 36 hours" and "disk
space low" alert by e-mail, once per episode (the state file remembers).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..alerts import deliver, no_channel_notice, no_recent_run_alert
from ..alerts.health import disk_space_alert
from ..config import Config
from ..history import HistoryDB
from .box import box
from .common import add_location_args, ago, crash_is_critical, located, next_run, percent, thousands
from .queries import History, Run, totals
from .state import StateFile
from .status import CRITICAL, OK, WARNING, Findings

GB = 1024 ** 3


@dataclass
class BatchHealth:
    now: datetime
    last_run: Run | None = None
    week: dict = field(default_factory=dict)
    failed_runs_30d: int = 0
    pending: int = 0
    pending_oldest: float | None = None  # mtime
    unfinished: list[dict] = field(default_factory=list)  # journal runs not done, with "alive"
    free_gb: float | None = None
    findings: Findings = field(default_factory=Findings)
    database: str = "missing"  # "missing", "ok" or "unreadable"

    @property
    def level(self) -> int:
        return self.findings.level


def collect(config: Config, now: datetime | None = None) -> BatchHealth:
    health = BatchHealth(now or datetime.now())
    db_path = config.path("history_db")
    if not db_path.exists():
        health.findings.warn(f"No batch run recorded (no history database at {db_path})")
    else:
        try:
            _read_history(health, HistoryDB(db_path))
            health.database = "ok"
        except sqlite3.DatabaseError as exc:
            health.database = "unreadable"
            health.findings.critical(f"History database unreadable: {exc}")
    _read_incoming(health, config)
    _read_disk(health, config)
    _judge(health, config)
    return health


def _read_history(health: BatchHealth, db: HistoryDB) -> None:
    try:
        history = History(db)
        health.last_run = history.last_run()
        stamp = (health.now - timedelta(days=7)).isoformat(timespec="seconds")
        health.week = totals(history.runs_between(stamp, "9999"))
        month = (health.now - timedelta(days=30)).isoformat(timespec="seconds")
        health.failed_runs_30d = db.execute("SELECT COUNT(*) FROM batch_runs WHERE status = 'failed'"
                                            " AND timestamp >= ?", (month,))[0][0]
        rows = db.execute("SELECT run_id, started_at, state, pid FROM batch_run_state WHERE state != 'done'")
        health.unfinished = [dict(r, alive=_alive(r["pid"])) for r in rows]
    finally:
        db.close()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_incoming(health: BatchHealth, config: Config) -> None:
    from ..batch.scanning import scan_incoming  # the batch's own idea of "ready to process"

    scan = scan_incoming(config.path("incoming_dir"), 0.0)
    health.pending = len(scan.candidates)
    if scan.candidates:
        health.pending_oldest = min(c.mtime for c in scan.candidates)


def _read_disk(health: BatchHealth, config: Config) -> None:
    folder = config.path("processed_dir")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        health.free_gb = shutil.disk_usage(folder).free / GB
    except OSError:
        health.free_gb = None


def _judge(health: BatchHealth, config: Config) -> None:
    f, run, limit = health.findings, health.last_run, config.alert_no_run_hours
    if run is None and health.database == "ok":
        f.warn("No batch run recorded")
    elif run is not None:
        age_hours = (health.now - run.timestamp).total_seconds() / 3600
        if age_hours > limit:
            f.warn(f"No batch run in {age_hours:.0f} hours (limit {limit:g} h): check the scheduler")
        if run.status == "failed":
            f.critical(f"Last run {run.run_id or run.id} failed: {run.error_message or 'every image failed'}")
        elif run.status == "partial":
            f.warn(f"Last run had a high error rate ({run.failed} of {run.total} failed)")
    rate = health.week.get("success_rate")
    floor = 100 * (1 - config.alert_failure_rate)
    if rate is not None and rate < floor:
        f.warn(f"Success rate over 7 days is {rate:.1f}% (below {floor:.0f}%)")
    if health.pending_oldest is not None and time.time() - health.pending_oldest > limit * 3600:
        f.warn(f"{health.pending} file(s) in the incoming folder, the oldest waiting over {limit:g} h")
    for r in health.unfinished:
        if not r["alive"]:
            f.warn(f"Run {r['run_id']} was interrupted ({r['state']}); the next batch run resumes it")
    if health.free_gb is not None and health.free_gb < config.alert_min_free_disk_gb:
        f.warn(f"Disk space low: {health.free_gb:.1f} GB free (limit {config.alert_min_free_disk_gb:g} GB)")


def render(health: BatchHealth, config: Config) -> str:
    run, week = health.last_run, health.week
    status = {OK: "✓ HEALTHY", WARNING: "⚠ WARNING", CRITICAL: "✗ CRITICAL"}[health.level]
    facts = [f"Status: {status}"]
    if run is None:
        facts.append("Last Run: never")
    else:
        facts += [f"Last Run: {ago(run.timestamp, health.now)} ({run.timestamp:%Y-%m-%d %H:%M})",
                  f"Last Run Result: {run.status}, {thousands(run.total)} images, "
                  f"{percent(run.success_rate)} success"]
    facts += [f"Success Rate (7 days): {percent(week.get('success_rate'))}",
              f"Total Processed (7 days): {thousands(week.get('images', 0))} images",
              f"Failed Runs (30 days): {health.failed_runs_30d}",
              f"Pending in incoming: {health.pending} file{'s' if health.pending != 1 else ''}"]
    running = [r for r in health.unfinished if r["alive"]]
    if running:
        facts.append(f"Running now: run {running[0]['run_id']} since {running[0]['started_at']}")
    issues = [f"Issues: {'None detected' if not health.findings.issues else len(health.findings.issues)}"]
    issues += [("✗ " if i.level == CRITICAL else "⚠ ") + i.text for i in health.findings.issues]
    issues.append(f"Next Scheduled Run: {next_run(config.batch_schedule_time, health.now)}")
    return box("BATCH PROCESSING HEALTH CHECK", [facts, issues])


def send_alerts(health: BatchHealth, config: Config, state: StateFile) -> list[str]:
    """Alert once per episode: per stale "last run", per low-disk spell."""
    to_send = []
    with state.update() as data:
        last = health.last_run.timestamp.isoformat(timespec="seconds") if health.last_run else None
        stale = no_recent_run_alert(last, config, health.now)
        key = last or "never"
        if stale is not None and data.get("no_run_alerted_for") != key:
            to_send.append(stale)
            data["no_run_alerted_for"] = key
        elif stale is None:
            data.pop("no_run_alerted_for", None)
        low = health.free_gb is not None and health.free_gb < config.alert_min_free_disk_gb
        if low and not data.get("disk_alerted"):
            to_send.append(disk_space_alert(str(config.path("processed_dir")), health.free_gb,
                                            config.alert_min_free_disk_gb))
        data["disk_alerted"] = low
    return [_deliver(config, alert) for alert in to_send]


def _deliver(config: Config, alert) -> str:
    db = HistoryDB(config.path("history_db")) if config.path("history_db").exists() else None
    try:
        result = deliver(config, db, alert)
    finally:
        if db is not None:
            db.close()
    channels = ", ".join(f"{c} {d.get('status')}" for c, d in sorted(result.delivery.items()))
    return f"{alert.severity} alert '{alert.subject}': {channels or 'no channels'}"


EPILOG = """\
exit codes: 0 healthy, 1 warning (no run in 36 h, last run partial, low success rate, files
waiting too long, interrupted run, low disk), 2 critical (last run failed, database unreadable).

crontab (every morning before the clerks arrive, and hourly if you like; alerts are sent once):
  0 7 * * * /opt/fashion-classifier/monitoring/run_monitoring.sh check_batch_health.py

Settings: FASHION_ALERT_NO_RUN_HOURS (36), FASHION_ALERT_MIN_FREE_DISK_GB (5),
FASHION_BATCH_SCHEDULE_TIME (02:00), alert channels as for the batch. See docs/MONITORING.md.
"""


def parser(config: Config) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="check_batch_health.py", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Health of the nightly batch from the execution history: last run, success rate, "
                    "failures, files waiting in the incoming folder.")
    p.add_argument("--input", "-i", type=Path, metavar="DIR",
                   help=f"incoming folder to count waiting files in (default: {config.incoming_dir})")
    p.add_argument("--max-age-hours", type=float, metavar="H",
                   help=f"warn when the last run is older (default: {config.alert_no_run_hours:g})")
    p.add_argument("--no-alerts", dest="alerts", action="store_false", help="report only, send nothing")
    add_location_args(p)
    return p


@crash_is_critical
def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    args = parser(config).parse_args(argv)
    config = located(config, args)
    if args.input is not None:
        config = config.with_overrides(incoming_dir=args.input.resolve())
    if args.max_age_hours is not None:
        config = config.with_overrides(alert_no_run_hours=args.max_age_hours)
    health = collect(config)
    print(render(health, config))
    if notice := no_channel_notice(config):
        print(f"Note: {notice}")
    if args.alerts:
        for line in send_alerts(health, config, StateFile(config.path("monitoring_state_dir")
                                                          / "batch_health.json")):
            print(line)
    return health.level
