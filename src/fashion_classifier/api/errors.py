"""JSON errors everywhere: {error, status, timestamp, request_id, code}.

Every HTTP error (404, 405, 413, 429, ...) and every unexpected exception is
turned into the spec's error body, never Werkzeug's HTML page.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from ..history import utc_iso
from ..imaging import ImageError

log = logging.getLogger(__name__)

# stable machine-readable codes for the HTTP errors clients meet
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large", 414: "uri_too_long",
    415: "unsupported_media_type", 417: "expectation_failed", 422: "unprocessable", 429: "rate_limited",
    431: "header_fields_too_large", 500: "internal_error", 501: "not_implemented", 503: "unavailable",
}


class ApiError(Exception):
    """An error a view raises on purpose; rendered as the JSON error body."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTP_CODES.get(status, "error")
        self.extra = extra

    @classmethod
    def from_image_error(cls, exc: ImageError) -> ApiError:
        return cls(exc.http_status, str(exc), exc.code)


def error_response(status: int, message: str, code: str | None = None, **extra):
    body = {
        "error": message,
        "status": status,
        "code": code or HTTP_CODES.get(status, "error"),
        "timestamp": utc_iso(),
        "request_id": g.get("request_id"),
        **extra,
    }
    g.error_code = body["code"]
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.code, **exc.extra)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    response, status = error_response(status, _describe(exc), HTTP_CODES.get(status))
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response, status


def _describe(exc: HTTPException) -> str:
    if exc.code == 413:
        return "request body too large"
    if exc.code == 429:
        return f"rate limit exceeded ({exc.description})"
    return exc.description or exc.name


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):  # pragma: no cover - routed to _http_error first
        return _http_error(exc)
    log.exception("unhandled error")
    return error_response(500, "internal server error")
