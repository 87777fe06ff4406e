"""After a decision or an undo: the run's reports are rewritten to show where the photo is now.

``follows_review`` wraps ``decide`` and ``undo_decision``: once the decision (or undo)
is carried out, the photo's run is marked "reports stale" (a durable marker file) and
handed to a background thread that rewrites its CSV, XLSX, summary and HTML
(``batch.outputs.regenerate``) and removes the marker. The clerk's next photo does not
wait for that (a night's thumbnails take seconds to draw the first time); decisions that
come while a rewrite runs are folded into the next one. It is best effort: a failure is
logged, the marker stays, and the next decision (or ``regenerate --stale``) redoes the
run; the decision stands either way. The thread is not a daemon, so a short-lived
process finishes the rewrite before it exits.

The callers pass the history database and the processed folder, not a ``Config``: the
reports are found the way the batch's ``--output-root`` lays them out, i.e. below the
folder that holds ``data/processed_batches`` (or where the environment's settings say).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import replace
from pathlib import Path

from ..config import Config

log = logging.getLogger(__name__)
OUTPUT_FIELDS = ("processed_dir", "failed_dir", "results_dir", "batch_results_dir", "reports_dir", "logs_dir")


def follows_review(func):
    """Decorate a ``(db, processed_dir, ...)`` function returning something with ``item_id``."""
    @functools.wraps(func)
    def wrapper(db, processed_dir, *args, **kwargs):
        outcome = func(db, processed_dir, *args, **kwargs)
        reports_follow(db, Path(processed_dir), outcome.item_id)
        return outcome
    return wrapper


def reports_follow(db, processed_dir: Path, item_id: int) -> None:
    """Mark the photo's run stale and queue its rewrite; never raises."""
    try:
        from ..batch.outputs.regenerate import mark_stale

        rows = db.execute("SELECT run_id FROM batch_files WHERE id = ?", (item_id,))
        if rows:
            config = config_for(processed_dir, Path(db.path))
            mark_stale(config, rows[0]["run_id"])
            _FOLLOWER.add(config, rows[0]["run_id"])
    except Exception:  # the decision is done; the reports catch up at the next regeneration
        log.exception("the reports could not be queued for rewriting after a review decision on photo %s",
                      item_id)


def reports_settled(timeout: float = 60.0) -> bool:
    """Wait until every queued rewrite of this process is done (tests, a clean shutdown)."""
    return _FOLLOWER.idle.wait(timeout)


class _Follower:
    """One background thread per process drains the runs waiting for a rewrite."""

    def __init__(self):
        self._lock = threading.Lock()
        self._todo: dict[str, Config] = {}
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def add(self, config: Config, run_id: str) -> None:
        with self._lock:
            self._todo[run_id] = config
            self.idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="reports-follow-review")
                self._thread.start()

    def _drain(self) -> None:
        from ..batch.outputs.regenerate import regenerate_run_reports

        while True:
            with self._lock:
                if not self._todo:
                    self._thread = None
                    self.idle.set()
                    return
                run_id, config = self._todo.popitem()
            try:
                regenerate_run_reports(config, run_id)  # its own connection: the caller's may close
            except Exception:
                log.exception("the reports of run %s could not be brought up to date after a review "
                              "decision; they stay marked stale and are rewritten at the next decision "
                              "(or: python -m fashion_classifier.batch.outputs.regenerate --stale)", run_id)


_FOLLOWER = _Follower()


def config_for(processed_dir: Path, history_db: Path) -> Config:
    """The settings, with the output folders beside ``processed_dir`` as the batch put them."""
    config = Config.from_env()
    relative = Path(config.processed_dir)
    if not relative.is_absolute() and config.path("processed_dir") != processed_dir \
            and processed_dir.parts[-len(relative.parts):] == relative.parts:
        root = processed_dir.parents[len(relative.parts) - 1]
        changes = {name: root / getattr(config, name) for name in OUTPUT_FIELDS
                   if not Path(getattr(config, name)).is_absolute()}
        config = replace(config, **changes)
    return replace(config, processed_dir=processed_dir, history_db=history_db)
