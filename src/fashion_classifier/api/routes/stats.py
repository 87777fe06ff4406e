"""GET /stats: request totals, categories, error rate and latency from the database."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ...history import utc_iso
from ...labels import CATEGORIES
from .. import compat
from .. import stats as stats_queries
from ..state import get_state

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def stats():
    state = get_state()
    labels = tuple(state.predictor.labels) if state.predictor else CATEGORIES
    db_path = state.config.path("history_db")
    body = stats_queries.collect(db_path, labels, state.config.stats_window_hours)
    body.update({
        "pending_writes": state.recorder.pending(),  # this worker's rows not yet in the database
        "uptime_seconds": round(state.uptime, 3),
        "timestamp": utc_iso(),
        "request_id": g.request_id,
    })
    return jsonify(compat.stats(body, stats_queries.images_received(db_path), state.ready))
