"""What the monitoring commands share: where things are, and how numbers and times read."""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from ..config import Config
from ..history import HistoryDB

# settings that move with --output-root (the batch's option of the same name, plus ours)
OUTPUT_FIELDS = ("processed_dir", "failed_dir", "results_dir", "batch_results_dir", "reports_dir",
                 "logs_dir", "history_db", "monitoring_state_dir", "exports_dir", "corrections_dir",
                 "retake_dir")


EXIT_CRITICAL = 2


def crash_is_critical(main):
    """A checker that crashes exits 2 (critical), never Python's 1, which cron reads as a warning."""
    @functools.wraps(main)
    def guarded(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except Exception as exc:
            traceback.print_exc()
            print(f"CRITICAL - the check itself failed: {type(exc).__name__}: {exc}")
            return EXIT_CRITICAL
    return guarded


def add_location_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-root", "-o", type=Path, metavar="DIR",
                        help="the batch's --output-root: data/, results/ and logs/ below it "
                             "(default: the project root)")
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help="execution-history database (default: FASHION_HISTORY_DB or "
                             "logs/execution_history.db)")


def located(config: Config, args: argparse.Namespace) -> Config:
    """The configuration with --output-root and --db applied."""
    changes: dict = {}
    if getattr(args, "output_root", None) is not None:
        root = Path(args.output_root).resolve()
        for name in OUTPUT_FIELDS:
            value = getattr(config, name)
            if value is not None and not Path(value).is_absolute():
                changes[name] = root / value
    if getattr(args, "db", None) is not None:
        changes["history_db"] = Path(args.db).resolve()
    return replace(config, **changes)


def history_missing(config: Config, who: str) -> bool:
    """True, after saying so on stderr, when there is no history database to read."""
    db_path = config.path("history_db")
    if db_path.exists():
        return False
    print(f"{who}: no history database at {db_path}", file=sys.stderr)
    return True


def day(text: str) -> date:
    """argparse type for YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def thousands(n: float) -> str:
    return f"{n:,.0f}"


def percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}%"


def ago(then: datetime, now: datetime | None = None) -> str:
    """'2 hours ago', '3 days ago', 'just now'."""
    seconds = ((now or datetime.now()) - then).total_seconds()
    if seconds < 0:
        return "in the future (clock skew?)"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def next_run(schedule_time: str, now: datetime | None = None) -> str:
    """'Tonight at 2:00 AM' / 'Tomorrow at 2:00 AM' for the crontab's daily HH:MM."""
    now = now or datetime.now()
    try:
        hour, minute = (int(part) for part in schedule_time.split(":"))
        when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        return f"daily at {schedule_time}"
    if when <= now:
        when += timedelta(days=1)
    clock = when.strftime("%I:%M %p").lstrip("0")
    if when.date() == now.date():
        return f"{'Tonight' if when.hour >= 18 or when.hour < 6 else 'Today'} at {clock}"
    if when.hour < 6 and now.hour >= 12:  # 2 AM seen from the afternoon before
        return f"Tonight at {clock}"
    return f"Tomorrow at {clock}"


@contextmanager
def optional_history(config: Config, who: str) -> Iterator[HistoryDB | None]:
    """The history database if it opens; a health check keeps working (and says so) without it."""
    try:
        db = HistoryDB(config.path("history_db"))
    except Exception as exc:
        print(f"{who}: history database unavailable: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield db
    finally:
        db.close()
