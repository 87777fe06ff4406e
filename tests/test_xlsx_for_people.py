"""The spreadsheet is for people (read back with openpyxl): plain headers, confidence as a
percentage, times as real date-times, blanks where a value does not apply, the header frozen and
filterable, printed landscape one page wide with the header on every page, on every sheet. The
CSV stays for programs: the spec's columns first, UTF-8 with BOM."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
from openpyxl import load_workbook
from report_rows import night

from fashion_classifier.batch.outputs.tables import write_csv, write_xlsx

SPEC_COLUMNS = ["filename", "category", "confidence", "status", "timestamp", "tier", "top2_category",
                "destination", "content_hash", "error", "model_version"]


@pytest.fixture
def book(tmp_path):
    results = night(tmp_path)
    path = write_xlsx(tmp_path / "night.xlsx", results)
    return load_workbook(path), results


def by_header(sheet) -> list[dict]:
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]


def test_every_sheet_is_frozen_filtered_and_prints_one_page_wide(book):
    workbook, _ = book
    assert len(workbook.sheetnames) == 6
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet.auto_filter.ref == f"A1:Q{max(sheet.max_row, 1)}", sheet.title
        assert sheet.page_setup.orientation == "landscape"
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert sheet.print_title_rows == "$1:$1", sheet.title


def test_plain_headers_percentages_dates_and_blanks(book):
    workbook, _ = book
    sheet = workbook["All results"]
    header = [c.value for c in sheet[1]]
    assert header[:8] == ["Photo", "Category", "Confidence", "Second guess", "Tier", "Shelf", "Result",
                          "Problem and what to do"]
    assert not any("_" in h for h in header), "no programmer's names like top2_category"
    assert header[-1] == "Model version"
    rows = {r["Photo"].value: r for r in by_header(sheet)}
    photo = rows["IMG_3.jpg"]
    assert photo["Confidence"].value == pytest.approx(0.80) and photo["Confidence"].number_format == "0.0%"
    assert photo["Finished at"].value == datetime(2026, 12, 1, 2, 0, 7)
    assert photo["Finished at"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert photo["Result"].value == "classified" and photo["Shelf"].value == "Watches"
    failure = rows["broken.jpg"]
    assert failure["Confidence"].value is None and failure["Tier"].value is None, "blank, not 0.0"
    assert failure["Result"].value == "failed" and failure["Problem and what to do"].value.startswith(
        "The photo file is cut off") and "Send it again" in failure["Problem and what to do"].value
    reviewed = rows["IMG_8.jpg"]
    assert (reviewed["Category"].value, reviewed["Model said"].value, reviewed["Corrected to"].value) == \
        ("Tshirts", "Tops", "Tshirts")
    assert reviewed["Reviewed by"].value == "Sarah" and reviewed["Shelf"].value == "Tshirts"
    assert reviewed["Reviewed at"].value == datetime(2026, 12, 1, 8, 15)
    assert rows["IMG_3.jpg"]["Reviewed at"].value is None


def test_the_csv_keeps_the_spec_columns_first_and_its_bom(tmp_path):
    results = night(tmp_path)
    path = write_csv(tmp_path / "night.csv", results)
    assert path.read_bytes().startswith(b"\xef\xbb\xbffilename,")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = {r["filename"]: r for r in reader}
        assert reader.fieldnames[:len(SPEC_COLUMNS)] == SPEC_COLUMNS
    photo = rows["IMG_3.jpg"]
    assert (photo["confidence"], photo["timestamp"]) == ("0.8000", "2026-12-01T02:00:07")
    empty = rows["empty.jpg"]
    assert empty["error"].startswith("The file is empty") and empty["error_detail"] == "the file is empty"
    assert empty["error_code"] == "empty_file"
    assert (rows["IMG_8.jpg"]["category"], rows["IMG_8.jpg"]["model_category"]) == ("Tshirts", "Tops")
    assert rows["IMG_8.jpg"]["destination"] == "data/processed_batches/Tshirts/IMG_8.jpg"
