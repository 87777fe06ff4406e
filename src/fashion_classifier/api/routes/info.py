"""GET /, /classes, /version: what this service is and serves."""

from __future__ import annotations

import platform

from flask import Blueprint, jsonify

from ... import __version__
from ...history import utc_iso
from ...labels import OTHER, category_names, folder_names
from .. import compat
from ..state import get_state

bp = Blueprint("info", __name__)

ENDPOINTS = (
    ("GET", "/", "service info and endpoint list"),
    ("GET", "/health", "health check (model loaded, uptime)"),
    ("GET", "/healthz", "liveness probe"),
    ("GET", "/readyz", "readiness probe: 200 once the model is loaded and warmed up"),
    ("GET", "/classes", "the model's product categories, and Other (none of ours)"),
    ("GET", "/version", "API and model versions, model card facts"),
    ("GET", "/stats", "request and prediction statistics from the history database"),
    ("GET", "/metrics", "Prometheus metrics"),
    ("POST", "/predict", "classify one image (multipart field 'file', or JSON {\"image\": base64})"),
    ("POST", "/predict_batch", "classify up to max_batch_files images (multipart field 'files', repeated, "
                               "or JSON {\"images\": [base64, ...]} / {\"instances\": [{\"b64\": ...}]})"),
    ("GET", "/openapi.json", "OpenAPI 3.1 document"),
    ("GET", "/docs", "human-readable API documentation"),
)


@bp.get("/")
def index():
    state = get_state()
    return jsonify(compat.index({
        "service": "Fashion Product Classifier API",
        "version": __version__,
        "model_version": state.predictor.version if state.predictor else None,
        "model_loaded": state.ready,
        "endpoints": [{"method": m, "path": p, "description": d} for m, p, d in ENDPOINTS],
        "docs": "/docs",
        "openapi": "/openapi.json",
        "timestamp": utc_iso(),
    }, len(_categories())))


@bp.get("/classes")
def classes():
    categories = list(_categories())
    predictor = get_state().predictor
    return jsonify(compat.classes({"classes": categories, "count": len(categories), "other": OTHER,
                                   "answers": list(folder_names(categories)),
                                   "open_world": bool(predictor and predictor.info.has_other)}))


def _categories() -> tuple[str, ...]:
    """The categories of the model in service (the labels file when it is not loaded yet)."""
    state = get_state()
    if state.predictor is not None:
        return state.predictor.categories
    return category_names(state.config)


@bp.get("/version")
def version():
    state = get_state()
    predictor, config = state.predictor, state.config
    card = predictor.info.card if predictor else {}
    metrics = card.get("metrics", {})
    return jsonify({
        "api_version": __version__,
        "model_version": predictor.version if predictor else None,
        "model": {
            "name": card.get("name"),
            "architecture": card.get("architecture"),
            "created": card.get("created"),
            "input_size": {"height": predictor.input_size[0], "width": predictor.input_size[1]}
            if predictor else None,
            "backend": predictor.backend_name if predictor else None,
            "classes": len(_categories()),
            "open_world": card.get("open_world", {}).get("method") if card.get("open_world") else None,
            "temperature": card.get("temperature"),
            "test_metrics": {k: metrics.get(k) for k in ("split", "images", "accuracy", "macro_f1", "ece")
                             if k in metrics},
            "load_seconds": round(predictor.load_seconds, 4) if predictor else None,
        },
        "tiers": (predictor.tiers.describe() if predictor
                  else {"mode": config.tier_mode, "auto": config.auto_threshold,
                        "check": config.check_threshold}),
        "limits": {"max_upload_bytes": config.max_upload_bytes, "max_batch_files": config.max_batch_files,
                   "max_batch_upload_bytes": config.max_batch_upload_bytes},
        "python": platform.python_version(),
        "timestamp": utc_iso(),
    })
