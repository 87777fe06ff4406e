"""The dashboard's Flask app: ``create_app(config)``.

One ``ReviewDB`` (the history database, thread-safe) per process. Review
decisions a crash interrupted are finished when the app starts. Every response
carries a strict Content-Security-Policy: scripts, styles and images from this
server only; the page works without any network beyond it.

A history database that cannot be opened (a folder the service user cannot write)
gives an app that answers every request with a 503 saying why, instead of a worker
that fails to boot and a server that restarts forever.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import timedelta

from flask import Flask, jsonify

from ..config import Config
from ..monitoring.common import ago, duration, percent, thousands
from ..review import ReviewDB, resolve_planned
from . import api, auth, downloads, pages

log = logging.getLogger(__name__)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(FASHION=config, SECRET_KEY=config.dashboard_secret_key or os.urandom(32),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="fashion_dashboard", PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
                      JSON_SORT_KEYS=False)
    app.extensions["dashboard_auth"] = auth.Auth(config)
    try:
        db = ReviewDB(config.path("history_db"))
    except (sqlite3.Error, OSError) as exc:
        return _unavailable(app, f"the dashboard cannot open its history database "
                                 f"{config.path('history_db')}: {exc} (its folder must be writable "
                                 f"by the dashboard's user, uid {os.getuid()}; see docs/OPERATIONS.md)")
    app.extensions["dashboard_db"] = db
    resolve_planned(db)
    app.before_request(auth.guard)
    app.before_request(auth.same_origin)
    app.after_request(_headers)
    for blueprint in (auth.bp, pages.bp, api.bp, downloads.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(404, lambda e: _error(e, 404))
    app.jinja_env.globals.update(ago=ago, duration=duration, percent=percent, thousands=thousands)
    app.context_processor(lambda: {"refresh_seconds": config.dashboard_refresh_seconds})
    return app


def _unavailable(app: Flask, reason: str) -> Flask:
    """Every path answers 503 with the reason (also logged once at start)."""
    log.error("%s", reason)

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def unavailable(path):
        return jsonify({"error": reason, "code": "database_unavailable"}), 503

    app.after_request(_headers)
    return app


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _error(exc, status: int):
    return jsonify({"error": getattr(exc, "description", "not found")}), status
