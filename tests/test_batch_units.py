"""Building blocks of the batch: names, scanning, moves, retention, lock, chunks, journal, API client."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from batch_support import sha256

from fashion_classifier.batch import moves
from fashion_classifier.batch.client import ApiClient, ApiUnavailable, Upload
from fashion_classifier.batch.locations import UNASSIGNED, load_locations, location_for
from fashion_classifier.batch.lock import BatchLocked, RunLock
from fashion_classifier.batch.naming import inside, printable, safe_name, with_suffix_number
from fashion_classifier.batch.pipeline import make_chunks
from fashion_classifier.batch.retention import clean
from fashion_classifier.batch.scanning import is_temporary, remove_emptied_folders, scan_incoming
from fashion_classifier.history import MIGRATIONS, SCHEMA_VERSION, connect

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("hostile, expected", [
    ("../../etc/passwd", "passwd"), ("..", "unnamed"), (".bashrc", "bashrc"),
    ("-rf --no-preserve-root", "rf --no-preserve-root"),
    ("a/b\\c.jpg", "c.jpg"), ("x\x00y\n.jpg", "x_y_.jpg"), ("Casual Shoes", "Casual Shoes"),
    ("ünïcødé 写真.jpg", "ünïcødé 写真.jpg"), ("a....jpg", "a.jpg"), ('co:n*?"<>|.jpg', "co_n______.jpg"),
])
def test_safe_name_makes_one_harmless_component(tmp_path, hostile, expected):
    name = safe_name(hostile)
    assert name == expected
    assert inside(tmp_path, tmp_path / name)


def test_safe_name_keeps_the_extension_of_long_names():
    name = safe_name("é" * 300 + ".jpeg")
    assert name.endswith(".jpeg") and len(name.encode()) <= 200
    assert with_suffix_number("return_001.jpg", 2) == "return_001_2.jpg"
    assert with_suffix_number("README", 3) == "README_3"
    assert printable("a\nb\tc") == "a\\nb\\tc"


def test_scan_skips_hidden_temporary_young_and_special_files(tmp_path):
    old = time.time() - 3600
    files = ["a.jpg", "20261124/b.jpg", ".hidden.jpg", ".sync/c.jpg", "d.jpg.part", "e.crdownload", "~$f.jpg",
             "g.jpg~", "h.tmp", "young.jpg"]
    for rel in files:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        if rel != "young.jpg":
            os.utime(path, (old, old))
    os.symlink("/etc/hostname", tmp_path / "link.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    result = scan_incoming(tmp_path, min_age_seconds=60)
    assert [c.rel_name for c in result.candidates] == ["20261124/b.jpg", "a.jpg"]
    reasons = {s.rel_name: s.reason for s in result.skipped}
    assert "younger than" in reasons["young.jpg"] and "symlink" in reasons["link.jpg"]
    assert "not a regular file" in reasons["pipe.jpg"]
    assert ".sync/c.jpg" not in reasons, "hidden folders are not even listed"
    assert all(is_temporary(n) for n in (".x", "a.part", "b.partial", "~$c.docx", "d~", "e.TMP"))
    assert not is_temporary("return_001.jpg")


def test_emptied_dated_folders_are_removed_but_not_busy_ones(tmp_path):
    (tmp_path / "20261124" / "deep").mkdir(parents=True)
    (tmp_path / "20261125").mkdir()
    (tmp_path / "20261125" / "still_copying.jpg").write_bytes(b"x")
    removed = remove_emptied_folders(tmp_path, {tmp_path / "20261124" / "deep", tmp_path / "20261125"})
    assert not (tmp_path / "20261124").exists() and (tmp_path / "20261125" / "still_copying.jpg").exists()
    assert tmp_path.exists() and len(removed) == 2


def test_place_never_overwrites(tmp_path):
    src, dest = tmp_path / "a.jpg", tmp_path / "out" / "a.jpg"
    dest.parent.mkdir()
    src.write_bytes(b"new")
    dest.write_bytes(b"existing")
    with pytest.raises(moves.DestinationTaken):
        moves.place(src, dest, sha256(b"new"), token="1")
    assert dest.read_bytes() == b"existing" and src.read_bytes() == b"new"
    placed = moves.place(src, dest.with_name("a_2.jpg"), sha256(b"new"), token="1")
    assert placed.method == "rename" and not src.exists() and placed.dest.read_bytes() == b"new"


def test_link_fallback_when_renameat2_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(moves, "_noreplace_works", False)
    src, dest = tmp_path / "a.jpg", tmp_path / "b.jpg"
    src.write_bytes(b"one")
    (tmp_path / "c.jpg").write_bytes(b"two")
    assert moves.rename_noreplace(src, dest) == "link" and not src.exists()
    with pytest.raises(FileExistsError):
        moves.rename_noreplace(dest, tmp_path / "c.jpg")
    assert (tmp_path / "c.jpg").read_bytes() == b"two"


def _other_filesystem(path: Path) -> Path | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.stat(shm).st_dev != os.stat(path).st_dev and os.access(shm, os.W_OK):
        return shm
    return None


def test_cross_filesystem_move_copies_verifies_and_deletes(tmp_path):
    other = _other_filesystem(tmp_path)
    if other is None:
        pytest.skip("no second filesystem (/dev/shm) to move across")
    folder = other / f"batch-unit-{os.getpid()}"
    folder.mkdir()
    try:
        src = tmp_path / "photo.jpg"
        src.write_bytes(b"jpeg bytes" * 1000)
        placed = moves.place(src, folder / "photo.jpg", sha256(b"jpeg bytes" * 1000), token="7")
        assert placed.method == "copy" and placed.note == "other filesystem" and not src.exists()
        assert (folder / "photo.jpg").read_bytes() == b"jpeg bytes" * 1000
        assert not moves.partial_path(folder / "photo.jpg", "7").exists()
        src.write_bytes(b"changed on the way")
        with pytest.raises(OSError, match="does not match"):
            moves.place(src, folder / "other.jpg", sha256(b"what the journal saw"), token="8")
        assert src.exists() and not (folder / "other.jpg").exists(), "a bad copy is never kept"
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_retention_removes_only_expired_files_and_never_the_current_ones(tmp_path):
    results, logs = tmp_path / "results", tmp_path / "logs"
    results.mkdir()
    logs.mkdir()
    now = time.mktime((2026, 11, 25, 2, 0, 0, 0, 0, -1))
    names = {
        results: ["batch_results_20261001_020000.csv", "summary_20261001_020000.json",
                  "batch_report_20261001_020000.html", "batch_results_20261001_020000.xlsx",
                  "batch_results_20261110_020000.csv", "notes.csv", "batch_results_20260901_020000.csv"],
        logs: ["batch_20260801_020000.log", "batch_20261001_020000.log", "execution_history.db", "api.log"],
    }
    for folder, files in names.items():
        for name in files:
            (folder / name).write_text("x")
    keep = {results / "batch_results_20260901_020000.csv"}  # e.g. a resumed run's own, old, id
    removed = {p.name for p in clean(results, logs, 30, 90, keep, now=now)}
    assert removed == {"batch_results_20261001_020000.csv", "summary_20261001_020000.json",
                       "batch_report_20261001_020000.html", "batch_results_20261001_020000.xlsx",
                       "batch_20260801_020000.log"}
    assert (results / "batch_results_20260901_020000.csv").exists()
    assert (logs / "execution_history.db").exists()


def test_lock_refuses_a_second_holder_and_is_released_on_exit(tmp_path):
    path = tmp_path / "batch.lock"
    with RunLock(path):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(BatchLocked, match=str(os.getpid())):
            RunLock(path).acquire()
    RunLock(path).acquire().release()


def test_chunks_close_at_a_count_or_a_byte_budget():
    rows = [{"size": size} for size in (10, 10, 10, 500, 10, 10)]
    assert [len(c) for c in make_chunks(rows, max_files=2, max_bytes=1000)] == [2, 2, 2]
    assert [len(c) for c in make_chunks(rows, max_files=10, max_bytes=100)] == [3, 1, 2]
    assert make_chunks([], 5, 5) == []


def test_locations_file_maps_every_category():
    from fashion_classifier.labels import CATEGORIES

    locations = load_locations(ROOT / "config" / "locations.json")
    assert set(CATEGORIES) <= set(locations) and "_comment" not in locations
    assert location_for(locations, "Spaceships") == locations["default"]
    assert location_for({}, "Tshirts") == UNASSIGNED
    assert load_locations(ROOT / "no-such-file.json") == {}


def test_old_history_files_are_migrated_to_the_journal_schema(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO batch_runs (timestamp, total_images, successful, failed, success_rate, status)"
                 " VALUES ('2025-10-13T02:08:15', 247, 242, 5, 97.98, 'success')")
    conn.commit()
    conn.close()
    upgraded = connect(path)
    assert upgraded.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert upgraded.execute("SELECT total_images FROM batch_runs").fetchone()[0] == 247
    columns = {row[1] for row in upgraded.execute("PRAGMA table_info(batch_files)")}
    assert {"content_hash", "state", "dest_path", "top2_category"} <= columns


class _FlakyApi:
    """A real HTTP server: answers 503 a few times, refuses big requests, then classifies."""

    def __init__(self, failures: int = 0, max_files: int = 50):
        self.failures, self.max_files, self.calls, self.sizes = failures, max_files, 0, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                count = body.count(b'name="files"')
                api.calls += 1
                api.sizes.append(count)
                if api.calls <= api.failures:
                    return self._reply(503, {"error": "warming up"})
                if count > api.max_files:
                    return self._reply(413, {"error": "too large", "code": "payload_too_large"})
                results = [{"index": i, "status": "success", "category": "Watches", "confidence": 0.9,
                            "all_predictions": {"Watches": 0.9, "Sunglasses": 0.1}} for i in range(count)]
                self._reply(200, {"results": results})

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_client_retries_with_backoff_then_succeeds():
    api = _FlakyApi(failures=2)
    calls, sleeps = [], []
    try:
        client = ApiClient(api.url, key="k", retries=3, backoff=0.1, on_call=calls.append,
                           sleep=sleeps.append)
        results = client.predict_batch([Upload("1.jpg", b"a"), Upload("2.jpg", b"b")])
    finally:
        api.close()
    assert [r["category"] for r in results] == ["Watches", "Watches"]
    assert [c.status_code for c in calls] == [503, 503, 200]
    assert len(sleeps) == 2 and 0.1 <= sleeps[0] <= 0.15 and 0.2 <= sleeps[1] <= 0.3, "exponential backoff"


def test_client_gives_up_after_its_retries():
    api = _FlakyApi(failures=100)
    try:
        client = ApiClient(api.url, retries=2, backoff=0.01, sleep=lambda s: None)
        with pytest.raises(ApiUnavailable, match="after 3 attempts"):
            client.predict_batch([Upload("1.jpg", b"a")])
    finally:
        api.close()
    assert api.calls == 3


def test_client_halves_a_refused_request_instead_of_failing_it():
    api = _FlakyApi(max_files=3)
    try:
        results = ApiClient(api.url, sleep=lambda s: None).predict_batch(
            [Upload(f"{i}.jpg", b"x") for i in range(10)])
    finally:
        api.close()
    assert len(results) == 10 and all(r["status"] == "success" for r in results)
    assert api.sizes == [10, 5, 2, 3, 5, 2, 3], "10 refused, halves of 5 refused, 2 + 3 accepted"


def test_client_on_a_dead_port_records_unreached_calls():
    calls = []
    client = ApiClient("http://127.0.0.1:9", retries=1, backoff=0.01, on_call=calls.append,
                       sleep=lambda s: None)
    with pytest.raises(ApiUnavailable):
        client.predict_batch([Upload("1.jpg", b"a")])
    assert [c.status_code for c in calls] == [0, 0] and "ConnectionError" in calls[0].error
    assert client.ready(timeout=1)[0] is False
