"""After a decision or an undo: the run's reports are rewritten to show where the photo is now.

``follows_review`` wraps ``decide`` and ``undo_decision``: once the decision (or undo)
is carried out, the photo's run gets its CSV, XLSX, summary and HTML regenerated
(``batch.outputs.regenerate``). That is best effort: a failure is logged and leaves a
"stale" marker for the next regeneration; the clerk's decision stands either way.

The callers pass the history database and the processed folder, not a ``Config``: the
reports are found the way the batch's ``--output-root`` lays them out, i.e. below the
folder that holds ``data/processed_batches`` (or where the environment's settings say).
"""

from __future__ import annotations

import functools
import logging
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
    run_id = None
    try:
        from ..batch.outputs.regenerate import regenerate_run_reports

        rows = db.execute("SELECT run_id FROM batch_files WHERE id = ?", (item_id,))
        if rows:
            run_id = rows[0]["run_id"]
            regenerate_run_reports(config_for(processed_dir, Path(db.path)), run_id, db=db)
    except Exception:  # the decision is done; the reports catch up at the next regeneration
        log.exception("the reports of run %s could not be brought up to date after a review decision; "
                      "they are marked stale and rewritten at the next decision (or run "
                      "python -m fashion_classifier.batch.outputs.regenerate --stale)", run_id)


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
