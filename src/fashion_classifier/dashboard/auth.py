"""Optional protection: a login (users file) and/or API keys. Off by default, for localhost.

``FASHION_DASHBOARD_USERS_FILE``: one ``name:password-hash`` per line (make a line
with ``python monitoring/dashboard.py --hash-password NAME``). Set, the pages ask
for a login and a review decision is recorded under the logged-in name.
``FASHION_DASHBOARD_API_KEYS``: keys accepted in ``X-API-Key`` (scripts, monitors).
With either set, nothing but the login page, ``/healthz`` and static files is
served without credentials.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash

from ..config import Config

OPEN_ENDPOINTS = {"auth.login", "static", "pages.healthz"}
bp = Blueprint("auth", __name__)


class Auth:
    def __init__(self, config: Config):
        path = config.path("dashboard_users_file") if config.dashboard_users_file else None
        self.users = read_users(path) if path else {}
        self.keys = tuple(k for k in config.dashboard_api_keys if k)

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.keys)

    def check_password(self, name: str, password: str) -> bool:
        stored = self.users.get(name)
        # compare against a dummy when the user is unknown: same time either way
        return check_password_hash(stored or _DUMMY, password) and stored is not None

    def check_key(self, key: str) -> bool:
        return any(hmac.compare_digest(key.encode(), k.encode()) for k in self.keys)


_DUMMY = "scrypt:32768:8:1$0000000000000000$" + "0" * 128


def read_users(path: Path) -> dict[str, str]:
    users = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name or not hashed:
            raise ValueError(f"{path}:{number}: expected name:password-hash")
        users[name.strip()] = hashed.strip()
    return users


def guard():
    """before_request: let the request through, or answer 401 / send to the login page."""
    auth: Auth = current_app.extensions["dashboard_auth"]
    g.user = session.get("user") if auth.enabled else None
    if not auth.enabled or request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.user and g.user in auth.users:
        return None
    key = request.headers.get("X-API-Key", "")
    if key and auth.check_key(key):
        g.user = None  # a script: it names the reviewer itself
        return None
    if request.path.startswith("/api/") or request.method != "GET":
        return jsonify({"error": "login or X-API-Key required"}), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def same_origin():
    """before_request: state-changing calls come from our own pages (JSON, same origin)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint == "auth.login":
        return None
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return jsonify({"error": "cross-origin request refused"}), 403
    if request.endpoint != "auth.logout" and not request.is_json:
        return jsonify({"error": "send JSON (Content-Type: application/json)"}), 415
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    auth: Auth = current_app.extensions["dashboard_auth"]
    target = _safe_next(request.values.get("next", ""))
    if not auth.users:
        return redirect(target)
    error = ""
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        if auth.check_password(name, request.form.get("password", "")):
            session.clear()
            session["user"] = name
            session.permanent = True
            return redirect(target)
        error = "Unknown user or wrong password."
    return render_template("login.html", error=error, next=target), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


def _safe_next(target: str) -> str:
    """Only paths on this site (no "//evil.example" or "https://...")."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.index")
    return target
