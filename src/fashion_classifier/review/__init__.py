"""The clerk's review queue: photos the model was unsure of, confirmed or corrected by a person.

Items come from the batch journal (``batch_files``): classified photos in the
quick-check or manual-review tier that sit in ``processed_batches/<Category>/``
and have no decision yet. A decision is stored in ``review_decisions`` (who,
when, old and new category) *before* a corrected photo moves to its new
folder, with the batch's own no-overwrite move, so a crash at any point is
finished by ``resolve_planned``. ``undo_decision`` takes a decision back (the
photo returns to its old folder, same protocol; the row stays, marked undone).
``retake`` sets aside a photo nobody can judge (it moves to ``data/retake/``:
take it again); ``recent_decisions`` lists a clerk's own undoable decisions.
``export_corrections`` writes the human labels
as a training split (``id,path,label,sha256,group``).
"""

from .decisions import (
    AlreadyDecided,
    Decision,
    InvalidCategory,
    MoveFailed,
    NotInQueue,
    ReviewDB,
    ReviewError,
    decide,
    resolve_planned,
)
from .export import ExportResult, export_corrections
from .queue import REVIEW_TIERS, ReviewItem, get_item, pending_items, queue_counts
from .recent import recent_decisions
from .retake import retake
from .undo import CannotUndo, DecisionNotFound, Undo, undo_decision

__all__ = ["AlreadyDecided", "CannotUndo", "Decision", "DecisionNotFound", "ExportResult", "InvalidCategory",
           "MoveFailed", "NotInQueue", "REVIEW_TIERS", "ReviewDB", "ReviewError", "ReviewItem", "Undo",
           "decide", "export_corrections", "get_item", "pending_items", "queue_counts", "recent_decisions",
           "resolve_planned", "retake", "undo_decision"]
