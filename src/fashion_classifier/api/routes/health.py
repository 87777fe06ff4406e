"""GET /health (the spec's), /healthz (liveness) and /readyz (readiness)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ... import __version__
from ...history import utc_iso
from .. import compat
from ..errors import error_response
from ..state import get_state

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    state = get_state()
    uptime = round(state.uptime, 3)
    body = {
        "status": "healthy" if state.ready else "unhealthy",
        "model_loaded": state.ready,
        "timestamp": utc_iso(),
        "uptime": uptime,
        "uptime_seconds": uptime,
        "version": __version__,
        "model_version": state.predictor.version if state.predictor else None,
    }
    classes = len(state.predictor.categories) if state.predictor else 0  # as /classes lists them
    return jsonify(compat.health(body, classes)), 200 if state.ready else 503


@bp.get("/healthz")
def healthz():
    """The process answers: nothing else is checked (a restart would not help otherwise)."""
    return jsonify({"status": "alive", "timestamp": utc_iso()})


@bp.get("/readyz")
def readyz():
    state = get_state()
    if not state.ready:
        return error_response(503, f"model not loaded: {state.load_error or 'loading'}", "not_ready")
    return jsonify({"status": "ready", "model_version": state.predictor.version, "timestamp": utc_iso()})
