"""GET /stats: request totals, categories, error rate and latency from the database."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ...history import utc_iso
from ...labels import category_names, folder_names
from .. import compat
from .. import stats as stats_queries
from ..state import get_state

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def stats():
    state = get_state()
    categories = state.predictor.categories if state.predictor else category_names(state.config)
    labels = folder_names(categories)
    db_path = state.config.path("history_db")
    body = stats_queries.collect(db_path, labels, state.config.stats_window_hours)
    body.update({
        "pending_writes": state.recorder.pending(),  # this worker's rows not yet in the database
        "uptime_seconds": round(state.uptime, 3),
        "timestamp": utc_iso(),
        "request_id": g.request_id,
    })
    return jsonify(compat.stats(body, stats_queries.images_received(db_path), state.ready))
