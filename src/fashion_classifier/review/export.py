"""Human labels as training data: ``corrections.csv`` (the splits' layout) and the photos beside it.

``<dir>/corrections.csv`` has the columns of ``data/splits/*.csv``
(``id,path,label,sha256,group``) with paths relative to ``<dir>``, so the
training tools read it like a split::

    records = read_split(Path("data/corrections"), "corrections")
    x, y = load_arrays(records, Path("data/corrections"), size)

Photos are copied to ``<dir>/images/<sha256 prefix><ext>`` (they outlive the
30-day retention of ``processed_batches``). A photo reviewed twice (the same
content in two runs) appears once, with its latest label. An undone decision
(even one whose undo is still in progress) is not exported, nor a photo marked
unusable ("retake": it has no label).
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..batch.outputs.atomic import atomic_path
from ..history import HistoryDB
from .decisions import LABELS

COLUMNS = ("id", "path", "label", "sha256", "group")
ID_LENGTH = 16


@dataclass
class ExportResult:
    csv_path: Path
    rows: int = 0
    corrected: int = 0
    confirmed: int = 0
    missing: list[str] = field(default_factory=list)  # decided, but the photo is gone


def export_corrections(db: HistoryDB, out_dir: Path, corrected_only: bool = False) -> ExportResult:
    # not undone, and a label (a retake says "nobody can tell from this photo": no label to learn)
    sql = ("SELECT * FROM review_decisions WHERE state = 'done' AND undo_state IS NULL"
           f" AND action IN ({', '.join(repr(a) for a in LABELS)})")
    if corrected_only:
        sql += " AND action = 'corrected'"
    latest: dict[str, dict] = {}
    for row in db.execute(sql + " ORDER BY decided_at, id"):
        key = row["content_hash"] or f"decision-{row['id']}"
        latest[key] = dict(row)
    out_dir = Path(out_dir)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    result = ExportResult(out_dir / "corrections.csv")
    records = []
    for key, row in latest.items():
        record = _copy(row, key, images)
        if record is None:
            result.missing.append(row["filename"])
            continue
        records.append(record)
        result.corrected += row["action"] == "corrected"
        result.confirmed += row["action"] == "confirmed"
    _write(result.csv_path, records)
    _remove_orphans(images, {Path(r["path"]).name for r in records})
    result.rows = len(records)
    return result


def _copy(row: dict, key: str, images: Path) -> dict | None:
    source = Path(row["new_path"])
    name = key[:ID_LENGTH] + (source.suffix.lower() or ".jpg")
    target = images / name
    if not target.exists():
        if not source.is_file():
            return None
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return {"id": key[:ID_LENGTH], "path": f"images/{name}", "label": row["new_category"],
            "sha256": row["content_hash"] or "", "group": key[:ID_LENGTH]}


def _write(path: Path, records: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(records)


def _remove_orphans(images: Path, keep: set[str]) -> None:
    """Copies of photos no longer exported (e.g. --corrected-only after a full export)."""
    for entry in os.scandir(images):
        if entry.is_file() and entry.name not in keep and not entry.name.startswith("."):
            os.unlink(entry.path)
