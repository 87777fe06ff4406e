"""``monitoring/export_inventory.py``: a batch's results for the inventory system (spec 7.4.1).

``exports/inventory_import.csv``: one row per photo of the run, the spec's
columns first (``filename, category, confidence, return_id, category_code,
auto_classified``), then ``status``, ``review`` and ``reviewed_by``,
``model_category`` and ``file``. A clerk's review decision wins over the
model: the row carries the corrected category and is not "auto classified".
Read from the batch journal, so it needs no CSV and sees the latest decisions.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from contextlib import closing
from pathlib import Path

from ..batch.naming import display_path
from ..batch.outputs.atomic import atomic_path
from ..config import Config
from ..history import HistoryDB
from ..model import AUTO
from .common import add_location_args, history_missing, located

COLUMNS = ("filename", "category", "confidence", "return_id", "category_code", "auto_classified", "status",
           "review", "reviewed_by", "model_category", "file")
RETURN_ID = re.compile(r"return_(\d+_\d+)")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def load_codes(path: Path) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {k: str(v) for k, v in data.items() if not k.startswith("_")}


def return_id(filename: str) -> str:
    """``return_20251013_001.jpg`` -> ``20251013_001`` (the spec's pattern); else the file's stem."""
    match = RETURN_ID.search(filename)
    return match.group(1) if match else Path(filename).stem


def latest_run_id(db: HistoryDB) -> str | None:
    rows = db.execute("SELECT run_id FROM batch_runs WHERE run_id IS NOT NULL"
                      " ORDER BY timestamp DESC, id DESC LIMIT 1")
    return rows[0]["run_id"] if rows else None


def inventory_rows(db: HistoryDB, run_id: str, codes: dict[str, str], base: Path) -> list[dict]:
    rows = db.execute(
        "SELECT f.*, d.new_category, d.action, d.reviewer, d.new_path FROM batch_files f"
        " LEFT JOIN review_decisions d ON d.batch_file_id = f.id AND d.state = 'done'"
        " AND d.undo_state IS NULL"
        " WHERE f.run_id = ? ORDER BY f.seq", (run_id,))
    return [_row(r, codes, base) for r in rows]


def _row(r, codes: dict[str, str], base: Path) -> dict:
    success = r["status"] == "success"
    category = (r["new_category"] or r["category"] or "") if success else ""
    where = r["new_path"] or (r["dest_path"] if r["state"] == "done" else r["source_path"])
    return {"filename": r["rel_name"], "category": category,
            "confidence": f"{r['confidence']:.4f}" if success else "0.0000",
            "return_id": return_id(r["rel_name"]),
            "category_code": codes.get(category, ""),
            "auto_classified": str(success and r["tier"] == AUTO and not r["action"]),
            "status": r["status"] or "error", "review": r["action"] or "", "reviewed_by": r["reviewer"] or "",
            "model_category": r["category"] or "", "file": display_path(where, base) if where else ""}


def write(path: Path, rows: list[dict]) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            for row in rows:  # clerks' file names must not become spreadsheet formulas
                writer.writerow({k: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
                                 for k, v in row.items()})
    return path


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    config = config or Config.from_env()
    p = argparse.ArgumentParser(
        prog="export_inventory.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Export a batch run's results (with the clerks' corrections) as CSV for the "
                    "inventory system.",
        epilog="exit codes: 0 written, 2 no history database or no such run.\n"
               "Category codes: config/category_codes.json (FASHION_CATEGORY_CODES_FILE).")
    p.add_argument("--run", metavar="RUN_ID", help="batch run id, e.g. 20251013_020000 (default: the latest)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help=f"CSV to write (default: {config.exports_dir}/inventory_import.csv)")
    add_location_args(p)
    args = p.parse_args(argv)
    config = located(config, args)
    if history_missing(config, "export_inventory"):
        return 2
    base = args.output_root.resolve() if args.output_root else config.root
    with closing(HistoryDB(config.path("history_db"))) as db:
        run_id = args.run or latest_run_id(db)
        codes = load_codes(config.path("category_codes_file"))
        rows = inventory_rows(db, run_id, codes, base) if run_id else []
    if not rows:
        print(f"export_inventory: no results for run {run_id or '(none recorded)'}", file=sys.stderr)
        return 2
    path = write(args.output or config.path("exports_dir") / "inventory_import.csv", rows)
    unknown = sorted({r["category"] for r in rows if r["category"] and not r["category_code"]})
    print(f"run {run_id}: {len(rows)} rows -> {path}")
    if unknown:
        print(f"export_inventory: no category code for {', '.join(unknown)}", file=sys.stderr)
    return 0
