"""The clerk's morning through Flask's test client: the first screen, the night's downloads and their
protection, the retake decision and the undo list, on a small real history (morning_support)."""

from __future__ import annotations

import io
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from batch_support import RESULTS

from fashion_classifier.batch.outputs import output_paths
from fashion_classifier.dashboard import create_app
from fashion_classifier.dashboard.server import hash_password_line
from fashion_classifier.data.prepare import read_split
from fashion_classifier.review import ReviewDB, pending_items, resolve_planned
from fashion_classifier.review import decisions as decisions_module

from .history_support import clone, connect, run_script
from .morning_support import SAME_NAME, build_morning
from .test_dashboard_app import dashboard_config

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    return build_morning(tmp_path_factory.mktemp("morning"))


@pytest.fixture
def site(nights, tmp_path):
    out = clone(nights["out"], tmp_path / "out")
    app = create_app(dashboard_config(out))
    yield app.test_client(), out, nights["runs"]
    app.extensions["dashboard_db"].close()


def report_file(out: Path, run_id: str, kind: str) -> Path:
    return output_paths(out / RESULTS, out / "logs", run_id)[kind]


def waiting(out: Path) -> int:
    with connect(out) as conn:
        return conn.execute("SELECT COUNT(*) FROM batch_files WHERE status = 'success' AND state = 'done'"
                            " AND tier IN ('check', 'review')").fetchone()[0]


def test_the_first_screen_says_what_to_do_and_keeps_the_last_night_with_photos(site):
    c, out, runs = site
    morning = c.get("/api/overview").get_json()["morning"]
    assert morning["to_review"] == waiting(out) > 3
    last = morning["last_night_with_photos"]
    assert (last["run_id"], last["total_images"]) == (runs["last"], 5)
    assert morning["empty_night"]["run_id"] == runs["empty"]
    day = f"{datetime.strptime(runs['last'][:8], '%Y%m%d'):%Y-%m-%d}"
    assert {k: v["filename"] for k, v in last["downloads"].items()} == {
        "xlsx": f"returns-{day}.xlsx", "csv": f"returns-{day}.csv", "html": f"returns-report-{day}.html"}
    assert [r["run_id"] for r in morning["earlier_runs"]] == [runs["empty"], runs["earlier"]]
    assert sum(p["photos"] for p in morning["pick_lists"]) == 5 and morning["retake"] == 0
    html = c.get("/").get_data(as_text=True)
    order = [html.index(f'id="{part}"') for part in ("morning-review", "morning-picks", "morning-downloads",
                                                      "card-api")]
    assert order == sorted(order), "review first, then the pick lists, then the reports, then the rest"
    assert f"{waiting(out)} photos to review</b>" in html
    assert "Last night: no photos" in html and 'id="night-photos"' in html
    panel = html.split('id="last-run"')[1].split("</section>")[0]
    assert "): no photos. The last night with photos:" in panel and f"({runs['last']})" in panel
    assert "<dt>Total Images</dt><dd>5</dd>" in panel, "the empty night does not replace the headline"


def test_a_night_with_photos_has_no_empty_night_beside_it(tmp_path, nights):
    out = clone(nights["out"], tmp_path / "out")
    with connect(out) as conn:
        conn.execute("DELETE FROM batch_runs WHERE run_id = ?", (nights["runs"]["empty"],))
    app = create_app(dashboard_config(out))
    html = app.test_client().get("/").get_data(as_text=True)
    assert "Last night: no photos" not in html and 'id="night-photos"' in html
    app.extensions["dashboard_db"].close()


@pytest.mark.parametrize("kind,mimetype", [("xlsx", XLSX), ("csv", "text/csv"), ("html", "text/html")])
def test_the_downloads_are_the_run_files_with_a_clerk_name(site, kind, mimetype):
    c, out, runs = site
    url = c.get("/api/overview").get_json()["morning"]["last_night_with_photos"]["downloads"][kind]["url"]
    response = c.get(url)
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.data == report_file(out, runs["last"], kind).read_bytes()
    day = f"{datetime.strptime(runs['last'][:8], '%Y%m%d'):%Y-%m-%d}"
    name = f"returns-{day}.{kind}" if kind != "html" else f"returns-report-{day}.html"
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    if kind == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(response.data))
        cells = [str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                 for v in row]
        assert SAME_NAME in cells


def test_two_runs_on_one_day_get_names_with_the_time(site):
    c, out, runs = site
    with connect(out) as conn:  # a second run the same day as "last" (a rerun in the morning)
        conn.execute("INSERT INTO batch_runs (timestamp, total_images, successful, failed, success_rate,"
                     " status, run_id) VALUES (?, 0, 0, 0, 100, 'success', ?)",
                     (runs["last"][:8] + "T09:30:00", runs["last"][:8] + "_093000"))
    response = c.get(f"/runs/{runs['last']}/xlsx")
    assert response.headers["Content-Disposition"].endswith(f"-{runs['last'][9:13]}.xlsx")


@pytest.mark.parametrize("path", [
    "/runs/20991231_020000/xlsx",  # well formed, never ran
    "/runs/{last}/log",  # a file of the run, but not one the clerk downloads
    "/runs/{last}/summary",
    "/runs/{last}/..",
    "/runs/..%2F..%2Flogs%2Fexecution_history.db/csv",
    "/runs/{last}%2F..%2F..%2F..%2Fetc/csv",
    "/runs/{last}.csv/csv",
    "/runs/../../etc/passwd",
    "/runs/2026120_020000/csv",
])
def test_nothing_but_a_recorded_run_file_is_served(site, path):
    c, _, runs = site
    response = c.get(path.format(last=runs["last"]), headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.is_json and "error" in response.get_json()


def test_an_unknown_run_is_a_page_for_the_browser_and_json_for_scripts(site):
    c, _, _ = site
    page = c.get("/runs/20991231_020000/csv", headers=HTML)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "This report is not there" in page.get_data(as_text=True)
    script = c.get("/runs/20991231_020000/csv")
    assert script.status_code == 404 and script.get_json()["run_id"] == "20991231_020000"


def test_a_link_or_a_cleaned_up_file_is_not_served(site, tmp_path):
    c, out, runs = site
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the clerk")
    csv_file = report_file(out, runs["last"], "csv")
    csv_file.unlink()
    csv_file.symlink_to(secret)  # someone swapped the run's CSV for a link
    response = c.get(f"/runs/{runs['last']}/csv")
    assert response.status_code == 404 and b"not for the clerk" not in response.data
    report_file(out, runs["earlier"], "xlsx").unlink()  # retention removed it
    assert c.get(f"/runs/{runs['earlier']}/xlsx").status_code == 404
    morning = c.get("/api/overview").get_json()["morning"]
    assert "csv" not in morning["last_night_with_photos"]["downloads"]
    earlier = next(r for r in morning["earlier_runs"] if r["run_id"] == runs["earlier"])
    assert sorted(earlier["downloads"]) == ["csv", "html"], "only files that are there are offered"


def test_downloads_need_the_login(nights, tmp_path):
    out = clone(nights["out"], tmp_path / "out")
    users = tmp_path / "users"
    users.write_text(hash_password_line("sarah", "correct horse") + "\n")
    app = create_app(dashboard_config(out, dashboard_users_file=users, dashboard_api_keys=("k-123",)))
    c = app.test_client()
    url = f"/runs/{nights['runs']['last']}/xlsx"
    refused = c.get(url)
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert refused.data != report_file(out, nights["runs"]["last"], "xlsx").read_bytes()
    assert c.get(url, headers={"X-API-Key": "wrong"}).status_code == 302
    assert c.get(url, headers={"X-API-Key": "k-123"}).status_code == 200
    c.post("/login", data={"username": "sarah", "password": "correct horse", "next": url})
    assert c.get(url).data == report_file(out, nights["runs"]["last"], "xlsx").read_bytes()
    app.extensions["dashboard_db"].close()


# --- retake and the undo list -------------------------------------------------------------


def test_retake_sets_the_photo_aside_out_of_queue_pick_lists_and_training(site):
    c, out, runs = site
    items = c.get("/api/review/items").get_json()["items"]
    item = next(i for i in items if i["run_id"] == runs["last"])
    placed = out / "data" / "processed_batches" / item["folder"] / item["name"]
    content = placed.read_bytes()
    response = c.post(f"/api/review/items/{item['id']}", json={"action": "retake", "reviewer": "Sarah"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["decision"]["action"], body["decision"]["folder"]) == ("retake", "retake")
    assert body["counts"]["retake"] == 1 and body["counts"]["waiting"] == len(items) - 1
    aside = out / "data" / "retake" / item["name"]
    assert aside.read_bytes() == content and not placed.exists()
    with connect(out) as conn:
        row = dict(conn.execute("SELECT * FROM review_decisions").fetchone())
    assert (row["action"], row["new_category"], row["old_category"], row["reviewer"]) == \
        ("retake", "", item["category"], "Sarah")
    assert item["id"] not in {i["id"] for i in c.get("/api/review/items").get_json()["items"]}
    morning = c.get("/api/overview").get_json()["morning"]
    assert morning["retake"] == 1 and sum(p["photos"] for p in morning["pick_lists"]) == 4
    again = c.post(f"/api/review/items/{item['id']}", json={"category": item["category"], "reviewer": "Bob"})
    assert again.status_code == 409 and "retake" in again.get_json()["error"]
    other = next(i for i in c.get("/api/review/items").get_json()["items"])
    c.post(f"/api/review/items/{other['id']}", json={"category": other["category"], "reviewer": "Sarah"})
    exported = c.post("/api/review/export", json={}).get_json()
    assert (exported["rows"], exported["confirmed"]) == (1, 1), "the retake is no training label"
    labels = [r.label for r in read_split(out / "data" / "corrections", "corrections")]
    assert labels == [other["category"]]


def test_a_retake_is_undone_back_to_its_folder_and_the_queue(site):
    c, out, _ = site
    item = c.get("/api/review/items").get_json()["items"][0]
    decided = c.post(f"/api/review/items/{item['id']}", json={"action": "retake", "reviewer": "Sarah"})
    decision_id = decided.get_json()["decision"]["id"]
    undone = c.post(f"/api/review/items/{item['id']}/undo",
                    json={"reviewer": "Sarah", "decision_id": decision_id})
    assert undone.status_code == 200, undone.get_json()
    assert undone.get_json()["item"]["id"] == item["id"] and undone.get_json()["counts"]["retake"] == 0
    assert (out / "data" / "processed_batches" / item["folder"] / item["name"]).is_file()
    assert not (out / "data" / "retake" / item["name"]).exists()
    assert item["id"] in {i["id"] for i in c.get("/api/review/items").get_json()["items"]}


def test_a_retake_moved_away_by_hand_is_not_undone(site):
    c, out, _ = site
    item = c.get("/api/review/items").get_json()["items"][0]
    c.post(f"/api/review/items/{item['id']}", json={"action": "retake", "reviewer": "Sarah"})
    (out / "data" / "retake" / item["name"]).rename(out / "data" / "deleted.jpg")
    refused = c.post(f"/api/review/items/{item['id']}/undo", json={"reviewer": "Sarah"})
    assert refused.status_code == 409 and "nothing was moved" in refused.get_json()["error"]
    assert c.get("/api/review/recent?reviewer=Sarah").get_json()["decisions"] == []


def test_the_export_script_leaves_retakes_out(site):
    c, out, _ = site
    first, second = c.get("/api/review/items").get_json()["items"][:2]
    c.post(f"/api/review/items/{first['id']}", json={"action": "retake", "reviewer": "Sarah"})
    c.post(f"/api/review/items/{second['id']}", json={"category": "Other", "reviewer": "Sarah"})
    result = run_script("export_corrections.py", "--output-root", str(out))
    assert result.returncode == 0, result.stderr
    assert "1 labelled photos" in result.stdout
    assert [r.label for r in read_split(out / "data" / "corrections", "corrections")] == ["Other"]


def test_the_undo_list_is_the_reviewers_own_recent_undoable_decisions(site):
    c, out, _ = site
    a, b, d, e = c.get("/api/review/items").get_json()["items"][:4]
    ids = {}
    for item, who, body in ((a, "Sarah", {"category": a["category"]}),
                            (b, "Bob", {"category": b["category"]}),
                            (d, "Sarah", {"action": "retake"}), (e, "Sarah", {"category": "Other"})):
        ids[item["id"]] = c.post(f"/api/review/items/{item['id']}", json={"reviewer": who, **body}
                                 ).get_json()["decision"]["id"]
    listed = c.get("/api/review/recent?reviewer=Sarah").get_json()["decisions"]
    assert [x["item_id"] for x in listed] == [e["id"], d["id"], a["id"]], "Sarah's, newest first"
    assert listed[1]["action"] == "retake" and listed[1]["filename"] == d["filename"]
    c.post(f"/api/review/items/{e['id']}/undo", json={"reviewer": "Sarah", "decision_id": ids[e["id"]]})
    with connect(out) as conn:  # a decision of yesterday's shift is settled
        old = (datetime.now() - timedelta(hours=13)).isoformat(timespec="seconds")
        conn.execute("UPDATE review_decisions SET decided_at = ? WHERE id = ?", (old, ids[a["id"]]))
    listed = c.get("/api/review/recent?reviewer=Sarah").get_json()["decisions"]
    assert [x["item_id"] for x in listed] == [d["id"]]
    day = c.get("/api/review/recent?reviewer=Sarah&hours=24").get_json()["decisions"]
    assert [x["item_id"] for x in day] == [d["id"], a["id"]]
    assert c.get("/api/review/recent").get_json()["decisions"] == [], "no name, no list"
    for hours, used in (("nan", 12.0), ("-5", 0.0), ("1e9", 72.0)):
        answer = c.get(f"/api/review/recent?reviewer=Sarah&hours={hours}")
        assert answer.status_code == 200 and answer.get_json()["hours"] == used


def test_an_old_database_takes_a_retake(nights, tmp_path):
    """The retake needs no new column or constraint: a history made before it records one."""
    out = clone(nights["out"], tmp_path / "out")
    with sqlite3.connect(out / "logs" / "execution_history.db") as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'review_decisions'").fetchone()[0]
    assert "CHECK" not in schema.upper() and version >= 7
    app = create_app(dashboard_config(out))
    c = app.test_client()
    item = c.get("/api/review/items").get_json()["items"][0]
    decided = c.post(f"/api/review/items/{item['id']}", json={"action": "retake", "reviewer": "x"})
    assert decided.status_code == 201
    assert os.path.isfile(out / "data" / "retake" / item["name"])
    app.extensions["dashboard_db"].close()


def test_a_retake_interrupted_by_a_crash_is_finished(site):
    _, out, _ = site
    db = ReviewDB(out / "logs" / "execution_history.db")
    processed, aside = out / "data" / "processed_batches", out / "data" / "retake"
    item = pending_items(db, processed)[0]
    aside.mkdir()
    dest = decisions_module._free_name(db, aside, item.path)
    decisions_module._insert(db, item, "", "retake", "Sarah", dest)  # committed; the photo not yet moved
    assert resolve_planned(db) == 1
    assert dest.is_file() and not item.path.exists()
    assert item.id not in {i.id for i in pending_items(db, processed)}
    assert [r["state"] for r in db.execute("SELECT state FROM review_decisions")] == ["done"]
    db.close()
