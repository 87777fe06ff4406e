"""Reports follow the review: a run's CSV, XLSX, JSON summary and HTML rebuilt after a decision.

A clerk's confirm, correction, "not ours" or undo changes where a photo is; the morning's
files must say so. ``regenerate_run_reports`` rebuilds all four from the journal and
``review_decisions`` (``where_now.RUN_FILES_NOW``), keeping what only the batch knew
(processing time, path, skipped files) from the run's previous summary.

Crash safety: each file is written to a temporary name, fsynced and renamed
(``atomic.py``), so a reader sees the old whole file or the new whole one. Before the
first file a "stale" marker is written beside them and removed after the last: a
regeneration that dies in between leaves the marker, and the next regeneration (any
decision's, or ``--stale`` on the command line) redoes that run. One lock file keeps two
dashboard workers from interleaving their rewrites (each reads the database inside it, so
the last rename is always the newest state).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from ...config import Config
from ...history import HistoryDB, now_iso
from ...model import TierPolicy
from ...where_now import RUN_FILES_NOW
from ..faults import crash_point
from ..locations import load_locations
from ..moves import fsync_dir
from .html_report import review_url, write_report
from .results import RunResults, build, output_paths
from .summary import summary_dict, write_summary
from .tables import write_csv, write_xlsx

STALE_PREFIX = ".reports_stale_"


def regenerate_run_reports(config: Config, run_id: str, db: HistoryDB | None = None) -> list[str]:
    """Rebuild ``run_id``'s four reports (and any run a crashed regeneration left stale).

    Returns the run ids whose reports were rewritten; a run without a summary yet (still
    running, or never finished) is left alone: the batch writes its reports when it ends."""
    with _history(config, db) as history:
        done = [run_id] if _regenerate(config, history, run_id) else []
        for other in stale_runs(config):
            if other != run_id and _regenerate(config, history, other):
                done.append(other)
    return done


def mark_stale(config: Config, run_id: str) -> None:
    """Say durably that ``run_id``'s reports are behind the review (removed by the rewrite)."""
    folder = config.path("batch_results_dir")
    if folder.is_dir():
        _touch_durably(folder / (STALE_PREFIX + run_id))


def stale_runs(config: Config) -> list[str]:
    folder = config.path("batch_results_dir")
    if not folder.is_dir():
        return []
    return sorted(p.name[len(STALE_PREFIX):] for p in folder.glob(STALE_PREFIX + "*"))


@contextmanager
def _history(config: Config, db: HistoryDB | None) -> Iterator[HistoryDB]:
    if db is not None:
        yield db
        return
    with closing(HistoryDB(config.path("history_db"))) as opened:
        yield opened


def _regenerate(config: Config, db: HistoryDB, run_id: str) -> bool:
    paths = output_paths(config.path("batch_results_dir"), config.path("logs_dir"), run_id)
    old = _read_summary(paths["summary"])
    marker = paths["summary"].with_name(STALE_PREFIX + run_id)
    if old is None:
        marker.unlink(missing_ok=True)  # nothing to follow: the batch writes them when the run ends
        return False
    with _run_lock(paths["summary"].with_name(".reports.lock")):
        _touch_durably(marker)
        results = run_results(config, db, run_id, old)
        summary = _summary(results, db, run_id, old)
        write_csv(paths["csv"], results)
        crash_point("regenerate_after_csv")
        write_xlsx(paths["xlsx"], results)
        write_summary(paths["summary"], summary)
        write_report(paths["html"], results, summary, load_locations(config.path("locations_file")),
                     config.report_max_thumbnails, review_url(config))
        marker.unlink(missing_ok=True)
        fsync_dir(marker.parent)
    return True


def run_results(config: Config, db: HistoryDB, run_id: str, old: dict) -> RunResults:
    rows = [dict(r) for r in db.execute(RUN_FILES_NOW, (run_id,))]
    thresholds = old.get("confidence_thresholds") or {}
    tiers = TierPolicy(auto_threshold=thresholds.get("auto", 0.85),
                       check_threshold=thresholds.get("check", 0.70))
    return build(run_id, rows, output_base(config), tiers)


def output_base(config: Config) -> Path:
    """What the batch's paths are shown relative to: its --output-root, else the project root."""
    processed, results = config.path("processed_dir"), config.path("batch_results_dir")
    if processed.is_relative_to(config.root) and results.is_relative_to(config.root):
        return config.root
    return Path(os.path.commonpath([processed, results]))


def _summary(results: RunResults, db: HistoryDB, run_id: str, old: dict) -> dict:
    state = db.execute("SELECT * FROM batch_run_state WHERE run_id = ?", (run_id,))
    run = dict(state[0]) if state else {"started_at": old.get("started_at"),
                                        "attempts": old.get("attempts", 1)}
    summary = summary_dict(results, run, float(old.get("processing_time_seconds") or 0.0),
                           old.get("classifier_path", ""), old.get("skipped", []), old.get("outputs", {}))
    summary["regenerated_at"] = now_iso()
    return summary


def _read_summary(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _touch_durably(marker: Path) -> None:
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(now_iso() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(marker.parent)


@contextmanager
def _run_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes (also when killed)
        yield


# --- command line ----------------------------------------------------------------------
def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    from ...monitoring.common import add_location_args, history_missing, located

    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog="python -m fashion_classifier.batch.outputs.regenerate",
        description="Write a night's CSV, spreadsheet, summary and HTML report again, as they are after "
                    "the review (where each photo is now, who reviewed it). The dashboard does this after "
                    "every decision; use this after a crash or to refresh old reports.",
        epilog="exit codes: 0 done, 1 the run has no reports to rewrite, 2 no history database.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="RUN_ID", help="the run id, e.g. 20261201_020000")
    which.add_argument("--stale", action="store_true",
                       help="only the runs whose last rewrite was interrupted")
    add_location_args(p)
    args = p.parse_args(argv)
    config = located(config, args)
    if history_missing(config, "regenerate"):
        return 2
    done = regenerate_run_reports(config, args.run) if args.run else _stale_only(config)
    for run_id in done:
        print(f"reports of run {run_id} rewritten")
    if args.run and args.run not in done:
        print(f"run {args.run} has no reports to rewrite (unknown, or not finished yet)", file=sys.stderr)
        return 1
    return 0


def _stale_only(config: Config) -> list[str]:
    with closing(HistoryDB(config.path("history_db"))) as db:
        return [r for r in stale_runs(config) if _regenerate(config, db, r)]


if __name__ == "__main__":
    raise SystemExit(main())
