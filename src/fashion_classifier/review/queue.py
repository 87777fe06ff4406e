"""Which photos wait for a person, and what the model thought of each."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..history import HistoryDB
from ..model import CHECK, REVIEW

REVIEW_TIERS = (REVIEW, CHECK)  # manual review first, then quick check
# where a photo is now: its standing decision's destination, else where its last undo put it back,
# else where the batch placed it
CURRENT_PATH = """COALESCE(
    (SELECT c.new_path FROM review_decisions c WHERE c.batch_file_id = f.id AND c.state = 'done'
     AND c.undo_state IS NOT 'done'),
    (SELECT u.undo_path FROM review_decisions u WHERE u.batch_file_id = f.id AND u.undo_state = 'done'
     ORDER BY u.id DESC LIMIT 1),
    f.dest_path)"""
_PENDING = f"""
    SELECT f.*, {CURRENT_PATH} AS current_path FROM batch_files f
    LEFT JOIN review_decisions d ON d.batch_file_id = f.id AND d.undo_state IS NOT 'done'
    WHERE f.status = 'success' AND f.state = 'done' AND f.tier IN ('review', 'check') AND d.id IS NULL
"""
_ORDER = " ORDER BY f.run_id DESC, CASE f.tier WHEN 'review' THEN 0 ELSE 1 END, f.confidence, f.id"


@dataclass(frozen=True)
class ReviewItem:
    id: int  # batch_files.id
    run_id: str
    filename: str  # the clerk's name, relative to the incoming folder
    category: str  # the model's
    confidence: float
    tier: str
    guesses: tuple[tuple[str, float], ...]  # every category, most likely first
    path: Path  # where the photo is now
    content_hash: str
    model_version: str = ""

    def as_json(self) -> dict:
        return {"id": self.id, "run_id": self.run_id, "filename": self.filename, "category": self.category,
                "confidence": self.confidence, "tier": self.tier, "folder": self.path.parent.name,
                "name": self.path.name, "model_version": self.model_version,
                "guesses": [{"category": c, "confidence": p} for c, p in self.guesses]}


def _item(row) -> ReviewItem:
    try:
        scores = json.loads(row["all_predictions"] or "{}")
    except ValueError:
        scores = {}
    scores = scores if isinstance(scores, dict) else {}
    scores.setdefault(row["category"], row["confidence"])
    if row["top2_category"]:
        scores.setdefault(row["top2_category"], row["top2_confidence"] or 0.0)
    # the model's own answer first (key 1 confirms it, also an Other chosen by its threshold)
    guesses = tuple(sorted(((str(c), float(p)) for c, p in scores.items()),
                           key=lambda cp: (cp[0] != row["category"], -cp[1])))
    return ReviewItem(row["id"], row["run_id"], row["rel_name"], row["category"],
                      float(row["confidence"]), row["tier"], guesses, Path(row["current_path"]),
                      row["content_hash"] or "", row["model_version"] or "")


def in_processed(path: Path, processed_dir: Path) -> bool:
    """Directly in a category folder of processed_batches (not moved away, not escaped via links)."""
    try:
        return path.parent.parent.resolve() == processed_dir.resolve() and os.path.isfile(path) \
            and not path.is_symlink()
    except OSError:
        return False


def pending_items(db: HistoryDB, processed_dir: Path, limit: int | None = None,
                  run_id: str | None = None) -> list[ReviewItem]:
    """Photos to review, newest run first, least certain first; files no longer in place are left out."""
    sql, params = _PENDING, []
    if run_id:
        sql += " AND f.run_id = ?"
        params.append(run_id)
    items = [_item(r) for r in db.execute(sql + _ORDER, params)]
    items = [i for i in items if in_processed(i.path, processed_dir)]
    return items if limit is None else items[:limit]


def get_item(db: HistoryDB, item_id: int) -> ReviewItem | None:
    """The item if it is still waiting for a decision (whether or not its file is in place)."""
    rows = db.execute(_PENDING + " AND f.id = ?", (item_id,))
    return _item(rows[0]) if rows else None


def queue_counts(db: HistoryDB, processed_dir: Path) -> dict:
    waiting = pending_items(db, processed_dir)
    done = {r["action"]: r["n"] for r in db.execute(
        "SELECT action, COUNT(*) AS n FROM review_decisions WHERE state = 'done' AND undo_state IS NULL"
        " GROUP BY action")}
    return {"waiting": len(waiting), "manual_review": sum(i.tier == REVIEW for i in waiting),
            "quick_check": sum(i.tier == CHECK for i in waiting), "confirmed": done.get("confirmed", 0),
            "corrected": done.get("corrected", 0), "retake": done.get("retake", 0)}
