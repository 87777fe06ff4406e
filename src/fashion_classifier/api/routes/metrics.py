"""GET /metrics: Prometheus text format."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from flask import Blueprint, Response

from ...history import HistoryDB
from ..state import get_state

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    state = get_state()
    latest = _latest_other_share(state.config.path("history_db"))
    if latest is not None:
        state.metrics.batch_other_share.set(latest)
    payload, content_type = state.metrics.render()
    return Response(payload, content_type=content_type)


def _latest_other_share(db_path) -> float | None:
    """The newest night's share of Other photos, or None without a readable history."""
    if not db_path.is_file():
        return None
    try:
        with closing(HistoryDB(db_path)) as db:
            rows = db.other_by_run(runs=1)
    except sqlite3.Error:
        return None
    return float(rows[0]["share"]) if rows else None
