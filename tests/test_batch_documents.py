"""Text, CSV and PDF documents in data/incoming/ are left in place and listed as skipped, not
failed (batch/documents.py); name and content must agree, so a misnamed photo is still classified
and a .jpg that is no image still fails."""

from __future__ import annotations

import json
import os

import pytest
from batch_support import FAILED, PROCESSED, copy_photos, csv_rows, dataset_photos, run_batch, write_file

from fashion_classifier.batch.documents import document_kind, looks_like_text
from fashion_classifier.batch.scanning import scan_incoming

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(range(256)) * 8
UTF16 = "Artikel;Menge\nHemd;2\nStraße;1\n".encode("utf-16")  # Excel's "Unicode text", with BOM


@pytest.mark.parametrize("name,data,kind", [
    ("notes.txt", b"returned by customer 1234, box damaged\n", "text"),
    ("NOTES.TXT", "Größe M, Farbe blau\r\n".encode("cp1252"), "text"),
    ("empty.txt", b"", "text"),
    ("list.csv", b"order,sku,qty\n1234,TS-01,2\n", "CSV"),
    ("excel.csv", UTF16, "CSV"),
    ("invoice.pdf", PDF, "PDF"),
])
def test_documents_by_name_and_content(tmp_path, name, data, kind):
    path = tmp_path / name
    path.write_bytes(data)
    assert document_kind(path) == kind


@pytest.mark.parametrize("name", ["photo.pdf", "photo.txt", "photo.csv", "photo.jpg", "notes"])
def test_a_photo_under_a_document_name_is_not_a_document(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(dataset_photos(1)[0].read_bytes())
    assert document_kind(path) is None


def test_text_under_other_names_and_binary_under_text_names(tmp_path):
    (tmp_path / "note.jpg").write_bytes(b"this is a delivery note\n")
    (tmp_path / "fake.pdf").write_bytes(b"just text, no PDF header")
    (tmp_path / "data.csv").write_bytes(b"a,b\n\x00\x01\x02binary")
    assert [document_kind(tmp_path / n) for n in ("note.jpg", "fake.pdf", "data.csv")] == [None, None, None]
    assert looks_like_text(b"tab\tand\r\nnewlines\x0c") and not looks_like_text(b"\x89PNG\r\n\x1a\n\x00")


def test_a_fifo_named_txt_is_never_opened_for_reading(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    assert document_kind(tmp_path / "pipe.txt") is None  # returns at once: no writer needed


def test_scan_skips_documents_with_a_reason(tmp_path):
    write_file(tmp_path, "notes.txt", b"box 7 of 9\n")
    write_file(tmp_path, "20261124/invoice.pdf", PDF)
    write_file(tmp_path, "not_an_image.jpg", b"text under a photo's name\n")
    copy_photos(tmp_path, 1)
    scan = scan_incoming(tmp_path, min_age_seconds=0)
    assert {s.rel_name: s.reason for s in scan.skipped} == {
        "20261124/invoice.pdf": "a PDF document, not a photo; left in place",
        "notes.txt": "a text document, not a photo; left in place"}
    assert sorted(c.rel_name for c in scan.candidates) == sorted(
        ["not_an_image.jpg", dataset_photos(1)[0].name])


def test_nightly_run_leaves_documents_and_fails_only_the_fake_photo(tmp_path):
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    photos = copy_photos(incoming, 3)
    documents = write_file(incoming, "packing_list.csv", b"sku,qty\nTS-01,2\n")
    documents |= write_file(incoming, "notes.txt", b"customer says: wrong size\n")
    documents |= write_file(incoming, "20261124/return_label.pdf", PDF)
    write_file(incoming, "not_an_image.jpg", b"this is a delivery note, not a photo\n" * 20)
    done = run_batch(incoming, out, "--local", "--no-alerts")
    assert done.returncode == 0, done.stdout + done.stderr
    for rel in documents:
        assert (incoming / rel).is_file(), f"{rel} was moved"
    rows = {r["filename"]: r for r in csv_rows(out)}
    assert set(rows) == set(photos) | {"not_an_image.jpg"}, "documents have no result row"
    fake = rows["not_an_image.jpg"]
    assert fake["status"] == "error" and "not an image in a supported format" in fake["error_detail"]
    assert (out / FAILED / "not_an_image.jpg").is_file()
    assert all((out / rows[p]["destination"]).parent.parent == out / PROCESSED for p in photos)
    summary = json.loads(next((out / "results" / "batch_results").glob("summary_*.json")).read_text())
    assert (summary["total_processed"], summary["failed"]) == (4, 1), "documents count in no rate"
    assert sorted(s["filename"] for s in summary["skipped"]) == sorted(documents)
    log = next((out / "logs").glob("batch_*.log")).read_text()
    assert "Skipped 3 files, left where they are:" in log
    assert "  - 20261124/return_label.pdf: a PDF document, not a photo; left in place" in log
