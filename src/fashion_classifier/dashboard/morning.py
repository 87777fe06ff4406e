"""The dashboard's first screen: what the clerk does this morning, in order.

1. the photos to review (corrections change the shelves, so they come first);
2. the pick lists of the last night with photos, after the clerks' decisions;
3. that night's spreadsheet, CSV and HTML report, and the earlier nights' reports.

A night without photos is shown as such beside the last night with photos, never
instead of it: "0 images, 100 % success" tells the clerk nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..batch.locations import load_locations, location_for
from ..config import Config
from ..history import HistoryDB
from ..labels import category_names, report_columns
from ..monitoring.queries import History, Run
from ..review.decisions import LABELS, RETAKE
from .downloads import Download, downloads

RECENT_RUNS = 15  # how far back the last night with photos is looked for, and the earlier runs listed


@dataclass(frozen=True)
class Night:
    run: Run
    downloads: list[Download]

    def as_json(self) -> dict:
        return {"run_id": self.run.run_id, "timestamp": self.run.timestamp.isoformat(),
                "total_images": self.run.total, "status": self.run.status,
                "downloads": {d.kind: {"url": d.url, "filename": d.filename} for d in self.downloads}}


@dataclass(frozen=True)
class PickLine:
    category: str
    location: str
    photos: int


@dataclass
class Morning:
    to_review: int
    last_photos: Night | None  # the last night with photos
    empty: Run | None  # the newest run, when it had no photos (shown beside last_photos)
    earlier: list[Night] = field(default_factory=list)  # every other recent run, newest first
    pick_lists: list[PickLine] = field(default_factory=list)
    retake: int = 0  # photos of last_photos' night set aside to be taken again

    def as_json(self) -> dict:
        return {"to_review": self.to_review,
                "last_night_with_photos": self.last_photos.as_json() if self.last_photos else None,
                "empty_night": None if self.empty is None else {
                    "run_id": self.empty.run_id, "timestamp": self.empty.timestamp.isoformat()},
                "pick_lists": [p.__dict__ for p in self.pick_lists], "retake": self.retake,
                "earlier_runs": [n.as_json() for n in self.earlier]}


def morning(config: Config, db: HistoryDB, to_review: int) -> Morning:
    runs = list(reversed(History(db).last_runs(RECENT_RUNS)))  # newest first
    latest = next((r for r in runs if r.total > 0), None)
    empty = runs[0] if runs and runs[0].total == 0 else None
    night = Night(latest, downloads(config, db, latest.run_id)) if latest else None
    earlier = [Night(r, downloads(config, db, r.run_id)) for r in runs if r is not latest]
    picks, retake = pick_lists(config, db, latest.run_id) if latest else ([], 0)
    return Morning(to_review, night, empty, earlier, picks, retake)


def pick_lists(config: Config, db: HistoryDB, run_id: str) -> tuple[list[PickLine], int]:
    """Items per shelf of one night: the clerk's category where one decided, else the model's;
    the photos marked unusable apart (they have no category until taken again)."""
    counts: dict[str, int] = {}
    retake = 0
    for row in db.execute(
            "SELECT f.category, d.action, d.new_category, COUNT(*) AS n FROM batch_files f"
            " LEFT JOIN review_decisions d ON d.batch_file_id = f.id AND d.state = 'done'"
            " AND d.undo_state IS NULL WHERE f.run_id = ? AND f.status = 'success' AND f.state = 'done'"
            " GROUP BY 1, 2, 3", (run_id,)):
        if row["action"] == RETAKE:
            retake += row["n"]
            continue
        category = row["new_category"] if row["action"] in LABELS else row["category"]
        counts[category] = counts.get(category, 0) + row["n"]
    locations = load_locations(config.path("locations_file"))
    order = report_columns(category_names(config), counts)  # the model's label order, then old names
    return [PickLine(c, location_for(locations, c), counts[c]) for c in order if counts.get(c)], retake
