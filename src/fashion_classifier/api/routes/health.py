"""GET /health (the spec's), /healthz (liveness) and /readyz (readiness).

Healthy and ready need the model loaded and the history database writable: an API
that silently stops recording its calls (a volume the service user cannot write)
must say so, not pass its health check.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, jsonify

from ... import __version__
from ...history import utc_iso
from .. import compat
from ..errors import error_response
from ..state import ApiState, get_state

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    state = get_state()
    uptime = round(state.uptime, 3)
    history_problem = history_not_writable(state)
    healthy = state.ready and history_problem is None
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "model_loaded": state.ready,
        "history_writable": history_problem is None,
        "timestamp": utc_iso(),
        "uptime": uptime,
        "uptime_seconds": uptime,
        "version": __version__,
        "model_version": state.predictor.version if state.predictor else None,
    }
    if history_problem:
        body["problem"] = history_problem
    classes = len(state.predictor.categories) if state.predictor else 0  # as /classes lists them
    return jsonify(compat.health(body, classes)), 200 if healthy else 503


@bp.get("/healthz")
def healthz():
    """The process answers: nothing else is checked (a restart would not help otherwise)."""
    return jsonify({"status": "alive", "timestamp": utc_iso()})


@bp.get("/readyz")
def readyz():
    state = get_state()
    if not state.ready:
        return error_response(503, f"model not loaded: {state.load_error or 'loading'}", "not_ready")
    history_problem = history_not_writable(state)
    if history_problem:
        return error_response(503, history_problem, "not_ready")
    return jsonify({"status": "ready", "model_version": state.predictor.version, "timestamp": utc_iso()})


def history_not_writable(state: ApiState) -> str | None:
    """Why this process cannot write the history database (None: it can).

    The file (if it exists) and its folder must be writable (SQLite's WAL and journal
    files live beside it); a missing folder must be creatable. The recorder's last
    write failing counts too (a full disk, a damaged file).
    """
    path = Path(state.recorder.db_path)
    user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"history database {_relative(path, state.config.root)} is not writable by {user}"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"history database folder {_relative(folder, state.config.root)}/ is not writable by {user}"
    if state.recorder.last_error:
        return (f"history database {_relative(path, state.config.root)} could not be written: "
                f"{state.recorder.last_error}")
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)
