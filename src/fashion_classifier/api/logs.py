"""Structured logs: one JSON object per line on stderr, each carrying the request id.

Besides stderr, the spec's log files (``logfiles``): ``logs/api.log`` (every line, INFO and
up) and ``logs/api_errors.log`` (ERROR and up), in the spec's text layout
``[2025-10-13 14:30:15] INFO: POST /predict 200 (request_id=... status=200 ...)``.
Only the ``fashion_classifier.api`` logger tree is configured, so gunicorn's own
logs and the other parts of the package (batch, training) keep their settings.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from flask import g, has_request_context

from .logfiles import SharedRotatingFileHandler
from .logqueue import BackgroundHandler

LOGGER_NAME = "fashion_classifier.api"
ACCESS_LOGGER_NAME = LOGGER_NAME + ".access"  # one line per request (context), written in batches
_HANDLER_MARK = "_fashion_api_handler"
# LogRecord attributes that are not extra fields
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last-resort handler does)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _SecondClock:
    """``time.strftime`` of a record's second, computed once per second (every request logs a
    line: formatting the same second again and again was a visible share of a request)."""

    def __init__(self, converter, layout: str):
        self._converter, self._layout = converter, layout
        self._second, self._text = None, ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # a race only recomputes the same text
            self._text = time.strftime(self._layout, self._converter(second))
            self._second = second
        return self._text


class JsonFormatter(logging.Formatter):
    def __init__(self):
        super().__init__()
        self._clock = _SecondClock(self.converter, "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": f"{self._clock(record.created)}.{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class FileFormatter(logging.Formatter):
    """The spec's layout, ``[time] LEVEL: message``, then the line's fields as key=value."""

    def __init__(self):
        super().__init__()
        self._clock = _SecondClock(self.converter, "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = f"[{self._clock(record.created)}] {record.levelname}: {record.getMessage()}"
        fields = {"request_id": getattr(record, "request_id", "-")}
        fields.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None})
        line += " (" + " ".join(f"{k}={_plain(v)}" for k, v in fields.items()) + ")"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_NEEDS_QUOTES = re.compile(r'[\s"()=]')


def _plain(value) -> str:
    text = str(value)
    return json.dumps(text) if not text or _NEEDS_QUOTES.search(text) else text


@dataclass(frozen=True)
class LogFiles:
    folder: Path
    max_bytes: int
    backups: int


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(level: str = "INFO", as_json: bool = True,
                      files: LogFiles | None = None) -> logging.Logger:
    """Idempotent: a second app in the same process replaces the handlers, not adds more."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level.upper())
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    stderr = StderrHandler()
    stderr.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    for handler in [stderr] + _file_handlers(files):
        setattr(handler, _HANDLER_MARK, True)
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    logger.propagate = False
    _queue_access_lines(logger)
    return logger


def _queue_access_lines(api_logger: logging.Logger) -> None:
    """The per-request lines go through ``logqueue`` to the same handlers, in batches."""
    access = logging.getLogger(ACCESS_LOGGER_NAME)
    for handler in [h for h in access.handlers if isinstance(h, BackgroundHandler)]:
        access.removeHandler(handler)
        handler.close()
    access.addHandler(BackgroundHandler(api_logger))
    access.propagate = False


def _file_handlers(files: LogFiles | None) -> list[logging.Handler]:
    if files is None:
        return []
    handlers: list[logging.Handler] = []
    try:
        for name, level in (("api.log", logging.NOTSET), ("api_errors.log", logging.ERROR)):
            path = Path(files.folder) / name
            handler = SharedRotatingFileHandler(path, files.max_bytes, files.backups, level)
            handler.setFormatter(FileFormatter())
            handlers.append(handler)
    except OSError as exc:  # a read-only folder must not stop the API: stderr still has everything
        for handler in handlers:
            handler.close()
        print(f"API log files not written ({files.folder}): {exc}", file=sys.stderr)
        return []
    return handlers
