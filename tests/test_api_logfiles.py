"""logs/api.log and logs/api_errors.log: rotation shared by many processes loses and splits nothing."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from pathlib import Path

import pytest
from api_support import make_app, product_png, state, upload

from fashion_classifier.api.logfiles import SharedRotatingFileHandler
from fashion_classifier.api.logqueue import flush_all
from fashion_classifier.api.logs import LOGGER_NAME, FileFormatter

LINE = re.compile(r"^writer (\d+) line (\d+) x+$")


def all_lines(path: Path) -> list[str]:
    """Every line of the file and its backups, oldest first (api.log.N ... api.log.1, api.log)."""
    backups = sorted(path.parent.glob(path.name + ".*[0-9]"), key=lambda p: -int(p.suffix[1:]))
    return [line for f in [*backups, path] for line in f.read_text().splitlines()]


def _writer(path: str, number: int, lines: int, max_bytes: int, backups: int, ready) -> None:
    handler = SharedRotatingFileHandler(Path(path), max_bytes, backups)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"writer-{number}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ready.wait()
    for i in range(lines):
        logger.info("writer %d line %d %s", number, i, "x" * (20 + (i * 7) % 200))
    handler.close()


def test_many_processes_rotating_one_file_lose_and_split_no_line(tmp_path):
    path = tmp_path / "api.log"
    writers, lines = 4, 400
    context = multiprocessing.get_context("spawn")  # separate processes, as gunicorn workers
    ready = context.Event()
    processes = [context.Process(target=_writer, args=(str(path), n, lines, 8_000, 500, ready))
                 for n in range(writers)]
    for p in processes:
        p.start()
    ready.set()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0
    got = all_lines(path)
    assert all(LINE.match(line) for line in got), [line for line in got if not LINE.match(line)][:3]
    assert sorted(got) == sorted(f"writer {n} line {i} " + "x" * (20 + (i * 7) % 200)
                                 for n in range(writers) for i in range(lines)), "a line was lost or doubled"
    backups = sorted(tmp_path.glob("api.log.*[0-9]"))
    assert len(backups) > 10, "the test did not rotate"
    assert all(f.stat().st_size <= 8_000 for f in [path, *backups])
    for n in range(writers):  # each writer's lines stay in order across the rotations
        mine = [int(LINE.match(line).group(2)) for line in got if line.startswith(f"writer {n} ")]
        assert mine == list(range(lines))


def test_a_forked_worker_waits_for_the_masters_lock(tmp_path):
    """A lock inherited across fork would be the same lock: the worker must take its own."""
    import fcntl
    import time

    path = tmp_path / "api.log"
    handler = SharedRotatingFileHandler(path, 1000, 3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(logging.makeLogRecord({"msg": "from the master"}))
    fcntl.flock(handler._lock_fd, fcntl.LOCK_EX)  # the master is in the middle of a write
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        handler.emit(logging.makeLogRecord({"msg": "from a worker"}))
        os._exit(0)
    time.sleep(0.5)
    written_meanwhile = path.read_text()
    fcntl.flock(handler._lock_fd, fcntl.LOCK_UN)
    _, status = os.waitpid(pid, 0)
    handler.emit(logging.makeLogRecord({"msg": "master again"}))
    handler.close()
    assert status == 0
    assert written_meanwhile == "from the master\n", "the worker wrote under the master's lock"
    assert path.read_text().splitlines() == ["from the master", "from a worker", "master again"]


def test_oldest_backup_is_dropped_and_an_outside_move_is_followed(tmp_path):
    path = tmp_path / "api.log"
    handler = SharedRotatingFileHandler(path, 50, 2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(10):
        handler.emit(logging.makeLogRecord({"msg": f"line {i:02d} " + "y" * 30}))
    assert sorted(p.name for p in tmp_path.glob("api.log*") if not p.name.endswith(".lock")) == \
        ["api.log", "api.log.1", "api.log.2"]
    assert path.read_text().startswith("line 09")
    os.rename(path, tmp_path / "moved-by-logrotate")
    handler.emit(logging.makeLogRecord({"msg": "after the move"}))
    handler.close()
    assert path.read_text() == "after the move\n"


def test_file_lines_follow_the_spec_layout_and_quote_what_needs_it():
    record = logging.makeLogRecord({"msg": "POST %s %d", "args": ("/predict", 200), "levelname": "INFO",
                                    "request_id": "abc", "path": "/a b\nc", "category": "Casual Shoes",
                                    "images": 1, "error_code": None})
    line = FileFormatter().format(record)
    assert re.match(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: POST /predict 200 \(request_id=abc ", line)
    assert 'path="/a b\\nc"' in line and 'category="Casual Shoes"' in line and "images=1" in line
    assert "error_code" not in line and "\n" not in line


def test_api_writes_both_files_and_errors_only_in_the_errors_file(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, api_log_level="INFO")
    client = app.test_client()
    upload(client, product_png())
    logging.getLogger(LOGGER_NAME + ".test").error("disk on fire")
    flush_all()  # request lines are written in batches (api.logqueue)
    logs = tmp_config.path("logs_dir")
    text, errors = (logs / "api.log").read_text(), (logs / "api_errors.log").read_text()
    assert "INFO: POST /predict 200" in text and "ERROR: disk on fire" in text
    assert errors.count("\n") == 1 and "ERROR: disk on fire" in errors
    state(app).recorder.close()


def test_unwritable_log_folder_does_not_stop_the_api(tmp_config, shipped_predictor, capsys):
    blocker = tmp_config.path("logs_dir")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the logs folder should be")
    app = make_app(tmp_config, shipped_predictor, history_db=blocker.parent / "h.db")
    assert upload(app.test_client(), product_png()).status_code == 200
    assert "API log files not written" in capsys.readouterr().err
    state(app).recorder.close()


def test_log_files_can_be_turned_off(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, api_log_files=False)
    upload(app.test_client(), product_png())
    assert not (tmp_config.path("logs_dir") / "api.log").exists()
    state(app).recorder.close()


@pytest.fixture(autouse=True)
def _quiet_api_logger():
    yield  # the API logger is global: leave it without this test's file handlers
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if isinstance(handler, SharedRotatingFileHandler):
            logger.removeHandler(handler)
            handler.close()
