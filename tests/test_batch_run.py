"""The nightly batch end to end (in-process classifier): outputs checked for content."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from batch_support import (
    FAILED,
    PROCESSED,
    RESULTS,
    bad_inputs,
    check_exactly_once,
    clean_env,
    copy_photos,
    csv_rows,
    db_rows,
    png_bytes,
    remaining_inputs,
    run_batch,
    sha256,
    write_file,
)
from openpyxl import load_workbook
from PIL import Image

HOSTILE = ["-rf.jpg", "ünïcødé 写真.jpg", "name with  spaces.jpg", "a..b.jpg", "=HYPERLINK(1).jpg",
           "<script>alert(1)</script>.jpg", "line\nbreak.jpg", "x" * 230 + ".jpg"]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """One run over 20 photos (4 in a dated subfolder), hostile names, bad files, a duplicate."""
    base = tmp_path_factory.mktemp("nightly")
    incoming, out = base / "incoming", base / "out"
    inputs = copy_photos(incoming, 16) | copy_photos(incoming, 4, offset=40, subfolder="20261124")
    photos = [p for p in sorted(incoming.glob("*.jpg"))]
    for i, name in enumerate(HOSTILE):  # hostile names on real photos (new content each)
        image = Image.open(photos[i]).convert("RGB").rotate(90 * (i % 3 + 1), expand=True)
        inputs |= write_file(incoming, name, png_bytes(image))
    inputs |= bad_inputs(incoming)
    inputs |= write_file(incoming, "huge.jpg", os.urandom(11 * 1024 * 1024))  # over the 10 MB upload limit
    bomb = Image.new("1", (20000, 20000))  # 400 MP in a few kB: a decompression bomb
    inputs |= write_file(incoming, "bomb.png", png_bytes(bomb))
    duplicate = photos[0].read_bytes()
    inputs |= write_file(incoming, "20261124/same_photo_again.jpg", duplicate)
    # to be skipped: hidden and partial downloads (the minimum age has its own test)
    (incoming / ".DS_Store").write_bytes(b"x")
    (incoming / "upload.jpg.part").write_bytes(duplicate)
    result = run_batch(incoming, out, "--local")
    return {"incoming": incoming, "out": out, "inputs": inputs, "result": result}


def test_every_file_ends_exactly_once_with_the_right_row(nightly):
    result = nightly["result"]
    assert result.returncode == 0, result.stderr
    # the temporary and hidden ones are skipped, left where they are; everything else is placed
    for skipped in (".DS_Store", "upload.jpg.part"):
        (nightly["incoming"] / skipped).unlink()
    rows = check_exactly_once(nightly["inputs"], nightly["incoming"], nightly["out"])
    by_name = {r["filename"]: r for r in rows}
    # the error column is the clerk's sentence; error_detail keeps the technical reason
    truncated = by_name["truncated.jpg"]
    assert truncated["status"] == "error" and "truncated" in truncated["error_detail"]
    assert truncated["error"].startswith("The photo file is cut off")
    assert "Send it again" in truncated["error"]
    assert by_name["not_an_image.jpg"]["status"] == "error"
    assert "not an image" in by_name["not_an_image.jpg"]["error_detail"]
    assert by_name["empty.jpg"]["error_detail"] == "the file is empty"
    # 11 MB of noise: refused for what it is (no photo), never for its size
    assert by_name["huge.jpg"]["error_code"] == "unsupported_format"
    assert "too many pixels" in by_name["bomb.png"]["error_detail"]
    duplicate = by_name["20261124/same_photo_again.jpg"]
    first = min((r for r in rows if r["content_hash"] == duplicate["content_hash"]),
                key=lambda r: r["status"] != "success")
    assert duplicate["status"] == "duplicate" and first["status"] == "success"
    assert first["filename"] in duplicate["error"]
    # the dated subfolder was emptied and removed
    assert not (nightly["incoming"] / "20261124").exists()


def test_hostile_names_stay_inside_their_folders(nightly):
    out = nightly["out"]
    rows = {r["filename"]: r for r in csv_rows(out)}
    for name in HOSTILE:
        row = rows[name]
        dest = (out / row["destination"]).resolve()
        assert dest.parent.parent in ((out / PROCESSED).resolve(), out.resolve() / "data")
        assert dest.parent.parent == (out / PROCESSED).resolve() or dest.parent == (out / FAILED).resolve()
        assert not dest.name.startswith(("-", ".")) and "\n" not in dest.name and "/" not in dest.name
    assert rows["ünïcødé 写真.jpg"]["destination"].endswith("ünïcødé 写真.jpg")
    assert len(Path(rows["x" * 230 + ".jpg"]["destination"]).name.encode()) <= 200


def test_csv_opens_cleanly_in_excel(nightly):
    path = next((nightly["out"] / RESULTS).glob("batch_results_*.csv"))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM so Excel reads the accents"
    header = raw[3:].split(b"\r\n", 1)[0].decode()
    # the spec's columns first and unchanged; what the review adds is appended
    assert header == ("filename,category,confidence,status,timestamp,tier,top2_category,destination,"
                      "content_hash,error,model_version,model_category,corrected_category,reviewed_by,"
                      "review,reviewed_at,folder,error_code,error_detail")
    rows = csv_rows(nightly["out"], raw=True)
    formula = next(r for r in rows if "HYPERLINK" in r["filename"])
    assert formula["filename"] == "'=HYPERLINK(1).jpg", "a name must never become a formula"
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["timestamp"]), row
        assert re.fullmatch(r"\d\.\d{4}", row["confidence"])
        assert re.fullmatch(r"[0-9a-f]{64}", row["content_hash"])
        if row["status"] == "success":
            assert row["top2_category"] and row["top2_category"] != row["category"]
            tier = {"auto-approve": 0.85, "quick check": 0.70, "manual review": 0.0}[row["tier"]]
            assert float(row["confidence"]) >= tier - 1e-4


def test_xlsx_has_a_sheet_per_tier_and_highlights_review_rows(nightly):
    path = next((nightly["out"] / RESULTS).glob("batch_results_*.xlsx"))
    book = load_workbook(path)
    assert book.sheetnames == ["All results", "auto-approve", "quick check", "manual review",
                               "Other (not ours)", "failed"]
    rows = csv_rows(nightly["out"])
    sheet = book["All results"]
    assert sheet.max_row == len(rows) + 1
    header = [c.value for c in sheet[1]]
    for excel_row in sheet.iter_rows(min_row=2):
        values = dict(zip(header, (c.value for c in excel_row), strict=True))
        fill = excel_row[0].fill.fgColor.rgb
        if values["Result"] != "classified":
            assert fill.endswith("F4B6B6")
        elif values["Tier"] == "manual review":
            assert fill.endswith("FFE699")
        else:
            assert excel_row[0].fill.fill_type is None
    formula_cell = next(c for c in sheet["A"] if c.value and "HYPERLINK" in str(c.value))
    assert formula_cell.data_type == "s"
    for title in ("auto-approve", "quick check", "manual review"):
        expected = sorted(r["filename"] for r in rows if r["tier"] == title)
        assert sorted(c.value for c in book[title]["A"][1:]) == expected
    assert book["failed"].max_row - 1 == sum(r["status"] != "success" for r in rows)


def test_summary_json_has_the_spec_keys_and_right_numbers(nightly):
    out = nightly["out"]
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    rows = csv_rows(out)
    ok = [r for r in rows if r["status"] == "success"]
    for key in ("timestamp", "total_processed", "successful", "failed", "success_rate",
                "processing_time_seconds", "categories", "confidence_distribution", "errors"):
        assert key in summary
    assert re.fullmatch(r"\d{8}_\d{6}", summary["timestamp"])
    assert summary["total_processed"] == len(rows)
    assert summary["successful"] == len(ok)
    assert summary["failed"] == len(rows) - len(ok)
    assert summary["success_rate"] == round(100 * len(ok) / len(rows), 2)
    assert sum(summary["categories"].values()) == len(ok)
    assert list(summary["categories"].values()) == sorted(summary["categories"].values(), reverse=True)
    dist = summary["confidence_distribution"]
    assert set(dist) == {"high_confidence_>85%", "medium_confidence_70-85%", "low_confidence_<70%"}
    assert dist["low_confidence_<70%"] == sum(r["tier"] == "manual review" for r in ok)
    assert sum(dist.values()) == len(ok)
    failed = {r["filename"] for r in rows if r["status"] != "success"}
    assert {e["filename"] for e in summary["errors"]} == failed
    assert summary["duplicates"] == 1
    assert summary["throughput"]["images_per_second"] > 0
    assert summary["classifier_path"] == "local"
    skipped = {s["filename"] for s in summary["skipped"]}
    assert {".DS_Store", "upload.jpg.part"} <= skipped


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_self_contained_and_complete(nightly):
    out = nightly["out"]
    html = next((out / RESULTS).glob("batch_report_*.html")).read_text(encoding="utf-8")
    parsed = _Collector()
    parsed.feed(html)
    text = " ".join(parsed.text)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "script" not in parsed.tags, "no scripts at all"
    assert not re.search(r"""src=["']?(https?:)?//""", html), "nothing is fetched from the network"
    # the one link: the dashboard's review queue (a link the clerk follows, not a fetch)
    assert re.findall(r"""href=["']?((?:https?:)?//[^"' >]+)""", html) == ["http://127.0.0.1:8050/review"]
    assert "default-src 'none'" in html
    assert parsed.tags.count("svg") == 2, "category bars and confidence histogram"
    rows = csv_rows(out)
    look = [r for r in rows if r["tier"] in ("manual review", "quick check")]
    assert f"Photos that need a look ({len(look)})" in text
    drawable_failures = [r for r in rows if r["status"] != "success" and r["filename"] in (
        "truncated.jpg", "20261124/same_photo_again.jpg")]  # a damaged photo's start and a duplicate
    assert len(parsed.images) == len(look) + len(drawable_failures)
    assert all(src.startswith("data:image/") for src in parsed.images)
    for row in rows:
        if row["status"] != "success":
            assert row["filename"].replace("\n", " ")[:20] in text.replace("\n", " ")
    locations = json.loads((Path(__file__).resolve().parents[1] / "config" / "locations.json").read_text())
    for category in {r["category"] for r in rows if r["status"] == "success"}:
        assert f"{category} → {locations[category]}" in text, category


def test_log_has_per_file_lines_and_a_summary(nightly):
    out = nightly["out"]
    log = next((out / "logs").glob("batch_*.log")).read_text(encoding="utf-8")
    rows = csv_rows(out)
    assert "BATCH PROCESSING STARTED" in log and "BATCH PROCESSING COMPLETE" in log
    assert log.count("Processing [") == len(rows)
    assert f"Total processed: {len(rows)}" in log
    assert f"Successful: {sum(r['status'] == 'success' for r in rows)}" in log
    for row in rows:
        if row["status"] == "success":
            assert f"Moved to: {row['destination']}" in log
    assert "line\\nbreak.jpg" in log, "control characters in names are escaped in the log"
    for line in log.splitlines():
        assert line == "" or re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ", line), line


def test_history_database_records_the_run(nightly):
    out = nightly["out"]
    rows = csv_rows(out)
    runs = db_rows(out, "SELECT * FROM batch_runs")
    assert len(runs) == 1
    run = runs[0]
    ok = sum(r["status"] == "success" for r in rows)
    assert (run["total_images"], run["successful"], run["failed"]) == (len(rows), ok, len(rows) - ok)
    assert run["status"] in ("success", "partial") and run["classifier_path"] == "local"
    assert run["duration_seconds"] > 0
    assert db_rows(out, "PRAGMA user_version")[0]["user_version"] >= 4
    alerts = db_rows(out, "SELECT * FROM alerts")
    assert [a["subject"] for a in alerts if a["severity"] == "INFO"] == ["Batch Processing Complete"]
    assert json.loads(alerts[-1]["delivery"])["slack"]["status"] == "not configured"


def test_dry_run_moves_writes_and_records_nothing(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 5) | bad_inputs(incoming)
    result = run_batch(incoming, out, "--local", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "DRY RUN: 8 files" in result.stdout
    for name in inputs:
        assert f"  {name}: " in result.stdout
    assert "-> data/processed_batches/" in result.stdout and "-> data/failed/truncated.jpg" in result.stdout
    assert sorted(p.name for p in remaining_inputs(incoming)) == sorted(inputs)
    assert not out.exists()


def test_limit_and_minimum_age(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 6)
    old = time.time() - 3600
    for path in list(incoming.iterdir())[:4]:
        os.utime(path, (old, old))
    result = run_batch(incoming, out, "--local", "--min-age", "600", "--limit", "3")
    assert result.returncode == 0, result.stderr
    rows = csv_rows(out)
    assert len(rows) == 3, "limit 3 of the 4 old-enough files"
    assert len(remaining_inputs(incoming)) == 3, "1 old file over the limit + 2 too young"
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    assert sum("younger than" in s["reason"] for s in summary["skipped"]) == 2
    second = run_batch(incoming, out, "--local", "--min-age", "0")
    assert second.returncode == 0, second.stderr
    check_exactly_once(inputs, incoming, out)


def test_same_photo_in_a_later_night_is_recognised(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 3)
    assert run_batch(incoming, out, "--local").returncode == 0
    again = copy_photos(incoming, 1, subfolder="20261125")
    time.sleep(1.1)  # a new run id
    assert run_batch(incoming, out, "--local").returncode == 0
    rows = check_exactly_once(inputs | again, incoming, out)
    row = next(r for r in rows if r["filename"].startswith("20261125/"))
    assert row["status"] == "duplicate" and "(run " in row["error"]


def test_read_only_destination_leaves_files_for_the_next_run(tmp_path):
    """A category folder tree that refuses writes: nothing lost, everything placed on the rerun."""
    prefix = _without_dac_override()
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 6) | bad_inputs(incoming)
    processed = out / PROCESSED
    processed.mkdir(parents=True)
    processed.chmod(0o555)
    try:
        first = run_batch(incoming, out, "--local", prefix=prefix)
    finally:
        processed.chmod(0o755)
    assert first.returncode == 1, "no image could be placed: the run failed (and says so)"
    assert "Alert CRITICAL 'Batch Processing Failed'" in first.stderr
    rows = csv_rows(out)
    photos = [r for r in rows if r["filename"] not in ("truncated.jpg", "not_an_image.jpg", "empty.jpg")]
    assert photos and all(r["status"] == "error" and "could not move" in r["error_detail"] for r in photos)
    assert all(r["destination"] == "" for r in photos)
    assert sorted(p.name for p in remaining_inputs(incoming)) == sorted(r["filename"] for r in photos)
    assert len(list((out / FAILED).iterdir())) == 3, "bad files still went to failed/"
    time.sleep(1.1)
    second = run_batch(incoming, out, "--local")
    assert second.returncode == 0, second.stderr
    assert remaining_inputs(incoming) == []
    latest = sorted((out / RESULTS).glob("batch_results_*.csv"))[-1]
    placed = [r for r in csv_rows(out) if r["_file"] == latest.name]
    assert sorted(r["filename"] for r in placed) == sorted(r["filename"] for r in photos)
    assert all(r["status"] == "success" for r in placed)
    assert sorted(sha256(p.read_bytes()) for p in (out / PROCESSED).rglob("*.jpg")) == sorted(
        inputs[r["filename"]] for r in photos)


def _without_dac_override() -> list[str]:
    """Root ignores file permissions unless the batch process drops CAP_DAC_OVERRIDE."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot make a folder read-only for the batch")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_undeletable_sources_are_copied_recorded_and_cleaned_up_later(tmp_path):
    """Permission errors fall back to copy: the original stays, flagged; no duplicate on the next run."""
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 4)
    prefix = _without_dac_override()
    incoming.chmod(0o555)
    try:
        first = run_batch(incoming, out, "--local", prefix=prefix)
        assert first.returncode == 0, first.stderr
        rows = csv_rows(out)
        assert all(r["status"] == "success" for r in rows) and len(rows) == 4
        assert all(sha256((out / r["destination"]).read_bytes()) == inputs[r["filename"]] for r in rows)
        assert len(remaining_inputs(incoming)) == 4, "the originals could not be removed"
        methods = {r["move_method"] for r in db_rows(out, "SELECT move_method FROM batch_files")}
        assert methods == {"copy (source kept)"}
        summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
        assert {k["filename"] for k in summary["sources_kept"]} == set(inputs)
        html = next((out / RESULTS).glob("batch_report_*.html")).read_text()
        assert "Left for manual cleanup (4)" in html
        time.sleep(1.1)
        second = run_batch(incoming, out, "--local", prefix=prefix)
        assert second.returncode == 0, second.stderr
        latest = json.loads(sorted((out / RESULTS).glob("summary_*.json"))[-1].read_text())
        assert latest["total_processed"] == 0, "already processed: not again, not as duplicates"
        assert sum("already processed" in s["reason"] for s in latest["skipped"]) == 4
    finally:
        incoming.chmod(0o755)
    time.sleep(1.1)
    third = run_batch(incoming, out, "--local")
    assert third.returncode == 0, third.stderr
    assert remaining_inputs(incoming) == []
    assert third.stderr.count("batch: removed ") == 4
    assert len(list((out / PROCESSED).rglob("*.jpg"))) == 4 and not (out / FAILED).exists()
    assert {r["move_method"] for r in db_rows(out, "SELECT move_method FROM batch_files")} == {"copy"}


def test_allow_duplicates_reclassifies_returned_images(tmp_path):
    """The spec's recovery scenario 2: images moved back to incoming and the batch re-run."""
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 4)
    assert run_batch(incoming, out, "--local").returncode == 0
    for path in (out / PROCESSED).rglob("*.jpg"):
        path.rename(incoming / path.name)
    time.sleep(1.1)
    again = run_batch(incoming, out, "--local", "--allow-duplicates")
    assert again.returncode == 0, again.stderr
    latest = sorted((out / RESULTS).glob("batch_results_*.csv"))[-1].name
    rows = [r for r in csv_rows(out) if r["_file"] == latest]
    assert sorted(r["filename"] for r in rows) == sorted(inputs)
    assert all(r["status"] == "success" for r in rows)


def test_second_concurrent_run_is_refused_and_touches_nothing(tmp_path):
    from batch_support import start_batch, wait_for_line

    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 300)
    first = start_batch(incoming, out, "--local", "--chunk-size", "1", "--concurrency", "1")
    try:
        wait_for_line(first, "Found 300 images")
        second = run_batch(incoming, out, "--local")
        assert first.poll() is None, "the first run must still be working for this test to mean anything"
    finally:
        first.wait(timeout=120)
    assert second.returncode == 3, second.stderr
    assert "another batch run holds" in second.stderr
    assert first.returncode == 0
    check_exactly_once(inputs, incoming, out)
    assert len(db_rows(out, "SELECT * FROM batch_runs")) == 1


def test_help_lists_every_option():
    result = run_batch(Path("/nonexistent"), Path("/nonexistent"), "--help")
    assert result.returncode == 0
    for option in ("--input", "--output-root", "--api-url", "--local", "--dry-run", "--limit",
                   "--concurrency", "--min-age", "--no-fallback", "--chunk-size"):
        assert option in result.stdout


def test_broken_history_database_fails_loudly_and_moves_nothing(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 3)
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "execution_history.db").write_bytes(b"this is not a database" * 100)
    result = run_batch(incoming, out, "--local")
    assert result.returncode == 1
    assert "could not run" in result.stderr and "execution-history database" in result.stderr
    assert sorted(p.name for p in remaining_inputs(incoming)) == sorted(inputs)
    assert "CRITICAL batch: Batch Processing Failed" in (out / "logs" / "alerts.log").read_text()


def test_retention_runs_with_the_batch(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    copy_photos(incoming, 2)
    results, logs = out / RESULTS, out / "logs"
    results.mkdir(parents=True)
    logs.mkdir(parents=True)
    expired = [results / "batch_results_20200101_020000.csv", results / "summary_20200101_020000.json",
               logs / "batch_20200101_020000.log"]
    recent_name = time.strftime("%Y%m%d_020000", time.localtime(time.time() - 5 * 86400))
    kept = [results / f"batch_results_{recent_name}.csv", logs / f"batch_{recent_name}.log",
            logs / "cron_batch.log"]
    for path in expired + kept:
        path.write_text("old")
    result = run_batch(incoming, out, "--local", env=clean_env(FASHION_LOGS_RETENTION_DAYS="30"))
    assert result.returncode == 0, result.stderr
    assert "retention removed 3 expired files" in result.stderr
    assert not any(p.exists() for p in expired) and all(p.exists() for p in kept)
    assert len(list(results.glob("batch_results_*.csv"))) == 2, "this run's own results stay"
