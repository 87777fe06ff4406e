"""A clerk's own recent decisions that can still be undone (the review page's undo list).

Read from the database, so the list survives a page reload or a new browser:
decisions of one reviewer in the last ``hours``, carried out, not undone, whose
photo is still where the decision put it (anything else ``undo_decision`` would
refuse anyway).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from ..history import HistoryDB

UNDO_HOURS = 12  # one working day: yesterday's decisions are settled
MAX_LISTED = 50


def recent_decisions(db: HistoryDB, reviewer: str, hours: float = UNDO_HOURS,
                     now: datetime | None = None) -> list[dict]:
    """Newest first: ``{id, item_id, filename, run_id, action, old_category, new_category, decided_at}``."""
    since = ((now or datetime.now()) - timedelta(hours=hours)).isoformat(timespec="seconds")
    rows = db.execute(
        "SELECT * FROM review_decisions WHERE reviewer = ? AND decided_at >= ? AND state = 'done'"
        " AND undo_state IS NULL ORDER BY decided_at DESC, id DESC LIMIT ?", (reviewer, since, MAX_LISTED))
    return [_entry(r) for r in rows if os.path.isfile(r["new_path"] or "")]


def _entry(row) -> dict:
    return {"id": row["id"], "item_id": row["batch_file_id"], "filename": row["filename"],
            "run_id": row["run_id"], "action": row["action"], "old_category": row["old_category"],
            "new_category": row["new_category"], "decided_at": row["decided_at"]}
