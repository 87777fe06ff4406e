"""GET /openapi.json and GET /docs (a self-contained page: no CDN, works offline)."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from ..openapi import build_openapi
from ..state import get_state

bp = Blueprint("docs", __name__)


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_openapi(get_state().config))


@bp.get("/docs")
def docs():
    spec = build_openapi(get_state().config)
    operations = [dict(op, method=method.upper(), path=path, curl=_curl(method, path, op))
                  for path, item in spec["paths"].items() for method, op in item.items()]
    return render_template("docs.html", spec=spec, operations=operations,
                           schemas=spec["components"]["schemas"])


def _curl(method: str, path: str, op: dict) -> str:
    url = f"http://localhost:5000{path}"
    # the base64 text goes through stdin: a command-line argument is capped at 128 KiB on Linux
    json_post = "| curl -X POST -H 'Content-Type: application/json' --data-binary @-"
    if path == "/predict":
        return (f'curl -X POST -F "file=@product.jpg" {url}\n'
                f"(printf '{{\"image\": \"'; base64 -w0 product.jpg; printf '\"}}') {json_post} {url}")
    if path == "/predict_batch":
        return (f'curl -X POST -F "files=@a.jpg" -F "files=@b.png" {url}\n'
                f"(printf '{{\"images\": [\"'; base64 -w0 a.jpg; printf '\"]}}') {json_post} {url}")
    return f"curl {url}"
