"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response

from ..state import get_state

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    payload, content_type = get_state().metrics.render()
    return Response(payload, content_type=content_type)
