"""JSON and file endpoints: overview, review queue and decisions, photos, CSV exports."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, send_file

from ..labels import category_names
from ..monitoring.history_report import csv_table
from ..monitoring.queries import History
from ..review import (
    ReviewError,
    decide,
    export_corrections,
    pending_items,
    queue_counts,
    recent_decisions,
    retake,
    undo_decision,
)
from ..review.decisions import RETAKE
from ..review.queue import CURRENT_PATH, in_processed
from ..review.recent import UNDO_HOURS
from .data import as_json, first_day, overview
from .pages import _days
from .photos import jpeg

bp = Blueprint("api", __name__)
MAX_UNDO_HOURS = 72.0  # a longer undo list is an audit, not a correction


def _ctx():
    return current_app.config["FASHION"], current_app.extensions["dashboard_db"]


@bp.get("/api/overview")
def api_overview():
    config, db = _ctx()
    return jsonify(as_json(overview(config, db, _days())))


@bp.get("/api/review/items")
def review_items():
    config, db = _ctx()
    limit = request.args.get("limit", type=int)
    folder = config.path("processed_dir")
    items = pending_items(db, folder, limit=limit)
    return jsonify({"items": [i.as_json() for i in items], "counts": queue_counts(db, folder)})


@bp.post("/api/review/items/<int:item_id>")
def review_decide(item_id: int):
    config, db = _ctx()
    body = request.get_json(silent=True) or {}
    reviewer = g.get("user") or body.get("reviewer", "")  # a logged-in clerk cannot be someone else
    try:
        if body.get("action") == RETAKE:  # photo unusable: no category, it goes to the retake folder
            decision = retake(db, config.path("processed_dir"), config.path("retake_dir"), item_id, reviewer)
        else:
            decision = decide(db, config.path("processed_dir"), item_id, str(body.get("category", "")),
                              reviewer, category_names(config))
    except ReviewError as exc:
        return jsonify({"error": str(exc)}), exc.status
    current_app.logger.info("review: %s %s %s -> %s", decision.reviewer, decision.action,
                            decision.old_category, decision.new_category)
    counts = queue_counts(db, config.path("processed_dir"))
    return jsonify({"decision": decision.as_json(), "counts": counts}), 201


@bp.post("/api/review/items/<int:item_id>/undo")
def review_undo(item_id: int):
    """Undo the standing decision on a photo (or, with ``decision_id`` in the body, that decision)."""
    config, db = _ctx()
    body = request.get_json(silent=True) or {}
    reviewer = g.get("user") or body.get("reviewer", "")
    decision_id = body.get("decision_id")
    if decision_id is not None and (not isinstance(decision_id, int) or isinstance(decision_id, bool)):
        return jsonify({"error": "decision_id must be a number"}), 400
    try:
        if decision_id is not None:
            rows = db.execute("SELECT batch_file_id FROM review_decisions WHERE id = ?", (decision_id,))
            if rows and rows[0]["batch_file_id"] != item_id:
                return jsonify({"error": f"decision {decision_id} is not about photo {item_id}"}), 404
        undo = undo_decision(db, config.path("processed_dir"), reviewer, decision_id=decision_id,
                             item_id=None if decision_id is not None else item_id,
                             retake_dir=config.path("retake_dir"))
    except ReviewError as exc:
        return jsonify({"error": str(exc)}), exc.status
    current_app.logger.info("review: %s undid decision %s (%s)", undo.undone_by, undo.decision_id,
                            undo.action)
    folder = config.path("processed_dir")
    item = next((i for i in pending_items(db, folder) if i.id == item_id), None)
    return jsonify({"undo": undo.as_json(), "item": item.as_json() if item else None,
                    "counts": queue_counts(db, folder)}), 200


@bp.get("/api/review/recent")
def review_recent():
    """The reviewer's own decisions of the last hours that can still be undone (newest first)."""
    _, db = _ctx()
    reviewer = g.get("user") or request.args.get("reviewer", "").strip()
    hours = request.args.get("hours", UNDO_HOURS, type=float)
    hours = min(max(hours, 0.0), MAX_UNDO_HOURS) if math.isfinite(hours) else UNDO_HOURS
    decisions = recent_decisions(db, reviewer, hours) if reviewer else []
    return jsonify({"reviewer": reviewer, "hours": hours, "decisions": decisions})


@bp.get("/review/photo/<int:item_id>")
def review_photo(item_id: int):
    config, db = _ctx()
    rows = db.execute(f"SELECT {CURRENT_PATH} AS current_path FROM batch_files f"
                      " WHERE f.id = ? AND f.status = 'success'", (item_id,))
    if not rows:
        abort(404)
    path = Path(rows[0]["current_path"] or "")
    if not in_processed(path, config.path("processed_dir")):  # only photos in processed_batches
        abort(404)
    data = jpeg(path, request.args.get("size", "thumb"), config.max_image_pixels)
    if data is None:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype="image/jpeg", max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.post("/api/review/export")
def review_export():
    config, db = _ctx()
    body = request.get_json(silent=True) or {}
    result = export_corrections(db, config.path("corrections_dir"), bool(body.get("corrected_only")))
    return jsonify({"rows": result.rows, "corrected": result.corrected, "confirmed": result.confirmed,
                    "missing": result.missing, "csv": str(result.csv_path)})


@bp.get("/review/corrections.csv")
def corrections_csv():
    config, _ = _ctx()
    path = config.path("corrections_dir") / "corrections.csv"
    if not path.is_file():
        abort(404, "no export yet: press 'Export corrections' first")
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name="corrections.csv")


@bp.get("/export/history.csv")
def history_csv():
    config, db = _ctx()
    days = _days()
    head, rows = csv_table(History(db).runs_between(first_day(days, datetime.now()).isoformat(), "9999"),
                           category_names(config))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(head)
    writer.writerows(rows)
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="batch_history_{days}d.csv"'})
