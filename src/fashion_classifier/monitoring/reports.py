"""Weekly summary (spec 9.2.2) and custom date-range reports: HTML with charts, plus CSV.

``weekly_summary_week42.html`` / ``.csv`` cover an ISO week (Monday to Sunday,
by default the last complete one) and compare it with the week before;
``report_YYYYMMDD_YYYYMMDD.html`` / ``.csv`` cover any range of days and compare
with the same number of days before it. The CSV has one row per day.

Commands: ``monitoring/weekly_report.py`` and ``monitoring/custom_report.py``, and the spec's
names for them, ``src/generate_weekly_summary.py``, ``src/generate_custom_report.py --start
--end`` and ``src/generate_batch_report.py --days N`` / ``--date D`` (the last N days, or one
day: a batch's report rebuilt from the database when its CSV is lost).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ..batch.outputs.atomic import atomic_path, write_text
from ..config import Config
from ..history import HistoryDB
from ..labels import DEFAULT_CATEGORIES, category_names, report_columns
from .common import add_location_args, day, history_missing, located
from .queries import TIER_KEYS, History, daily, day_range, totals
from .report_html import render_html


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    title: str  # "Week 42: October 13-19, 2025"
    slug: str  # output file stem

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        last = self.first - timedelta(days=1)
        first = last - timedelta(days=self.days - 1)
        return Period(first, last, "previous period", "")


def week_period(iso_week: str | None = None, today: date | None = None) -> Period:
    """An ISO week ("2025-W42"); default: the last complete one (Monday to Sunday)."""
    if iso_week:
        year, _, week = iso_week.upper().partition("-W")
        first = date.fromisocalendar(int(year), int(week), 1)
    else:
        today = today or date.today()
        first = today - timedelta(days=today.weekday() + 7)
    last = first + timedelta(days=6)
    number = first.isocalendar().week
    span = (f"{first:%B} {first.day}-{last.day}, {last.year}" if first.month == last.month
            else f"{first:%B} {first.day} - {last:%B} {last.day}, {last.year}")
    return Period(first, last, f"Week {number}: {span}", f"weekly_summary_week{number:02d}")


def range_period(first: date, last: date) -> Period:
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return Period(first, last, f"{first:%B %d, %Y} - {last:%B %d, %Y}",
                  f"report_{first:%Y%m%d}_{last:%Y%m%d}")


def build(history: History, period: Period, categories=DEFAULT_CATEGORIES) -> dict:
    runs = history.runs_between(*day_range(period.first, period.last))
    before = period.previous()
    previous = totals(history.runs_between(*day_range(before.first, before.last)))
    start, end = day_range(period.first, period.last)
    return {"period": period, "runs": runs, "categories": tuple(categories), "totals": totals(runs),
            "previous": previous,
            "days": daily(runs, period.first, period.last), "alerts": history.alerts_between(start, end),
            "reviewed": history.reviewed_between(start, end), "generated": datetime.now()}


CSV_HEAD = ["date", "runs", "images", "successful", "failed", "success_rate", "avg_duration_seconds",
            "images_per_minute", "avg_confidence", "other_share", "auto_approve", "quick_check",
            "manual_review"]


def write_csv(path: Path, report: dict) -> Path:
    categories = report_columns(report.get("categories", DEFAULT_CATEGORIES), report["totals"]["categories"])
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEAD + categories)
            for d, t in report["days"]:
                writer.writerow([d.isoformat(), t["runs"], t["images"], t["successful"], t["failed"],
                                 _num(t["success_rate"], 2), _num(t["avg_duration"], 1),
                                 _num(t["images_per_minute"], 1), _num(t["avg_confidence"], 4),
                                 _num(t["other_share"], 2)]
                                + [t["tiers"][k] for k in TIER_KEYS]
                                + [t["categories"][c] for c in categories])
    return path


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_report(history: History, period: Period, folder: Path,
                 categories=DEFAULT_CATEGORIES) -> tuple[Path, Path, dict]:
    report = build(history, period, categories)
    html = write_text(folder / f"{period.slug}.html", render_html(report))
    return html, write_csv(folder / f"{period.slug}.csv", report), report


def _run(config: Config, period: Period, output: Path | None) -> int:
    db_path = config.path("history_db")
    if history_missing(config, "report"):
        return 2
    try:
        with closing(HistoryDB(db_path)) as db:
            html, csv_path, report = write_report(History(db), period, output or config.path("reports_dir"),
                                                  category_names(config))
    except sqlite3.DatabaseError as exc:
        print(f"cannot read {db_path}: {exc}")
        return 2
    t = report["totals"]
    print(f"{period.title}: {t['runs']} runs, {t['images']:,} images")
    print(f"HTML: {html}\nCSV:  {csv_path}")
    return 0


def _common(p: argparse.ArgumentParser, config: Config) -> None:
    p.add_argument("--output", type=Path, metavar="DIR",
                   help=f"folder for the HTML and CSV (default: {config.reports_dir})")
    add_location_args(p)


def weekly_main(argv: list[str] | None = None, config: Config | None = None,
                prog: str = "weekly_report.py") -> int:
    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Weekly batch summary (HTML with charts, plus CSV) with the week-over-week comparison.",
        epilog="crontab (Monday 7 AM, the week that just ended):\n"
               "  0 7 * * 1 /opt/fashion-classifier/monitoring/run_monitoring.sh weekly_report.py\n"
               "exit codes: 0 written, 2 no (readable) history database.")
    p.add_argument("--week", metavar="YYYY-Www",
                   help="ISO week, e.g. 2025-W42 (default: the last complete week)")
    _common(p, config)
    args = p.parse_args(argv)
    try:
        period = week_period(args.week)
    except ValueError:
        p.error(f"--week must look like 2025-W42, not {args.week!r}")
    return _run(located(config, args), period, args.output)


def custom_main(argv: list[str] | None = None, config: Config | None = None,
                prog: str = "custom_report.py") -> int:
    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Batch report for any range of days (HTML with charts, plus CSV), compared with the "
                    "same number of days before it.",
        epilog=f"example: {prog} --from 2025-10-01 --to 2025-10-31 (or --start ... --end ...)\n"
               "exit codes: 0 written, 2 no (readable) history database.")
    p.add_argument("--from", "--start", dest="first", type=day, required=True, metavar="DATE",
                   help="first day (YYYY-MM-DD)")
    p.add_argument("--to", "--end", dest="last", type=day, metavar="DATE",
                   help="last day, included (default: today)")
    _common(p, config)
    args = p.parse_args(argv)
    try:
        period = range_period(args.first, args.last or date.today())
    except ValueError as exc:
        p.error(str(exc))
    return _run(located(config, args), period, args.output)


def batch_report_main(argv: list[str] | None = None, config: Config | None = None) -> int:
    """``src/generate_batch_report.py``: the spec's command, the range report of the last days."""
    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog="generate_batch_report.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Batch report of the last N days, or of one day, from the history database "
                    "(HTML with charts, plus CSV); the same report as custom_report.py.",
        epilog="examples:\n  generate_batch_report.py --days 7\n"
               "  generate_batch_report.py --date 2025-10-13  (a night's report, from the database)\n"
               "exit codes: 0 written, 2 no (readable) history database.")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--days", type=int, default=7, metavar="N",
                      help="the last N days, today included (default: 7)")
    when.add_argument("--date", type=day, metavar="DATE", help="one day (YYYY-MM-DD)")
    _common(p, config)
    args = p.parse_args(argv)
    if args.days < 1:
        p.error("--days must be at least 1")
    last = args.date or date.today()
    first = args.date or last - timedelta(days=args.days - 1)
    return _run(located(config, args), range_period(first, last), args.output)
