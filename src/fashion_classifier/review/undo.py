"""Undoing a clerk's decision: the photo goes back where it was and waits for review again.

The decision row is never deleted (audit trail): it is marked undone (who,
when, where the photo went back to). For a correction the photo moves back to
its old category folder with the decision's own protocol: the undo is
committed "planned" with its destination before the file moves, then marked
"done"; ``resolve_planned`` finishes an undo a crash interrupted. The move is
the batch's ``place`` (never replaces a file): if the old name was taken
meanwhile, the photo gets the next free ``_2``, ``_3``... name. A retake's
undo brings the photo back from the retake folder the same way. A
confirmation's undo moves nothing. Refused: an unknown decision (404), one
already undone (409), one whose photo is no longer where the decision put it
(409, nothing moves).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..history import HistoryDB, now_iso
from .decisions import (
    AT_SOURCE,
    CONFIRMED,
    DONE,
    IN_PLACE,
    MISSING,
    PLANNED,
    RETAKE,
    MoveFailed,
    ReviewError,
    _free_name,
    _hash,
    clean_reviewer,
    interrupted_move,
    place_under_free_name,
)
from .queue import in_processed
from .reports import follows_review
from .retake import in_retake


class DecisionNotFound(ReviewError):
    status = 404


class CannotUndo(ReviewError):
    status = 409


@dataclass(frozen=True)
class Undo:
    decision_id: int
    item_id: int
    action: str  # of the undone decision
    undone_by: str
    undone_at: str
    path: str  # where the photo is now

    def as_json(self) -> dict:
        return {"decision_id": self.decision_id, "item_id": self.item_id, "action": self.action,
                "undone_by": self.undone_by, "undone_at": self.undone_at,
                "folder": Path(self.path).parent.name, "name": Path(self.path).name}


@follows_review  # the run's reports are rewritten to show the undo
def undo_decision(db: HistoryDB, processed_dir: Path, reviewer: str, *, decision_id: int | None = None,
                  item_id: int | None = None, retake_dir: Path | None = None) -> Undo:
    """Undo one decision (by its id), or the standing decision on a photo (by the photo's item id).

    ``retake_dir``: where retake decisions put photos (default: ``retake`` beside ``processed_dir``)."""
    reviewer = clean_reviewer(reviewer)
    row = _find(db, decision_id, item_id)
    if row["undo_state"] is not None:
        raise CannotUndo(f"{row['filename']}: the decision was already undone by {row['undone_by']}"
                         f" at {row['undone_at']}")
    if row["state"] == MISSING:
        raise CannotUndo(f"{row['filename']}: the photo went missing while the decision was carried out")
    if row["state"] != DONE:
        raise CannotUndo(f"{row['filename']}: the decision is still being carried out; try again")
    here = Path(row["new_path"])
    if not _where_decided(row, here, processed_dir, retake_dir) or (
            row["content_hash"] and _hash(here) != row["content_hash"]):
        raise CannotUndo(f"{row['filename']} is no longer at {here.parent.name}/{here.name}, where the"
                         " decision put it; nothing was moved")
    if row["action"] == CONFIRMED:
        stamp = _claim(db, row, reviewer, here, DONE)
        return Undo(row["id"], row["batch_file_id"], row["action"], reviewer, stamp, str(here))
    old = Path(row["old_path"])
    dest = _free_name(db, old.parent, old)
    stamp = _claim(db, row, reviewer, dest, PLANNED)
    final = _move_back(db, row["id"], here, dest, row["content_hash"], old)
    return Undo(row["id"], row["batch_file_id"], row["action"], reviewer, stamp, str(final))


def _where_decided(row, here: Path, processed_dir: Path, retake_dir: Path | None) -> bool:
    if row["action"] == RETAKE:
        return in_retake(here, retake_dir or processed_dir.parent / "retake")
    return in_processed(here, processed_dir)


def _find(db: HistoryDB, decision_id: int | None, item_id: int | None):
    if decision_id is not None:
        rows = db.execute("SELECT * FROM review_decisions WHERE id = ?", (decision_id,))
        if not rows:
            raise DecisionNotFound(f"no review decision {decision_id}")
        return rows[0]
    if item_id is None:
        raise ReviewError("say which decision to undo")
    rows = db.execute("SELECT * FROM review_decisions WHERE batch_file_id = ?"
                      " ORDER BY undo_state IS NOT 'done' DESC, id DESC LIMIT 1", (item_id,))
    if not rows:
        raise DecisionNotFound(f"photo {item_id} has no review decision")
    return rows[0]  # the standing decision, else the latest undone one (refused as already undone)


def _claim(db: HistoryDB, row, reviewer: str, dest: Path, state: str) -> str:
    """Record the undo (planned, or done when nothing moves); refused if another clerk was faster."""
    stamp = now_iso()
    claimed = db.execute(
        "UPDATE review_decisions SET undo_state = ?, undone_by = ?, undone_at = ?, undo_path = ?"
        " WHERE id = ? AND undo_state IS NULL AND state = ? RETURNING id",
        (state, reviewer, stamp, str(dest), row["id"], DONE))
    if not claimed:
        raise CannotUndo(f"{row['filename']}: the decision was undone a moment ago")
    return stamp


def _move_back(db: HistoryDB, decision_id: int, src: Path, dest: Path, content_hash: str, old: Path) -> Path:
    """Move ``src`` to ``dest``; another free name like ``old`` (the photo's name before the decision)
    if ``dest`` is taken by then."""
    try:
        placed = place_under_free_name(db, decision_id, src, dest, content_hash, f"review-undo-{decision_id}",
                                       old, "undo_path")
    except OSError as exc:  # nothing moved: the decision stands
        db.execute("UPDATE review_decisions SET undo_state = NULL, undone_by = NULL, undone_at = NULL,"
                   " undo_path = NULL WHERE id = ?", (decision_id,))
        raise MoveFailed(f"could not move {src.name} back to {dest.parent.name}/: {exc}") from exc
    _undone(db, decision_id, placed.dest, placed.method + (f"; {placed.note}" if placed.note else ""))
    return placed.dest


def _undone(db: HistoryDB, decision_id: int, dest: Path, note: str) -> None:
    db.execute("UPDATE review_decisions SET undo_state = ?, undo_path = ?, undo_note = ? WHERE id = ?",
               (DONE, str(dest), note, decision_id))


def resolve_planned_undos(db: HistoryDB) -> int:
    """Finish the undos a crash left between "planned" and "done"; returns how many."""
    rows = db.execute("SELECT * FROM review_decisions WHERE undo_state = ?", (PLANNED,))
    for row in rows:
        try:
            _resolve(db, row)
        except ReviewError:  # could not move now: the undo was withdrawn, the decision stands
            pass
    return len(rows)


def _resolve(db: HistoryDB, row) -> None:
    src, dest, digest = Path(row["new_path"]), Path(row["undo_path"]), row["content_hash"]
    old = Path(row["old_path"])
    where = interrupted_move(src, dest, digest, f"review-undo-{row['id']}")
    if where == IN_PLACE:
        return _undone(db, row["id"], dest, "recovered (already in place)")
    if where == AT_SOURCE:
        if os.path.lexists(dest):  # someone else's file took the name
            dest = _free_name(db, dest.parent, old)
        _move_back(db, row["id"], src, dest, digest, old)
        return None
    db.execute("UPDATE review_decisions SET undo_state = ?, undo_note = ? WHERE id = ?",
               (MISSING, "the photo was at neither place when the undo was resumed", row["id"]))
    return None
