""""Photo unusable — retake": the clerk cannot tell what the item is from this photo.

The photo leaves ``processed_batches/<Category>/`` for the retake folder
(``data/retake/``, ``FASHION_RETAKE_DIR``): outside the batch's category
folders, so no shelf, pick list or count of a category holds it, and the
clerk finds in one place the items to photograph again (the new photo goes to
``data/incoming/`` like any other; the old one can then be deleted). The
decision is recorded like a correction (action ``retake``, no new category,
"planned" before the move), so it survives a crash, leaves the queue, is never
exported as a training label, and is undone like any decision (the photo goes
back to its category folder and waits for review again).
"""

from __future__ import annotations

from pathlib import Path

from ..history import HistoryDB
from .decisions import RETAKE, Decision, _free_name, _insert, _move, waiting_item
from .reports import follows_review


@follows_review
def retake(db: HistoryDB, processed_dir: Path, retake_dir: Path, item_id: int, reviewer: str) -> Decision:
    """Move the photo to ``retake_dir`` and record the clerk's "unusable, take it again"."""
    reviewer, item = waiting_item(db, processed_dir, item_id, reviewer)
    retake_dir.mkdir(parents=True, exist_ok=True)
    dest = _free_name(db, retake_dir, item.path)
    decision_id, decided_at = _insert(db, item, "", RETAKE, reviewer, dest)  # no category: nobody can tell
    final, method = _move(db, decision_id, item.path, dest, item.content_hash)
    return Decision(decision_id, item.id, RETAKE, item.category, "", reviewer, decided_at,
                    str(item.path), str(final), method)


def in_retake(path: Path, retake_dir: Path) -> bool:
    """Directly in the retake folder, a real file (where a retake decision put it)."""
    try:
        in_folder = path.parent.resolve() == Path(retake_dir).resolve()
        return in_folder and path.is_file() and not path.is_symlink()
    except OSError:
        return False
