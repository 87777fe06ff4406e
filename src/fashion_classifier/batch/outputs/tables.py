"""``batch_results_<run>.csv`` (Excel-friendly UTF-8 with BOM) and ``.xlsx`` (a sheet per tier)."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill

from ...model import AUTO, CHECK, REVIEW, TIER_TITLES
from .atomic import atomic_path
from .results import CSV_COLUMNS, ResultRow, RunResults

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = {"filename", "category", "top2_category", "destination", "error"}
REVIEW_FILL = PatternFill("solid", fgColor="FFE699")  # amber: a person must look at it
ERROR_FILL = PatternFill("solid", fgColor="F4B6B6")
HEADER_FONT = Font(bold=True)
WIDTHS = {"filename": 34, "category": 14, "confidence": 11, "status": 10, "timestamp": 20, "tier": 14,
          "top2_category": 14, "destination": 48, "content_hash": 20, "error": 40}


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


def write_xlsx(path: Path, results: RunResults) -> Path:
    """All results (review rows amber, errors red), then one sheet per tier and one of failures."""
    workbook = Workbook(write_only=True)
    _sheet(workbook, "All results", results.rows, highlight=True)
    for tier in (AUTO, CHECK, REVIEW):
        _sheet(workbook, TIER_TITLES[tier], results.in_tier(tier), highlight=False)
    _sheet(workbook, "failed", results.failures, highlight=False)
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return path


def _sheet(workbook: Workbook, title: str, rows: list[ResultRow], highlight: bool) -> None:
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(CSV_COLUMNS):
        sheet.column_dimensions[chr(ord("A") + index)].width = WIDTHS[column]
    sheet.auto_filter.ref = f"A1:{chr(ord('A') + len(CSV_COLUMNS) - 1)}{len(rows) + 1}"
    header = []
    for column in CSV_COLUMNS:
        cell = WriteOnlyCell(sheet, value=column)
        cell.font = HEADER_FONT
        header.append(cell)
    sheet.append(header)
    for row in rows:
        fill = _fill(row) if highlight else None
        sheet.append([_cell(sheet, value, fill) for value in _xlsx_values(row)])


def _fill(row: ResultRow) -> PatternFill | None:
    if row.status != "success":
        return ERROR_FILL
    return REVIEW_FILL if row.tier == REVIEW else None


def _xlsx_values(row: ResultRow) -> list:
    return [row.filename, row.category, round(row.confidence, 4), row.status, row.timestamp,
            row.tier_title, row.top2_category, row.destination, row.content_hash, row.error]


def _cell(sheet, value, fill: PatternFill | None):
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if fill is None and not (isinstance(value, str) and value.startswith("=")):
        return value  # plain values are much cheaper than styled cells
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # a text, even if it starts with "="
    if fill is not None:
        cell.fill = fill
    return cell
