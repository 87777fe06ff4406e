"""Per-request bookkeeping: request id, body limit, timing, metrics, history row, log line.

Views add what they know to ``g`` (``g.category``, ``g.confidence``, ``g.tier``,
``g.images``, ``g.failed``, ``g.predictions``); the after-request hook turns it
into one ``api_calls`` row, Prometheus observations and one structured log line.
"""

from __future__ import annotations

import logging
import random
import re
import time

from flask import Flask, g, request

from ..history import now_iso
from .logqueue import log_later
from .logs import ACCESS_LOGGER_NAME
from .payloads import json_body_limit
from .state import get_state
from .uploads import MULTIPART_SLACK

log = logging.getLogger(ACCESS_LOGGER_NAME)

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_RECORDED_PATH = 200


def new_request_id() -> str:
    """128 random bits as hex. Not uuid4: os.urandom costs ~0.2 ms a call on some kernels, and
    ids need uniqueness, not secrecy (the global ``random`` is reseeded in every forked worker)."""
    return f"{random.getrandbits(128):032x}"


def init_request_context(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.start = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_ID.match(incoming) else new_request_id()
    config = get_state().config
    batch = request.endpoint == "predict.predict_batch"
    if request.is_json:  # base64 images: a third larger than the same bytes uploaded
        request.max_content_length = json_body_limit(config.max_batch_upload_bytes if batch
                                                     else config.max_upload_bytes)
    elif batch:
        request.max_content_length = config.max_batch_upload_bytes
    else:
        request.max_content_length = config.max_upload_bytes + MULTIPART_SLACK


def elapsed_ms() -> float:
    return round((time.perf_counter() - g.get("start", time.perf_counter())) * 1000, 3)


def endpoint_label() -> str:
    """The route rule (bounded cardinality), not the raw path."""
    return request.url_rule.rule if request.url_rule is not None else "<unmatched>"


def _finish(response):
    if "request_id" not in g:  # a failure before _start ran
        g.request_id = new_request_id()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    seconds = time.perf_counter() - g.get("start", time.perf_counter())
    state = get_state()
    endpoint = endpoint_label()
    state.metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    recorded_endpoint = endpoint if request.url_rule is not None else request.path[:MAX_RECORDED_PATH]
    rows = (_call_row(recorded_endpoint, response.status_code, seconds), _prediction_rows(recorded_endpoint))
    line = _log_line(endpoint, response.status_code, seconds)
    # the history rows and the log line once the answer is sent: the client does not wait for them
    response.call_on_close(lambda: _after_sent(state, rows, line))
    return response


def _after_sent(state, rows: tuple[dict, list[dict]], line: tuple) -> None:
    try:
        if not state.recorder.record(*rows):
            state.metrics.recorder_dropped.inc()
        level, args, extra = line
        log_later(log, level, "%s %s %d", *args, extra=extra)
    except Exception:  # bookkeeping never fails a request that was already answered
        logging.getLogger(__name__).exception("request %s: its history row or log line was not written",
                                              rows[0].get("request_id"))


def _call_row(endpoint: str, status: int, seconds: float) -> dict:
    return {
        "timestamp": now_iso(), "endpoint": endpoint, "status_code": status,
        "response_time": round(seconds, 6), "success": status < 400,
        "request_id": g.request_id, "method": request.method,
        "category": g.get("category"), "images": g.get("images", 0), "error": g.get("error_code"),
        "confidence": _rounded(g.get("confidence")), "tier": g.get("tier"), "failed": g.get("failed"),
    }


def _rounded(confidence: float | None) -> float | None:
    return None if confidence is None else round(confidence, 6)


def _prediction_rows(endpoint: str) -> list[dict]:
    stamp = now_iso()
    return [{"timestamp": stamp, "request_id": g.request_id, "endpoint": endpoint,
             "category": p.category, "confidence": round(p.confidence, 6), "tier": p.tier}
            for p in g.get("predictions", ())]


def _log_line(endpoint: str, status: int, seconds: float) -> tuple[int, tuple, dict]:
    """The request's log line (level, message arguments, fields), written after the answer."""
    level = logging.WARNING if status >= 500 else logging.INFO
    return level, (request.method, endpoint, status), {
        "request_id": g.request_id,  # set here: the filter's own lookup costs more
        "method": request.method, "path": request.path[:MAX_RECORDED_PATH], "status": status,
        "duration_ms": round(seconds * 1000, 3), "remote": request.remote_addr,
        "category": g.get("category"), "images": g.get("images"), "error_code": g.get("error_code"),
    }
