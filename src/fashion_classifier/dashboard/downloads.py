"""The night's reports for the clerk: a run's spreadsheet, CSV and HTML report, behind the login.

Only the files the batch names for a recorded run (``output_paths`` under the
configured results folder) are served: the run id must look like one and be in
the history, the kind is one of ``KINDS``, the file must be a real file (no
symlink) directly in that folder. Everything else is a 404. Files go out as
attachments with a clerk's file name (``returns-2026-12-01.xlsx``); the HTML
report is never shown on the dashboard's own origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_file, url_for

from ..batch.naming import run_id_time
from ..batch.outputs import output_paths
from ..config import Config
from ..history import HistoryDB

RUN_ID = re.compile(r"\d{8}_\d{6}")
# kind -> (what the clerk reads, Content-Type, extension, friendly file name prefix)
KINDS = {
    "xlsx": ("Spreadsheet (Excel)", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "xlsx", "returns"),
    "csv": ("Spreadsheet (CSV)", "text/csv; charset=utf-8", "csv", "returns"),
    "html": ("Report with pick lists (HTML)", "text/html; charset=utf-8", "html", "returns-report"),
}

bp = Blueprint("downloads", __name__)


@dataclass(frozen=True)
class Download:
    kind: str
    title: str
    url: str
    filename: str


def run_file(config: Config, db: HistoryDB, run_id: str, kind: str) -> Path | None:
    """The file of ``kind`` of a recorded run, or None (unknown run or kind, missing, or not ours)."""
    if kind not in KINDS or not RUN_ID.fullmatch(run_id):
        return None
    if not db.execute("SELECT 1 FROM batch_runs WHERE run_id = ?", (run_id,)):
        return None
    folder = config.path("batch_results_dir")
    path = output_paths(folder, config.path("logs_dir"), run_id)[kind]
    try:  # directly in the results folder, a real file: nothing reached through a link
        ours = path.parent.resolve() == folder.resolve() and path.is_file() and not path.is_symlink()
    except OSError:
        return None
    return path if ours else None


def friendly_name(run_id: str, kind: str, same_day: int = 1) -> str:
    """``returns-2026-12-01.xlsx``; with the time when that day had more than one run."""
    _, _, ext, prefix = KINDS[kind]
    when = run_id_time(run_id)
    if when is None:
        return f"{prefix}-{run_id}.{ext}"
    stamp = f"{when:%Y-%m-%d}" + (f"-{when:%H%M}" if same_day > 1 else "")
    return f"{prefix}-{stamp}.{ext}"


def _runs_that_day(db: HistoryDB, run_id: str) -> int:
    return int(db.execute("SELECT COUNT(*) FROM batch_runs WHERE run_id LIKE ?", (run_id[:8] + "%",))[0][0])


def downloads(config: Config, db: HistoryDB, run_id: str) -> list[Download]:
    """The reports of one run that are still on disk (retention removes old ones)."""
    same_day = _runs_that_day(db, run_id) if run_id else 0
    return [Download(kind, KINDS[kind][0], url_for("downloads.run_report", run_id=run_id, kind=kind),
                     friendly_name(run_id, kind, same_day))
            for kind in KINDS if run_id and run_file(config, db, run_id, kind)]


@bp.get("/runs/<run_id>/<kind>")
def run_report(run_id: str, kind: str):
    config, db = current_app.config["FASHION"], current_app.extensions["dashboard_db"]
    path = run_file(config, db, run_id, kind)
    if path is None:
        return _not_found(run_id, kind)
    _, mimetype, _, _ = KINDS[kind]
    response = send_file(path, mimetype=mimetype, as_attachment=True,
                         download_name=friendly_name(run_id, kind, _runs_that_day(db, run_id)))
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _not_found(run_id: str, kind: str):
    message = "This report is not there: the run is unknown, or its files were cleaned up."
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return render_template("not_found.html", message=message), 404
    return {"error": message, "run_id": run_id, "kind": kind}, 404
