"""Replay recent nights with a candidate: which past decisions it would change, and whether
those changes agree with what the clerks decided in the review queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..history import HistoryDB
from ..imaging import ImageError
from ..review.queue import CURRENT_PATH

_PHOTOS = f"""
    SELECT f.id, f.run_id, f.category, {CURRENT_PATH} AS current_path,
           (SELECT d.new_category FROM review_decisions d WHERE d.batch_file_id = f.id AND d.state = 'done'
            AND d.undo_state IS NOT 'done' AND d.action != 'retake') AS clerk  -- a retake has no label
    FROM batch_files f
    WHERE f.status = 'success' AND f.state = 'done'
      AND f.run_id IN (SELECT DISTINCT run_id FROM batch_files ORDER BY run_id DESC LIMIT ?)
    ORDER BY f.id
"""


@dataclass
class Replay:
    runs: int = 0
    photos: int = 0
    missing: int = 0  # gone from disk (retention) or unreadable
    changed: int = 0
    reviewed: int = 0  # photos with a clerk's standing decision
    changed_reviewed: int = 0
    changes_agreeing: int = 0  # changed to what the clerk decided
    candidate_agrees_with_clerks: int = 0
    examples: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "examples"} | {"examples": self.examples[:10]}

    def report(self) -> str:
        if not self.photos:
            return "  replay: no classified photos of recent nights to replay"
        return (
            f"  replay of the last {self.runs} nights: {self.photos} photos ({self.missing} gone), the "
            f"candidate would change {self.changed}; {self.changed_reviewed} of those were reviewed and "
            f"{self.changes_agreeing} agree with the clerk; on all {self.reviewed} reviewed photos it "
            f"agrees with the clerks {self.candidate_agrees_with_clerks} times"
        )


def replay(db: HistoryDB, predictor, runs: int = 7) -> Replay:
    rows = [dict(r) for r in db.execute(_PHOTOS, (runs,))]
    result = Replay(runs=len({r["run_id"] for r in rows}), photos=len(rows))
    for row in rows:
        try:
            answer = predictor.predict_bytes(Path(row["current_path"]).read_bytes()).category
        except (OSError, ImageError, TypeError):
            result.missing += 1
            continue
        changed = answer != row["category"]
        result.changed += changed
        if row["clerk"]:
            result.reviewed += 1
            result.candidate_agrees_with_clerks += answer == row["clerk"]
            result.changed_reviewed += changed
            result.changes_agreeing += changed and answer == row["clerk"]
        if changed:
            result.examples.append(
                {
                    "photo": Path(row["current_path"]).name,
                    "was": row["category"],
                    "candidate": answer,
                    "clerk": row["clerk"],
                }
            )
    return result
