"""No poison file, odd name, odd file type, full disk or default setting can stop the night:
real batch runs (the CLI in a subprocess) on temporary folders, real SQLite, a real small
tmpfs for the full disk, the real API under gunicorn where the API takes part."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from batch_support import (
    FAILED,
    PROCESSED,
    RESULTS,
    ApiServer,
    check_exactly_once,
    clean_env,
    copy_photos,
    csv_rows,
    dataset_photos,
    db_rows,
    placed_files,
    remaining_inputs,
    run_batch,
    sha256,
    write_file,
)
from openpyxl import load_workbook
from PIL import Image
from test_imaging_fuzz import corrupt_heif

from fashion_classifier import imaging

pytestmark = pytest.mark.timeout(300)


def corrupt_heif_input(incoming: Path) -> dict[str, str]:
    if not imaging.HEIF_SUPPORTED:
        pytest.skip("pillow-heif is not installed on this platform")
    return write_file(incoming, "poison.heic", corrupt_heif())


# --- 1: the poison pill -----------------------------------------------------------------------
def test_a_corrupt_heif_fails_alone_in_process(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 6) | corrupt_heif_input(incoming)
    result = run_batch(incoming, out, "--local", "--no-alerts")
    assert result.returncode == 0, result.stderr
    rows = {r["filename"]: r for r in check_exactly_once(inputs, incoming, out)}
    assert rows["poison.heic"]["status"] == "error" and "corrupt" in rows["poison.heic"]["error_detail"]
    assert sum(r["status"] == "success" for r in rows.values()) == 6


def test_the_api_path_is_trusted_out_of_the_box_and_a_corrupt_heif_fails_alone(tmp_path):
    """No key set anywhere: the API makes logs/internal.key at its start, the batch (same logs/)
    reads it. Public limit 1 batch call an hour, yet every chunk goes through, and the corrupt
    HEIF is one failed file, not an "API Down"."""
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 12) | corrupt_heif_input(incoming)
    with ApiServer(tmp_path, FASHION_TRUSTED_KEYS="", FASHION_LOGS_DIR=str(out / "logs"),
                   FASHION_RATELIMIT_BATCH="1 per hour") as api:
        env = clean_env(API_URL=api.url, FASHION_API_RETRIES="1", FASHION_API_BACKOFF_SECONDS="0.1")
        result = run_batch(incoming, out, "--chunk-size", "3", "--concurrency", "2", env=env)
    assert result.returncode == 0, result.stderr
    rows = {r["filename"]: r for r in check_exactly_once(inputs, incoming, out)}
    assert rows["poison.heic"]["status"] == "error"
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    assert summary["classifier_path"] == "api", result.stderr
    alerts = [a["subject"] for a in db_rows(out, "SELECT subject FROM alerts")]
    assert "API Down" not in alerts, alerts
    key = out / "logs" / "internal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_files_over_the_apis_decode_budget_are_sent_again_not_failed(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 8)
    with ApiServer(tmp_path, FASHION_REQUEST_MAX_PIXELS="12000") as api:  # 2-3 catalogue photos a request
        env = clean_env(API_URL=api.url, FASHION_BATCH_KEY="nightly-batch-test-key")
        result = run_batch(incoming, out, "--chunk-size", "8", "--concurrency", "1", env=env)
        history = api.folder / "api_history.db"
    assert result.returncode == 0, result.stderr
    rows = check_exactly_once(inputs, incoming, out)
    assert all(r["status"] == "success" for r in rows), [r["error"] for r in rows]
    import sqlite3

    with sqlite3.connect(history) as conn:
        calls = conn.execute("SELECT COUNT(*) FROM api_calls WHERE endpoint = '/predict_batch'").fetchone()[0]
    assert calls >= 3, "one chunk of 8 had to be sent in several requests"


# --- 2: file names that are not UTF-8 ----------------------------------------------------------------
def latin1(name: str) -> bytes:
    return name.encode("latin-1")


def test_names_that_are_not_utf8_are_processed_under_their_readable_name(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 3)
    photos = dataset_photos(3, offset=20)
    os.makedirs(incoming, exist_ok=True)
    for raw, source in ((b"caf\xe9.jpg", photos[0]), (b"r\xe9sum\xe9 \xff.jpg", photos[1])):
        Path(os.fsdecode(bytes(incoming) + b"/" + raw)).write_bytes(source.read_bytes())
    folder = Path(os.fsdecode(bytes(incoming) + b"/Lieferung M\xe4rz"))
    folder.mkdir()
    (folder / "inside.jpg").write_bytes(photos[2].read_bytes())
    old = time.time() - 60  # the folder and files are settled, not being copied
    for path in [folder / "inside.jpg", folder, *incoming.iterdir()]:
        os.utime(path, (old, old))
    inputs |= {"café.jpg": sha256(photos[0].read_bytes()), "résumé ÿ.jpg": sha256(photos[1].read_bytes()),
               "Lieferung März/inside.jpg": sha256(photos[2].read_bytes())}
    result = run_batch(incoming, out, "--local", "--no-alerts")
    assert result.returncode == 0, result.stderr
    rows = {r["filename"]: r for r in check_exactly_once(inputs, incoming, out)}
    assert rows["café.jpg"]["status"] == "success" and (out / rows["café.jpg"]["destination"]).is_file()
    assert "renamed caf\\xe9.jpg to café.jpg" in result.stderr.lower()
    log = next((out / "logs").glob("batch_*.log")).read_text(encoding="utf-8")
    assert "Renamed caf\\xe9.jpg to café.jpg" in log and "Processing [" in log
    xlsx = next((out / RESULTS).glob("*.xlsx"))
    cells = {c.value for sheet in load_workbook(xlsx) for row in sheet.iter_rows() for c in row}
    assert "café.jpg" in cells
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text(encoding="utf-8"))
    assert summary["total_processed"] == 6
    assert "café.jpg" in next((out / RESULTS).glob("batch_report_*.html")).read_text(encoding="utf-8")
    names = {r["rel_name"] for r in db_rows(out, "SELECT rel_name FROM batch_files")}
    assert {"café.jpg", "résumé ÿ.jpg", "Lieferung März/inside.jpg"} <= names


@contextmanager
def small_tmpfs(where: Path, size: str):
    """A real, small file system (root only; the test says why it skips otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'}): "
                    "the full-disk and read-only tests need one")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_an_undecodable_name_on_a_read_only_share_is_skipped_with_its_reason(tmp_path):
    with small_tmpfs(tmp_path / "share", "4m") as share:
        incoming, out = share / "in", tmp_path / "out"
        copy_photos(incoming, 2)
        photo = dataset_photos(1, 30)[0].read_bytes()
        Path(os.fsdecode(bytes(incoming) + b"/caf\xe9.jpg")).write_bytes(photo)
        old = time.time() - 60
        for path in incoming.iterdir():
            os.utime(path, (old, old))
        subprocess.run(["mount", "-o", "remount,ro", str(share)], check=True)
        ordinary = sorted(n for n in os.listdir(incoming) if "\udce9" not in n)
        result = run_batch(incoming, out, "--local", "--no-alerts")
        left = sorted(os.listdir(bytes(incoming)))
    # the run completes; its two ordinary photos fail only because nothing leaves a read-only share
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert {r["filename"]: r["status"] for r in csv_rows(out)} == {n: "error" for n in ordinary}
    assert b"caf\xe9.jpg" in left, "the file is still there, untouched"
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text(encoding="utf-8"))
    skipped = {s["filename"]: s["reason"] for s in summary["skipped"]}
    assert "not valid UTF-8" in skipped["caf\\xe9.jpg"], skipped


# --- a failure before classifying is recorded and alerted -------------------------------------------
def test_a_run_that_cannot_start_gets_a_run_row_and_an_alert(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    copy_photos(incoming, 2)
    result = run_batch(incoming, out, env=clean_env(FASHION_BATCH_ENGINE="warp-drive"))
    assert result.returncode == 1
    runs = db_rows(out, "SELECT status, error_message, total_images FROM batch_runs")
    assert len(runs) == 1 and runs[0]["status"] == "failed" and "warp-drive" in runs[0]["error_message"]
    alerts = db_rows(out, "SELECT severity, subject FROM alerts")
    assert {"severity": "CRITICAL", "subject": "Batch Processing Failed"} in alerts
    assert len(remaining_inputs(incoming)) == 2, "nothing moved"


def test_a_run_whose_file_list_cannot_be_journaled_is_recorded_and_alerted(tmp_config):
    """The old poison: a name SQLite cannot hold reached the journal; now the scan renames such
    names, and any failure while listing is still a recorded, alerted, logged failure."""
    from fashion_classifier.batch.journal import open_journal
    from fashion_classifier.batch.scanning import Candidate
    from fashion_classifier.batch.session import Context, RunSession
    from fashion_classifier.history import HistoryDB

    journal, history = open_journal(tmp_config.path("history_db")), HistoryDB(tmp_config.path("history_db"))
    ctx = Context(tmp_config, journal, history, classifier_factory=None, base=tmp_config.root)
    bad = Candidate(Path("/nowhere/caf\udce9.jpg"), "caf\udce9.jpg", 10, 0.0)
    with pytest.raises(UnicodeEncodeError):
        RunSession(ctx, "20261201_020000", resumed=False).start([bad])
    runs = history.execute("SELECT run_id, status, error_message FROM batch_runs")
    alerts = history.execute("SELECT subject FROM alerts")
    journal.close(), history.close()
    assert [(r["run_id"], r["status"]) for r in runs] == [("20261201_020000", "failed")]
    assert "UnicodeEncodeError" in runs[0]["error_message"]
    assert [a["subject"] for a in alerts] == ["Batch Processing Failed"]
    log = (tmp_config.path("logs_dir") / "batch_20261201_020000.log").read_text()
    assert "BATCH PROCESSING STARTED" in log and "BATCH PROCESSING FAILED" in log


# --- 7: a full disk during a move across file systems -----------------------------------------------
def noisy_jpeg(side: int = 500) -> bytes:
    """About 300 KB that compress badly (random pixels): a few fill a small disk."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_a_full_disk_mid_copy_leaves_no_partial_files_and_loses_nothing(tmp_path):
    with small_tmpfs(tmp_path / "small", "2m") as small:
        incoming, out = tmp_path / "in", tmp_path / "out"
        inputs = {}
        for i in range(10):
            inputs |= write_file(incoming, f"photo_{i}.jpg", noisy_jpeg())
        env = clean_env(FASHION_PROCESSED_DIR=str(small / "processed"),
                        FASHION_FAILED_DIR=str(small / "failed"))
        result = run_batch(incoming, out, "--local", "--no-alerts", env=env)
        on_small = [p for p in small.rglob("*") if p.is_file()]
        hidden = [p.name for p in on_small if p.name.startswith(".")]
        placed = {sha256(p.read_bytes()) for p in on_small}
    assert result.returncode == 0, result.stderr
    assert hidden == [], f"partial copies left behind: {hidden}"
    still_here = {sha256(p.read_bytes()) for p in remaining_inputs(incoming)}
    assert placed | still_here == set(inputs.values()) and not placed & still_here, "lost or duplicated"
    assert placed and still_here, "the disk should have taken some photos and refused the others"
    rows = csv_rows(out)
    refused = [r for r in rows if "left in place" in r["error_detail"]]
    assert len(refused) == len(still_here), refused
    assert all("No space left" in r["error_detail"] for r in refused), refused


def test_partial_files_a_killed_copy_left_are_removed_by_the_next_run(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    copy_photos(incoming, 1)
    stale = [out / PROCESSED / "Shirts" / ".41.batch-partial", out / FAILED / ".7.batch-partial"]
    reviews = out / PROCESSED / "Shirts" / ".review-3.batch-partial"  # the review queue's own, in flight
    for path in [*stale, reviews]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a photo")
    result = run_batch(incoming, out, "--local", "--no-alerts")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in stale)
    assert reviews.exists()
    assert "removed 2 partial files of interrupted copies" in result.stderr


# --- 8: anything that is not a regular file ---------------------------------------------------------
def test_fifos_sockets_devices_and_link_loops_are_skipped_without_being_opened(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    inputs = copy_photos(incoming, 2)
    os.mkfifo(incoming / "pipe.jpg")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(incoming / "socket.jpg"))
    (incoming / "loop").mkdir()
    os.symlink("..", incoming / "loop" / "again")  # a folder link back up: a loop if followed
    os.symlink(incoming / "loop", incoming / "loop_link")
    device = None
    try:
        os.mknod(incoming / "device.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        device = "device.jpg"
    except (PermissionError, OSError) as exc:
        print(f"no device node test: {exc}")
    try:
        result = run_batch(incoming, out, "--local", "--no-alerts", timeout=120)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    check_exactly_once(inputs, incoming, out)  # the two photos; nothing else was touched
    summary = json.loads(next((out / RESULTS).glob("summary_*.json")).read_text())
    skipped = {s["filename"]: s["reason"] for s in summary["skipped"]}
    for name in ["pipe.jpg", "socket.jpg"] + ([device] if device else []):
        assert "not a regular file" in skipped[name], skipped
        assert os.path.lexists(incoming / name)


def test_a_file_replaced_by_a_fifo_after_the_scan_is_not_read(tmp_path):
    from fashion_classifier.batch.pipeline import VANISHED, _read

    os.mkfifo(tmp_path / "was_a_photo.jpg")  # opening it for reading would block forever
    row = {"id": 1, "source_path": str(tmp_path / "was_a_photo.jpg"), "rel_name": "was_a_photo.jpg",
           "size": 1234, "mtime": 1.0}
    outcome, data = _read(row, 10 * 1024 * 1024)
    assert outcome.result["status"] == VANISHED and outcome.result["code"] == "not_regular_file"
    assert data == b""


def test_a_file_still_being_written_is_not_taken_half_written(tmp_path):
    from fashion_classifier.batch.pipeline import VANISHED, _read
    from fashion_classifier.batch.placement import Placement

    photo = tmp_path / "copying.jpg"
    photo.write_bytes(b"\xff\xd8first half")
    info = photo.stat()
    row = {"id": 1, "source_path": str(photo), "rel_name": photo.name, "size": info.st_size,
           "mtime": info.st_mtime}
    assert _read(row, 1 << 20)[0] is None  # unchanged since the scan: read
    with open(photo, "ab") as handle:  # the copy resumes after a pause longer than the minimum age
        handle.write(b" and the second half")
    os.utime(photo, (info.st_mtime + 7, info.st_mtime + 7))
    outcome, _ = _read(row, 1 << 20)
    assert outcome.result["status"] == VANISHED and outcome.result["code"] == "still_being_written"
    # changed between classification and the move: left in place too
    from fashion_classifier.batch.journal import open_journal

    journal = open_journal(tmp_path / "h.db")
    planned = dict(row, dest_path=str(tmp_path / "out" / "copying.jpg"), status="success")
    finished = Placement(journal, tmp_path / "out", tmp_path / "failed").move(planned)
    journal.close()
    assert finished["state"] == "left" and finished["error_code"] == "still_being_written"
    assert photo.exists() and not (tmp_path / "out" / "copying.jpg").exists()
    assert placed_files(tmp_path) == []
