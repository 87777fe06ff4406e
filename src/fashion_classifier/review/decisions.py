"""Recording a clerk's decision and moving a corrected photo, crash-safe like the batch.

A decision row is committed ("planned", with its destination) before the file
moves, then marked "done"; ``resolve_planned`` finishes any decision a crash
interrupted. The move is the batch's ``place``: an atomic rename that never
replaces a file (a copy verified against the journal's content hash across
filesystems). One decision per photo: a second one is refused (409), so two
clerks can never move the same photo twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..batch.moves import DestinationTaken, file_hash, fsync_dir, partial_path, place, same_file
from ..batch.naming import safe_name, with_suffix_number
from ..history import HistoryDB, now_iso
from ..labels import DEFAULT_CATEGORIES, folder_names
from .queue import get_item, in_processed
from .reports import follows_review

CONFIRMED, CORRECTED = "confirmed", "corrected"
RETAKE = "retake"  # photo unusable: no category, the photo goes to the retake folder (review.retake)
LABELS = (CONFIRMED, CORRECTED)  # the actions that give a photo a category a clerk vouches for
PLANNED, DONE, MISSING = "planned", "done", "missing"
MAX_NAMES = 1000
STANDING = "undo_state IS NOT 'done'"  # a decision not (completely) undone: the photo is decided


class ReviewError(Exception):
    status = 400


class InvalidCategory(ReviewError):
    status = 400


class NotInQueue(ReviewError):
    status = 404


class AlreadyDecided(ReviewError):
    status = 409


class MoveFailed(ReviewError):
    status = 500


class ReviewDB(HistoryDB):
    """The history database with ``synchronous=FULL``: a decision survives a power cut with its move."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.execute("PRAGMA synchronous = FULL")


@dataclass(frozen=True)
class Decision:
    id: int
    item_id: int
    action: str
    old_category: str
    new_category: str
    reviewer: str
    decided_at: str
    old_path: str
    new_path: str
    move_method: str

    def as_json(self) -> dict:
        return {"id": self.id, "item_id": self.item_id, "action": self.action,
                "old_category": self.old_category, "new_category": self.new_category,
                "reviewer": self.reviewer, "decided_at": self.decided_at,
                "folder": Path(self.new_path).parent.name, "name": Path(self.new_path).name}


def clean_reviewer(name: str) -> str:
    text = " ".join(str(name or "").split())[:80]
    if not text or not text.isprintable():
        raise ReviewError("say who is reviewing (a name)")
    return text


def waiting_item(db: HistoryDB, processed_dir: Path, item_id: int, reviewer: str):
    """(clean reviewer name, the queue item) of a photo that can still be decided, else the reason."""
    reviewer = clean_reviewer(reviewer)
    item = get_item(db, item_id)
    if item is None:
        raise _why_not(db, item_id)
    if not in_processed(item.path, processed_dir):
        if get_item(db, item_id) is None:  # another clerk decided it meanwhile and moved it: say so
            raise _why_not(db, item_id)
        raise NotInQueue(f"{item.filename} is no longer in {processed_dir.name}/{item.category}/")
    return reviewer, item


@follows_review  # the run's reports are rewritten to show the decision
def decide(db: HistoryDB, processed_dir: Path, item_id: int, category: str, reviewer: str,
           categories: Sequence[str] = DEFAULT_CATEGORIES) -> Decision:
    """Confirm (same category: nothing moves) or correct (the photo moves to the new folder).

    ``categories`` are the model's; ``Other`` ("not one of ours") is always a valid answer."""
    if category not in folder_names(categories):
        raise InvalidCategory(f"unknown category {category!r}")
    reviewer, item = waiting_item(db, processed_dir, item_id, reviewer)
    action = CONFIRMED if category == item.category else CORRECTED
    folder = processed_dir / safe_name(category)
    dest = item.path if action == CONFIRMED else _free_name(db, folder, item.path)
    decision_id, decided_at = _insert(db, item, category, action, reviewer, dest)
    if action == CONFIRMED:
        return Decision(decision_id, item.id, action, item.category, category, reviewer, decided_at,
                        str(item.path), str(item.path), "")
    final, method = _move(db, decision_id, item.path, dest, item.content_hash)
    return Decision(decision_id, item.id, action, item.category, category, reviewer, decided_at,
                    str(item.path), str(final), method)


def _why_not(db: HistoryDB, item_id: int) -> ReviewError:
    rows = db.execute("SELECT reviewer, decided_at, new_category FROM review_decisions"
                      f" WHERE batch_file_id = ? AND {STANDING}", (item_id,))
    if rows:
        r = rows[0]
        return AlreadyDecided(f"already reviewed by {r['reviewer']} at {r['decided_at']}"
                              f" ({r['new_category'] or 'photo unusable, retake'})")
    return NotInQueue(f"photo {item_id} is not waiting for review")


def _insert(db: HistoryDB, item, category: str, action: str, reviewer: str, dest: Path) -> tuple[int, str]:
    stamp = now_iso()
    try:
        rows = db.execute(
            "INSERT INTO review_decisions (batch_file_id, run_id, filename, content_hash, tier, confidence,"
            " old_category, new_category, action, reviewer, decided_at, old_path, new_path, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (item.id, item.run_id, item.filename, item.content_hash, item.tier, item.confidence,
             item.category, category, action, reviewer, stamp, str(item.path), str(dest),
             DONE if action == CONFIRMED else PLANNED))
    except sqlite3.IntegrityError:  # another clerk decided a moment ago
        raise _why_not(db, item.id) from None
    return int(rows[0][0]), stamp


def _free_name(db: HistoryDB, folder: Path, current: Path) -> Path:
    """A name in ``folder`` that no file has and no planned batch or review move has promised."""
    for number in range(1, MAX_NAMES + 1):
        candidate = folder / (current.name if number == 1 else with_suffix_number(current.name, number))
        if os.path.lexists(candidate):
            continue
        promised = db.execute(
            "SELECT 1 FROM batch_files WHERE state = 'planned' AND dest_path = ? UNION ALL"
            " SELECT 1 FROM review_decisions WHERE state = 'planned' AND new_path = ? UNION ALL"
            " SELECT 1 FROM review_decisions WHERE undo_state = 'planned' AND undo_path = ?",
            (str(candidate), str(candidate), str(candidate)))
        if not promised:
            return candidate
    raise MoveFailed(f"no free name for {current.name} in {folder}")


def place_under_free_name(db: HistoryDB, decision_id: int, src: Path, dest: Path, content_hash: str,
                          token: str, like: Path, path_column: str):
    """Move ``src`` to ``dest`` with the batch's ``place`` (never overwrites); if a file takes
    ``dest`` meanwhile, the next free name like ``like``, recorded in ``path_column`` first.
    Both folders fsynced. OSError when nothing moved."""
    dest.parent.mkdir(exist_ok=True)
    for _ in range(MAX_NAMES):
        try:
            placed = place(src, dest, content_hash or None, token=token)
            break
        except DestinationTaken:  # a file appeared there since we chose the name
            dest = _free_name(db, dest.parent, like)
            db.execute(f"UPDATE review_decisions SET {path_column} = ? WHERE id = ?",
                       (str(dest), decision_id))
    else:
        raise OSError(f"no free name for {src.name}")
    fsync_dir(dest.parent)
    fsync_dir(src.parent)
    return placed


def _move(db: HistoryDB, decision_id: int, src: Path, dest: Path, content_hash: str) -> tuple[Path, str]:
    try:
        placed = place_under_free_name(db, decision_id, src, dest, content_hash, f"review-{decision_id}",
                                       src, "new_path")
    except OSError as exc:
        db.execute("DELETE FROM review_decisions WHERE id = ?", (decision_id,))  # nothing moved: undecided
        raise MoveFailed(f"could not move {src.name} to {dest.parent.name}/: {exc}") from exc
    _done(db, decision_id, placed.dest, placed.method, placed.note)
    return placed.dest, placed.method


def _done(db: HistoryDB, decision_id: int, dest: Path, method: str, note: str = "") -> None:
    db.execute("UPDATE review_decisions SET state = ?, new_path = ?, move_method = ?, note = ? WHERE id = ?",
               (DONE, str(dest), method, note, decision_id))


def resolve_planned(db: HistoryDB) -> int:
    """Finish the decisions and undos a crash left between "planned" and "done"; returns how many."""
    from .reports import reports_follow
    from .undo import resolve_planned_undos

    rows = db.execute("SELECT * FROM review_decisions WHERE state = ?", (PLANNED,))
    for row in rows:
        try:
            _resolve(db, row)
        except ReviewError:  # could not move now: the decision was withdrawn, the photo waits again
            pass
        # the crash came before the reports were marked: rewrite them now (the photo was in
        # processed_batches/<Category>/ when the decision was planned)
        reports_follow(db, Path(row["old_path"]).parent.parent, row["batch_file_id"])
    return len(rows) + resolve_planned_undos(db)


def _resolve(db: HistoryDB, row) -> None:
    src, dest, digest = Path(row["old_path"]), Path(row["new_path"]), row["content_hash"]
    where = interrupted_move(src, dest, digest, f"review-{row['id']}")
    if where == IN_PLACE:
        return _done(db, row["id"], dest, "recovered (already in place)")
    if where == AT_SOURCE:
        if os.path.lexists(dest):  # someone else's file took the name
            dest = _free_name(db, dest.parent, src)
        _move(db, row["id"], src, dest, digest)
        return None
    db.execute("UPDATE review_decisions SET state = ?, note = ? WHERE id = ?",
               (MISSING, "the photo was at neither place when the decision was resumed", row["id"]))
    return None


IN_PLACE, AT_SOURCE, GONE = "in place", "at source", "gone"


def interrupted_move(src: Path, dest: Path, digest: str | None, tag: str) -> str:
    """Where a move a crash interrupted stands (its partial copy removed): IN_PLACE (the
    source cleaned up if it was about to go), AT_SOURCE (still to move) or GONE."""
    partial_path(dest, tag).unlink(missing_ok=True)
    src_here, dest_here = os.path.lexists(src), os.path.lexists(dest)
    if src_here and dest_here and same_file(src, dest):  # linked, not yet unlinked
        os.unlink(src)
        return IN_PLACE
    if dest_here and digest and _hash(dest) == digest:
        if src_here and _hash(src) == digest:
            os.unlink(src)  # a verified copy is in place; the source was about to go
        return IN_PLACE
    return AT_SOURCE if src_here else GONE


def _hash(path: Path) -> str:
    try:
        return file_hash(path)
    except OSError:
        return ""
