"""``monitoring/execution_history.py``: the spec's execution history report (6.6.2).

For the last N days (default 7), the last N runs, or a date range: totals,
throughput, success rate, a table of the runs, the category and confidence mix,
failed runs, alerts and the API's health; ``--csv`` writes one row per run.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ..batch.outputs.atomic import atomic_path
from ..config import Config
from ..history import HistoryDB
from ..labels import DEFAULT_CATEGORIES, category_names, report_columns
from ..model import TIER_TITLES
from .box import table
from .common import add_location_args, day, duration, history_missing, located, percent, thousands
from .queries import TIER_KEYS, History, Run, day_range, totals

RULE, THIN = "=" * 70, "-" * 70
MARK = {"success": "✓", "partial": "⚠", "failed": "✗"}


@dataclass(frozen=True)
class Selection:
    title: str
    start: str | None = None
    end: str | None = None
    last: int | None = None

    @classmethod
    def days(cls, days: int, now: datetime) -> Selection:
        start = (now - timedelta(days=days)).isoformat(timespec="seconds")
        return cls(f"Last {days} Day{'s' if days != 1 else ''}", start, "9999")

    @classmethod
    def dates(cls, first: date, last: date) -> Selection:
        start, end = day_range(first, last)
        return cls(f"{first:%Y-%m-%d} to {last:%Y-%m-%d}", start, end)

    @classmethod
    def runs(cls, count: int) -> Selection:
        return cls(f"Last {count} Run{'s' if count != 1 else ''}", last=count)

    def fetch(self, history: History) -> list[Run]:
        if self.last is not None:
            return history.last_runs(self.last)
        return history.runs_between(self.start, self.end)


def build(history: History, selection: Selection, now: datetime) -> dict:
    runs = selection.fetch(history)
    start = selection.start or (runs[0].timestamp.isoformat(timespec="seconds") if runs else now.isoformat())
    end = selection.end or "9999"
    # the spec lists the failures of the last 30 days under the default report; else the selection's
    scope = Selection.days(30, now) if selection.end == "9999" else selection
    failed = [r for r in (scope.fetch(history) if scope is not selection else runs) if r.status == "failed"]
    day_ago = (now - timedelta(hours=24)).isoformat(timespec="seconds")
    return {"selection": selection, "generated": now, "runs": runs, "totals": totals(runs),
            "failed": failed, "failed_title": scope.title, "api": history.api_calls(day_ago),
            "alerts": history.alerts_between(start, end), "reviewed": history.reviewed_between(start, end)}


def render(report: dict) -> str:
    t, runs = report["totals"], report["runs"]
    mean_rate = sum(r.success_rate for r in runs) / len(runs) if runs else None
    lines = [RULE, "EXECUTION HISTORY REPORT", RULE,
             f"Generated: {report['generated']:%Y-%m-%d %H:%M:%S}", "",
             f"BATCH PROCESSING ({report['selection'].title}):", THIN,
             f"  Total runs: {t['runs']}", f"  Successful: {t['successful_runs']}",
             f"  Partial (error rate over the limit): {t['partial_runs']}", f"  Failed: {t['failed_runs']}",
             f"  Avg success rate: {percent(mean_rate)}", f"  Total images: {thousands(t['images'])}",
             f"  Avg processing time: {duration(t['avg_duration'])}",
             f"  Throughput: {_rate(t['images_per_minute'])}"]
    reviewed = report["reviewed"]
    if reviewed:
        lines.append(f"  Reviewed by clerks: {reviewed['confirmed']} confirmed, "
                     f"{reviewed['corrected']} corrected")
    lines.append("")
    if runs:
        lines += ["  Runs:", _indent(_runs_table(runs)), ""]
        lines += _mix_section(t)
    lines += _failed_section(report) + _alerts_section(report) + _api_section(report["api"])
    return "\n".join(lines + [RULE])


def _rate(per_minute: float | None) -> str:
    return "n/a" if per_minute is None else f"{per_minute:,.1f} images/minute"


def _indent(text: str, spaces: int = 4) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _runs_table(runs: list[Run]) -> str:
    rows = []
    for r in reversed(runs):  # newest first, as in the spec
        top = ", ".join(f"{c} {n}" for c, n in r.categories.most_common(3))
        rows.append([f"{MARK.get(r.status, '?')} {r.timestamp:%Y-%m-%d %H:%M}", r.run_id or str(r.id),
                     r.status, thousands(r.total), thousands(r.successful), thousands(r.failed),
                     percent(r.success_rate), duration(r.duration),
                     "n/a" if r.images_per_minute is None else f"{r.images_per_minute:,.0f}",
                     "" if r.low_confidence is None else str(r.low_confidence), top])
    return table(["when", "run", "status", "images", "ok", "failed", "success", "time", "img/min",
                  "low conf", "top categories"], rows, right={3, 4, 5, 6, 7, 8, 9})


def _mix_section(t: dict) -> list[str]:
    classified = sum(t["categories"].values())
    lines = ["  Category mix:"]
    rows = [[c, thousands(n), percent(100 * n / classified)] for c, n in t["categories"].most_common()]
    lines += [_indent(table(["category", "images", "share"], rows, right={1, 2})), "", "  Confidence mix:"]
    rows = [[TIER_TITLES[k], thousands(t["tiers"][k]), percent(100 * t["tiers"][k] / classified)
             if classified else "n/a"] for k in TIER_KEYS]
    average = None if t["avg_confidence"] is None else 100 * t["avg_confidence"]
    lines += [_indent(table(["tier", "images", "share"], rows, right={1, 2})),
              f"    average confidence: {percent(average)}", ""]
    return lines


def _failed_section(report: dict) -> list[str]:
    lines = [f"FAILED RUNS ({report['failed_title']}):", THIN]
    if not report["failed"]:
        return lines + ["  ✓ No failed runs!", ""]
    for r in report["failed"]:
        lines.append(f"  ✗ {r.timestamp:%Y-%m-%d %H:%M} - run {r.run_id or r.id}: "
                     f"{r.error_message or 'every image failed'}")
    return lines + [""]


def _alerts_section(report: dict) -> list[str]:
    alerts = report["alerts"]
    counts = Counter(a["severity"] for a in alerts)
    lines = [f"ALERTS ({report['selection'].title}):", THIN]
    if not alerts:
        return lines + ["  No alerts.", ""]
    lines.append("  " + ", ".join(f"{s}: {counts[s]}" for s in ("CRITICAL", "ERROR", "WARNING", "INFO")
                                  if counts[s]))
    for a in alerts[:10]:
        lines.append(f"    [{a['timestamp'][:16].replace('T', ' ')}] {a['severity']} - {a['subject']}")
    if len(alerts) > 10:
        lines.append(f"    ... and {len(alerts) - 10} more")
    return lines + [""]


def _api_section(api: dict) -> list[str]:
    lines = ["API HEALTH (Last 24 Hours):", THIN, f"  Total calls: {thousands(api['total'])}"]
    if not api["total"]:
        return lines + ["  (no calls recorded)", ""]
    return lines + [f"  Successful: {thousands(api['successful'])}",
                    f"  Success rate: {percent(api['success_rate'])}",
                    f"  Avg response time: {api['avg']:.2f}s", f"  p95 response time: {api['p95']:.2f}s",
                    f"  Max response time: {api['max']:.2f}s", ""]


CSV_HEAD = ["run_id", "timestamp", "status", "total_images", "successful", "failed", "success_rate",
            "duration_seconds", "images_per_minute", "low_confidence", "avg_confidence",
            "auto_approve", "quick_check", "manual_review"]


def csv_table(runs: list[Run], categories=DEFAULT_CATEGORIES) -> tuple[list[str], list[list]]:
    """Header and one row per run; a column per category (the model's and Other, then any other seen)."""
    categories = report_columns(categories, {c for r in runs for c in r.categories})
    rows = []
    for r in runs:
        low = "" if r.low_confidence is None else r.low_confidence
        rows.append([r.run_id, r.timestamp.isoformat(timespec="seconds"), r.status, r.total, r.successful,
                     r.failed, f"{r.success_rate:.2f}", _num(r.duration, 3), _num(r.images_per_minute, 1),
                     low, _num(r.avg_confidence, 4)] + [r.tiers[k] for k in TIER_KEYS]
                    + [r.categories[c] for c in categories])
    return CSV_HEAD + categories, rows


def write_csv(path: Path, runs: list[Run], categories=DEFAULT_CATEGORIES) -> Path:
    head, rows = csv_table(runs, categories)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(head)
            writer.writerows(rows)
    return path


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


EPILOG = """\
examples:
  execution_history.py                         # last 7 days
  execution_history.py --runs 20 --csv runs.csv
  execution_history.py --from 2026-10-01 --to 2026-10-31
exit codes: 0 report written, 2 the history database is missing or unreadable.
"""


def parser(config: Config) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="execution_history.py", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Execution history report of the nightly batch: runs, "
                                            "throughput, success rate, category mix, alerts, API health.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--days", type=int, metavar="N", help="the last N days (default: 7)")
    which.add_argument("--runs", type=int, metavar="N", help="the last N runs")
    which.add_argument("--from", dest="first", type=day, metavar="DATE", help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", type=day, metavar="DATE", help="last day, included (default: today)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write one row per run to FILE")
    add_location_args(p)
    return p


def selection_from(args: argparse.Namespace, now: datetime) -> Selection:
    if args.runs is not None:
        return Selection.runs(max(1, args.runs))
    if args.first is not None:
        return Selection.dates(args.first, args.last or now.date())
    if args.last is not None:
        return Selection.dates(args.last - timedelta(days=6), args.last)
    return Selection.days(max(1, args.days or 7), now)


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    p = parser(config)
    args = p.parse_args(argv)
    config = located(config, args)
    db_path = config.path("history_db")
    if history_missing(config, "execution_history"):
        return 2
    now = datetime.now()
    try:
        with closing(HistoryDB(db_path)) as db:
            report = build(History(db), selection_from(args, now), now)
    except sqlite3.DatabaseError as exc:
        print(f"execution_history: cannot read {db_path}: {exc}")
        return 2
    print(render(report))
    if args.csv:
        write_csv(args.csv, report["runs"], category_names(config))
        print(f"CSV: {args.csv} ({len(report['runs'])} runs)")
    return 0
