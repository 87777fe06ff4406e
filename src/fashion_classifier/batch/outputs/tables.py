"""``batch_results_<run>.csv`` (Excel-friendly UTF-8 with BOM) and ``.xlsx`` (a sheet per tier).

Review rows are amber in the spreadsheet (a person must look at them), failures red.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...model import AUTO, CHECK, REVIEW, TIER_TITLES
from .atomic import atomic_path
from .results import CSV_COLUMNS, ResultRow, RunResults
from .xlsx_writer import AMBER, HEADER, PLAIN, RED, Sheet, save

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = {"filename", "category", "top2_category", "destination", "error", "model_version"}
WIDTHS = {"filename": 34, "category": 14, "confidence": 11, "status": 10, "timestamp": 20, "tier": 14,
          "top2_category": 14, "destination": 48, "content_hash": 20, "error": 40, "model_version": 28}


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
    sheet = Sheet(title, [WIDTHS[c] for c in CSV_COLUMNS])
    sheet.append(list(CSV_COLUMNS), HEADER)
    for row in rows:
        style = _style(row) if highlight else PLAIN
        sheet.append([row.filename, row.category, round(row.confidence, 4), row.status, row.timestamp,
                      row.tier_title, row.top2_category, row.destination, row.content_hash, row.error,
                      row.model_version], style)
    return sheet


def _style(row: ResultRow) -> int:
    if row.status != "success":
        return RED
    return AMBER if row.tier == REVIEW else PLAIN
