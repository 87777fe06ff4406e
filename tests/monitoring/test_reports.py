"""execution_history.py, weekly_report.py, custom_report.py, export_inventory.py and the spec's
src/generate_*.py report commands on real histories."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from batch_support import ROOT, clean_env

from fashion_classifier.labels import CATEGORIES
from fashion_classifier.monitoring.reports import week_period
from fashion_classifier.review import ReviewDB, decide, pending_items

from .history_support import connect, run_script


def db_runs(out, since: str = "", until: str = "9999") -> list[dict]:
    with connect(out) as conn:
        rows = conn.execute("SELECT * FROM batch_runs WHERE timestamp >= ? AND timestamp < ?"
                            " ORDER BY timestamp", (since, until))
        return [dict(r) for r in rows]


def category_counts(out, run_ids) -> dict[str, int]:
    marks = ",".join("?" for _ in run_ids)
    with connect(out) as conn:
        return {r[0]: r[1] for r in conn.execute(
            f"SELECT category, COUNT(*) FROM batch_files WHERE status = 'success' AND run_id IN ({marks})"
            " GROUP BY category", list(run_ids))}


def read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_execution_history_default_report_matches_the_database(history):
    out = history["out"]
    result = run_script("execution_history.py", "--output-root", str(out))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    runs = db_runs(out, (datetime.now() - timedelta(days=7)).isoformat(timespec="seconds"))
    assert "EXECUTION HISTORY REPORT" in text and "BATCH PROCESSING (Last 7 Days):" in text
    assert f"  Total runs: {len(runs)}\n" in text
    assert f"  Total images: {sum(r['total_images'] for r in runs):,}\n" in text
    mean = sum(r["success_rate"] for r in runs) / len(runs)
    assert f"  Avg success rate: {mean:.1f}%\n" in text
    for run in runs:  # one table row per run, newest first
        row = rf"{run['run_id']}\s+{run['status']}\s+{run['total_images']}\s+{run['successful']}\s"
        assert re.search(row, text), row
    assert text.index(runs[-1]["run_id"]) < text.index(runs[0]["run_id"])
    failed = [r for r in db_runs(out) if r["status"] == "failed"]
    assert "FAILED RUNS (Last 30 Days):" in text and f"run {failed[0]['run_id']}: every image failed" in text
    assert "ALERTS (Last 7 Days):" in text and "INFO - Batch Processing Complete" in text
    assert "API HEALTH (Last 24 Hours):" in text


def test_last_n_runs_with_csv_export(history, tmp_path):
    out = history["out"]
    target = tmp_path / "runs.csv"
    result = run_script("execution_history.py", "--output-root", str(out), "--runs", "3", "--csv",
                        str(target))
    assert result.returncode == 0 and "(Last 3 Runs)" in result.stdout
    rows = read_csv(target)
    expected = db_runs(out)[-3:]
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in expected]
    for row, run in zip(rows, expected, strict=True):
        assert int(row["total_images"]) == run["total_images"] and row["status"] == run["status"]
        counts = category_counts(out, [run["run_id"]])
        assert {c: int(row[c]) for c in CATEGORIES if int(row[c])} == counts
        tiers = int(row["auto_approve"]) + int(row["quick_check"]) + int(row["manual_review"])
        assert tiers == sum(counts.values())
    assert list(rows[0])[:4] == ["run_id", "timestamp", "status", "total_images"]


def test_date_range_selects_exactly_those_days(history):
    out = history["out"]
    first, last = date.today() - timedelta(days=10), date.today() - timedelta(days=8)
    result = run_script("execution_history.py", "--output-root", str(out), "--from", str(first),
                        "--to", str(last))
    assert result.returncode == 0
    runs = db_runs(out, first.isoformat(), (last + timedelta(days=1)).isoformat())
    assert len(runs) == 3 and "  Total runs: 3\n" in result.stdout
    assert f"FAILED RUNS ({first} to {last}):" in result.stdout
    bad = run_script("execution_history.py", "--from", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_missing_history_is_exit_2(tmp_path):
    result = run_script("execution_history.py", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 2 and "no history database" in result.stderr


class Charts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts: dict[str, int] = {}
        self.current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "data-chart" in attrs:
            self.current = attrs["data-chart"]
            self.charts[self.current] = 0
        elif self.current and tag in ("rect", "circle", "polyline"):
            self.charts[self.current] += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self.current = None


def test_weekly_report_html_and_csv(history, tmp_path):
    out = history["out"]
    period = week_period()
    result = run_script("weekly_report.py", "--output-root", str(out), "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / f"{period.slug}.html").read_text()
    assert period.slug == f"weekly_summary_week{period.first.isocalendar().week:02d}"
    runs = db_runs(out, period.first.isoformat(), (period.last + timedelta(days=1)).isoformat())
    assert "WEEKLY BATCH REPORT" in html and period.title in html
    assert f"Total Batches<b>{len(runs)}</b>" in html
    parser = Charts()
    parser.feed(html)
    for name in ("daily_volume", "success_rate", "throughput", "confidence_mix", "category_mix"):
        assert parser.charts.get(name, 0) > 0, f"chart {name} has no marks"
    assert "Week-over-week" in html and "Trend:" in html
    assert "<script" not in html and "default-src 'none'" in html
    days = read_csv(tmp_path / f"{period.slug}.csv")
    assert [d["date"] for d in days] == [(period.first + timedelta(days=i)).isoformat() for i in range(7)]
    assert sum(int(d["images"]) for d in days) == sum(r["total_images"] for r in runs)
    counts = category_counts(out, [r["run_id"] for r in runs])
    assert {c: sum(int(d[c]) for d in days) for c in counts} == counts


def test_custom_report_compares_with_the_period_before(history, tmp_path):
    out = history["out"]
    first, last = date.today() - timedelta(days=6), date.today()
    result = run_script("custom_report.py", "--output-root", str(out), "--from", str(first), "--output",
                        str(tmp_path))
    assert result.returncode == 0, result.stderr
    stem = f"report_{first:%Y%m%d}_{last:%Y%m%d}"
    html = (tmp_path / f"{stem}.html").read_text()
    now_images = sum(r["total_images"] for r in db_runs(out, first.isoformat()))
    before = sum(r["total_images"]
                 for r in db_runs(out, (first - timedelta(days=7)).isoformat(), first.isoformat()))
    assert f"<td>Total Images</td><td class=\"num\">{now_images}</td><td class=\"num\">{before}</td>" in html
    assert f"{100 * (now_images - before) / before:+.1f}%" in html
    assert len(read_csv(tmp_path / f"{stem}.csv")) == 7
    backwards = run_script("custom_report.py", "--from", str(last), "--to", str(first))
    assert backwards.returncode == 2 and "ends" in backwards.stderr


def test_inventory_export_follows_the_spec_and_the_clerks_corrections(history_copy):
    db = ReviewDB(history_copy / "logs" / "execution_history.db")
    try:
        waiting = pending_items(db, history_copy / "data" / "processed_batches")
        assert waiting, "nothing to review"
        item = waiting[0]
        run = item.run_id
        new = next(c for c, _ in item.guesses if c != item.category)
        decide(db, history_copy / "data" / "processed_batches", item.id, new, "Sarah")
    finally:
        db.close()
    result = run_script("export_inventory.py", "--output-root", str(history_copy), "--run", run)
    assert result.returncode == 0, result.stderr
    latest = run_script("export_inventory.py", "--output-root", str(history_copy), "--output",
                        str(history_copy / "latest.csv"))
    newest = max(r["run_id"] for r in db_runs(history_copy))
    assert latest.returncode == 0 and f"run {newest}:" in latest.stdout
    rows = read_csv(history_copy / "exports" / "inventory_import.csv")
    assert list(rows[0])[:6] == ["filename", "category", "confidence", "return_id", "category_code",
                                 "auto_classified"]
    with connect(history_copy) as conn:
        files = conn.execute("SELECT rel_name, category, tier FROM batch_files WHERE run_id = ? ORDER BY seq",
                             (run,)).fetchall()
    assert [r["filename"] for r in rows] == [f[0] for f in files]
    by_name = {r["filename"]: r for r in rows}
    corrected = by_name[item.filename]
    assert corrected["category"] == new and corrected["model_category"] == item.category
    assert corrected["review"] == "corrected" and corrected["reviewed_by"] == "Sarah"
    assert corrected["file"] == f"data/processed_batches/{new}/{item.path.name}"
    for name, _, tier in files:
        row = by_name[name]
        assert row["auto_classified"] == str(tier == "auto" and name != item.filename)
        if row["status"] == "success":
            assert re.fullmatch(r"\d{8}_\d+", row["return_id"]) and name == f"return_{row['return_id']}.jpg"
            assert row["category_code"].startswith(("APP-", "FTW-", "ACC-", "RET-OTH"))
        else:  # a bad file: no category; its id falls back to the file's stem
            assert row["category"] == row["category_code"] == "" and row["return_id"] == Path(name).stem


def test_inventory_export_of_an_unknown_run_is_exit_2(history):
    result = run_script("export_inventory.py", "--output-root", str(history["out"]), "--run",
                        "19990101_000000")
    assert result.returncode == 2 and "no results for run 19990101_000000" in result.stderr


def run_src(name: str, *args: str):
    """One of the spec's ``src/generate_*.py`` commands, as typed from the project root."""
    return subprocess.run([sys.executable, str(ROOT / "src" / name), *args], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name,options", [
    ("generate_batch_report.py", ("--days", "--date")), ("generate_weekly_summary.py", ("--week",)),
    ("generate_custom_report.py", ("--start", "--end"))])
def test_the_spec_report_commands_have_help(name, options):
    result = run_src(name, "--help")
    assert result.returncode == 0 and f"usage: {name}" in result.stdout
    assert all(option in result.stdout for option in options)


def test_the_spec_report_commands_write_the_same_reports(history, tmp_path):
    out = history["out"]
    first, last = date.today() - timedelta(days=6), date.today()
    stem = f"report_{first:%Y%m%d}_{last:%Y%m%d}.csv"
    ours = run_script("custom_report.py", "--output-root", str(out), "--from", str(first),
                      "--output", str(tmp_path / "ours"))
    spec_custom = run_src("generate_custom_report.py", "--output-root", str(out), "--start", str(first),
                          "--end", str(last), "--output", str(tmp_path / "custom"))
    spec_days = run_src("generate_batch_report.py", "--output-root", str(out), "--days", "7",
                        "--output", str(tmp_path / "days"))
    for result in (ours, spec_custom, spec_days):
        assert result.returncode == 0, result.stderr
    expected = read_csv(tmp_path / "ours" / stem)
    assert read_csv(tmp_path / "custom" / stem) == expected == read_csv(tmp_path / "days" / stem)
    weekly = run_src("generate_weekly_summary.py", "--output-root", str(out), "--output", str(tmp_path / "w"))
    assert weekly.returncode == 0, weekly.stderr
    assert (tmp_path / "w" / f"{week_period().slug}.csv").is_file()


def test_one_nights_report_is_rebuilt_from_the_database(history, tmp_path):
    out = history["out"]
    night = next(r for r in reversed(db_runs(out)) if r["total_images"])
    day_ = datetime.fromisoformat(night["timestamp"]).date()
    result = run_src("generate_batch_report.py", "--output-root", str(out), "--date", str(day_),
                     "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / f"report_{day_:%Y%m%d}_{day_:%Y%m%d}.csv")
    same_day = db_runs(out, day_.isoformat(), (day_ + timedelta(days=1)).isoformat())
    assert [r["date"] for r in rows] == [day_.isoformat()]
    assert int(rows[0]["images"]) == sum(r["total_images"] for r in same_day)
    assert run_src("generate_batch_report.py", "--days", "0").returncode == 2
    assert run_src("generate_batch_report.py", "--days", "3", "--date", str(day_)).returncode == 2
