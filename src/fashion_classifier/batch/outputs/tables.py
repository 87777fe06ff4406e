"""``batch_results_<run>.csv`` (for programs: the spec's columns, UTF-8 with BOM) and ``.xlsx``
(for people: a sheet per tier, plain headers, percentages, dates, printable).

Review rows are amber in the spreadsheet (a person must look at them), failures red.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from ...model import AUTO, CHECK, REVIEW, TIER_TITLES
from .atomic import atomic_path
from .results import CSV_COLUMNS, ResultRow, RunResults
from .xlsx_writer import AMBER, DATETIME, GENERAL, HEADER, PERCENT, PLAIN, RED, Sheet, save

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = {"filename", "category", "top2_category", "destination", "error", "model_version",
                "model_category", "corrected_category", "reviewed_by", "review", "folder", "error_detail"}
RESULT_WORDS = {"success": "classified", "error": "failed", "duplicate": "duplicate"}
# the spreadsheet's columns: header, width, number format, value (blank where it does not apply);
# the model version stays last (scripts read it from there)
XLSX_COLUMNS = (
    ("Photo", 34, GENERAL, lambda r: r.filename),
    ("Category", 14, GENERAL, lambda r: r.category),
    ("Confidence", 11, PERCENT, lambda r: round(r.confidence, 4) if r.status == "success" else None),
    ("Second guess", 14, GENERAL, lambda r: r.top2_category),
    ("Tier", 14, GENERAL, lambda r: r.tier_title),
    ("Shelf", 14, GENERAL, lambda r: r.shelf),
    ("Result", 11, GENERAL, lambda r: RESULT_WORDS.get(r.status, r.status)),
    ("Problem and what to do", 60, GENERAL, lambda r: r.error),
    ("Model said", 14, GENERAL, lambda r: r.model_category),
    ("Corrected to", 14, GENERAL, lambda r: r.corrected_category),
    ("Reviewed by", 16, GENERAL, lambda r: r.reviewer),
    ("Review", 22, GENERAL, lambda r: r.review_words),
    ("Reviewed at", 19, DATETIME, lambda r: _when(r.reviewed_at)),
    ("Finished at", 19, DATETIME, lambda r: _when(r.timestamp)),
    ("File", 48, GENERAL, lambda r: r.destination),
    ("Fingerprint (SHA-256)", 20, GENERAL, lambda r: r.content_hash),
    ("Model version", 28, GENERAL, lambda r: r.model_version),
)


def spreadsheet_safe(value: str) -> str:
    """A clerk's file name like ``=cmd|...`` or ``-rf.jpg`` must not become a formula in Excel."""
    return "'" + value if value.startswith(FORMULA_START) else value


def write_csv(path: Path, results: RunResults) -> Path:
    text_index = [i for i, c in enumerate(CSV_COLUMNS) if c in TEXT_COLUMNS]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(CSV_COLUMNS)
            for row in results.rows:
                values = row.csv_values()
                for i in text_index:
                    values[i] = spreadsheet_safe(values[i])
                writer.writerow(values)
    return path


OTHER_SHEET = "Other (not ours)"


def write_xlsx(path: Path, results: RunResults) -> Path:
    """All results (review rows amber, failures red), one sheet per tier, and one of failures."""
    sheets = [_sheet("All results", results.rows, highlight=True)]
    for tier in (AUTO, CHECK, REVIEW):
        sheets.append(_sheet(TIER_TITLES[tier], results.in_tier(tier), highlight=False))
    sheets.append(_sheet(OTHER_SHEET, results.others, highlight=False))
    sheets.append(_sheet("failed", results.failures, highlight=False))
    with atomic_path(path) as tmp:
        save(tmp, sheets)
    return path


def _sheet(title: str, rows: list[ResultRow], highlight: bool) -> Sheet:
    sheet = Sheet(title, [c[1] for c in XLSX_COLUMNS], [c[2] for c in XLSX_COLUMNS])
    sheet.append([c[0] for c in XLSX_COLUMNS], HEADER)
    for row in rows:  # inline strings: Excel never reads them as formulas, no guard needed
        sheet.append([c[3](row) for c in XLSX_COLUMNS], _style(row) if highlight else PLAIN)
    return sheet


def _when(text: str) -> datetime | None:
    """An ISO time (the journal's, local) as a datetime for the spreadsheet; None if blank or odd."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None) if text else None
    except ValueError:
        return None


def _style(row: ResultRow) -> int:
    if row.status != "success":
        return RED
    return AMBER if row.tier == REVIEW else PLAIN
