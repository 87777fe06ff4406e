"""Request log lines are written in batches by a thread of their own: in order, none lost."""

from __future__ import annotations

import logging
import time

from fashion_classifier.api.logqueue import BackgroundHandler, flush_all, log_later
from fashion_classifier.api.logs import ACCESS_LOGGER_NAME, LOGGER_NAME, LogFiles, configure_logging


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _target(name: str) -> tuple[logging.Logger, Collect]:
    target, collect = logging.getLogger(name), Collect()
    target.addHandler(collect)
    target.propagate = False
    return target, collect


def test_request_lines_reach_the_files_in_order_once_flushed(tmp_path):
    configure_logging("INFO", True, LogFiles(tmp_path, 10_000_000, 2))
    try:
        access = logging.getLogger(ACCESS_LOGGER_NAME)
        for i in range(300):
            access.info("GET /classes %d", i, extra={"request_id": f"r{i}"})
        flush_all()
        lines = (tmp_path / "api.log").read_text().splitlines()
        assert [int(line.split("GET /classes ")[1].split()[0]) for line in lines] == list(range(300))
    finally:
        configure_logging("INFO", True, None)


def test_other_loggers_are_written_at_once(tmp_path):
    configure_logging("INFO", True, LogFiles(tmp_path, 10_000_000, 2))
    try:
        logging.getLogger(LOGGER_NAME + ".model").warning("model switched")
        assert "WARNING: model switched" in (tmp_path / "api.log").read_text()  # no flush
    finally:
        configure_logging("INFO", True, None)


def test_a_full_queue_writes_in_the_calling_thread_and_loses_nothing():
    target, collect = _target("logqueue-test-full")
    handler = BackgroundHandler(target, linger_seconds=30, max_queue=1)
    source = logging.getLogger("logqueue-test-full.source")
    source.addHandler(handler)
    source.propagate = False
    try:
        for i in range(5):
            source.warning("line %d", i)
        assert collect.messages, "a full queue must not make the caller wait for the writer"
        assert handler.flush(5)
        assert sorted(collect.messages) == [f"line {i}" for i in range(5)]
    finally:
        source.removeHandler(handler)
        handler.close()


def test_close_writes_what_is_queued():
    target, collect = _target("logqueue-test-close")
    handler = BackgroundHandler(target, linger_seconds=30)
    record = logging.makeLogRecord({"msg": "last words", "levelno": logging.INFO})
    handler.emit(record)
    handler.close()
    assert collect.messages == ["last words"]


def test_a_line_queued_without_its_record_is_written_as_logged(tmp_path):
    configure_logging("INFO", True, LogFiles(tmp_path, 10_000_000, 2))
    access = logging.getLogger(ACCESS_LOGGER_NAME)
    try:
        before = time.time()
        log_later(access, logging.INFO, "%s %s %d", "POST", "/predict", 200,
                  extra={"request_id": "r-later", "status": 200, "category": "Tshirts"})
        after = time.time()
        log_later(access, logging.DEBUG, "%s", "below the level", extra={"request_id": "r-debug"})
        time.sleep(1.1)  # written a second later or more: the line keeps the time it was logged
        flush_all()
        text = (tmp_path / "api.log").read_text()
        stamp, _, rest = text.splitlines()[-1].partition("] ")
        logged = {time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in (before, after)}
        assert stamp.lstrip("[") in logged
        assert rest.startswith("INFO: POST /predict 200")
        assert "request_id=r-later" in rest and "category=Tshirts" in rest and "status=200" in rest
        assert "below the level" not in text
    finally:
        configure_logging("INFO", True, None)
