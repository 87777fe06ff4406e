"""The clerk's morning in headless Chromium, on the real dashboard server (gunicorn) over a real history.

Log in, the first screen says how many photos wait and shows the last night
with photos beside the empty one, the download links bring the night's real
files; then the review queue: file names tell entries apart, each category
keeps its number key on every photo, the name field never swallows a key, a
photo can be set aside for a retake, and the clerk's decisions can be undone
after a reload.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
from alert_servers import free_port
from batch_support import RESULTS, ROOT, clean_env

from fashion_classifier.batch.outputs import output_paths
from fashion_classifier.config import Config
from fashion_classifier.dashboard.server import hash_password_line
from fashion_classifier.labels import OTHER, category_names

from .history_support import MONITORING, clone, connect
from .morning_support import SAME_NAME, build_morning
from .test_browser import ARGS, CHROMIUM, Page, _wait_up, playwright_api, wait_until

LABELS = category_names(Config())  # the model's own label order
KEYS = [str(n) for n in range(1, 10)] + ["0"]


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    return build_morning(tmp_path_factory.mktemp("morning"))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@contextmanager
def dashboard(out: Path, **env: str):
    """monitoring/dashboard.py (gunicorn) on a free port over ``out``; no refresh during a test."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(MONITORING / "dashboard.py"), "--port", str(port), "--output-root", str(out)],
        cwd=ROOT, env=clean_env(**{"API_URL": f"http://127.0.0.1:{free_port()}",
                                   "FASHION_DASHBOARD_REFRESH_SECONDS": "3600", **env}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(20)


@pytest.fixture
def open_site(nights, tmp_path):
    """No login: the review page asks for the reviewer's name."""
    out = clone(nights["out"], tmp_path / "out")
    with dashboard(out) as url:
        yield url, out, nights["runs"]


def waiting(out: Path) -> list[dict]:
    with connect(out) as conn:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM batch_files WHERE status = 'success' AND state = 'done'"
            " AND tier IN ('check', 'review')")]


def decisions(out: Path) -> list[dict]:
    with connect(out) as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM review_decisions ORDER BY id")]


def open_review(view: Page, url: str, name: str | None = "Sarah"):
    page = view.page
    page.goto(url + "/review")
    page.wait_for_selector("#review[data-loaded]")
    if name is not None:
        page.fill("#reviewer", name)
        page.press("#reviewer", "Enter")  # leaves the field: keys act on the photo
    return page


def key_map(page) -> dict[str, str]:
    return {b.get_attribute("data-key"): b.get_attribute("data-category")
            for b in page.locator("#choices button[data-category]").all()}


def current_id(page) -> int:
    return int(page.locator("#current").get_attribute("data-id"))


def test_the_morning_from_login_to_the_nights_files(nights, browser, tmp_path):
    out = clone(nights["out"], tmp_path / "out")
    users = tmp_path / "users"
    users.write_text(hash_password_line("sarah", "correct horse") + "\n")
    runs = nights["runs"]
    with dashboard(out, FASHION_DASHBOARD_USERS_FILE=str(users)) as url:
        view = Page(browser)
        page = view.page
        page.goto(url + "/")
        assert "/login" in page.url
        page.fill("input[name=username]", "sarah")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        page.wait_for_selector("#morning")
        count = len(waiting(out))
        first = page.locator("#morning-review a")
        assert first.inner_text().startswith(f"{count} photos to review")
        assert first.get_attribute("href") == "/review"
        beside = [page.locator(s) for s in ("#night-photos", "#night-empty")]
        assert "Last night: no photos" in beside[1].inner_text()
        assert f"{nights['photos']['last']} photos" in beside[0].inner_text()
        boxes = [b.bounding_box() for b in beside]
        assert abs(boxes[0]["y"] - boxes[1]["y"]) < 5 and boxes[1]["x"] > boxes[0]["x"], "side by side"
        assert page.locator("#morning-picks tr[data-category]").count() >= 1
        view.shot(tmp_path, "morning")
        day = f"{runs['last'][:4]}-{runs['last'][4:6]}-{runs['last'][6:8]}"
        for kind, name in (("xlsx", f"returns-{day}.xlsx"), ("csv", f"returns-{day}.csv"),
                           ("html", f"returns-report-{day}.html")):
            with page.expect_download() as caught:
                page.click(f"#morning-downloads a[data-kind={kind}]")
            download = caught.value
            disk = output_paths(out / RESULTS, out / "logs", runs["last"])[kind]
            assert download.suggested_filename == name
            assert Path(download.path()).read_bytes() == disk.read_bytes()
            if kind == "xlsx":  # it opens as a workbook, with the night's photos
                saved = tmp_path / download.suggested_filename
                download.save_as(saved)
                cells = [str(v) for sheet in openpyxl.load_workbook(saved).worksheets
                         for row in sheet.iter_rows(values_only=True) for v in row]
                assert SAME_NAME in cells and "return_5.jpg" in cells
        page.click("#earlier-runs summary")
        with page.expect_download() as caught:
            page.click(f"#earlier-runs tr[data-run='{runs['earlier']}'] a[data-kind=csv]")
        earlier = output_paths(out / RESULTS, out / "logs", runs["earlier"])["csv"]
        assert Path(caught.value.path()).read_bytes() == earlier.read_bytes()
        first.click()
        page.wait_for_selector("#review[data-loaded]")
        entries = page.locator("#queue li").all_inner_texts()
        assert len(entries) == count and len(set(entries)) == count, "no two entries look the same"
        named = {r["id"]: r["rel_name"] for r in waiting(out)}
        for li in page.locator("#queue li").all():
            assert named[int(li.get_attribute("data-id"))] in li.locator(".file").inner_text()
        assert sum(SAME_NAME in text for text in entries) == 2
        assert page.locator("#reviewer").count() == 0, "logged in: the clerk is the reviewer"
        page.keyboard.press("r")
        wait_until(page, "document.getElementById('toast').innerText.includes('set aside')")
        assert decisions(out)[0]["reviewer"] == "sarah"
        assert view.errors == []
        assert all(u.startswith((url, "data:")) for u in view.requests), "a request left the server"


def test_every_category_keeps_its_key_on_every_photo(open_site, browser):
    url, out, _ = open_site
    view = Page(browser)
    page = open_review(view, url)
    expected = dict(zip(KEYS, LABELS, strict=False)) | {"N": OTHER}
    seen_models = set()
    for _ in range(page.locator("#queue li").count()):  # every photo, whatever the model said: the same keys
        assert key_map(page) == expected
        model = page.locator("#choices button.model")
        assert model.count() == 1
        item = {r["id"]: r for r in waiting(out)}[current_id(page)]
        assert model.get_attribute("data-category") == item["category"]
        seen_models.add(item["category"])
        shown = page.locator("#choices button[data-category] kbd").all_inner_texts()
        assert shown == list(expected), "the key is written on its button"
        page.keyboard.press("s")
    assert len(seen_models) >= 2, "photos with different model answers were compared"
    target = current_id(page)
    page.keyboard.press("3")
    wait_until(page, f"document.getElementById('current').dataset.id !== '{target}'")
    [row] = decisions(out)
    assert (row["batch_file_id"], row["new_category"], row["reviewer"]) == (target, LABELS[2], "Sarah")
    assert row["action"] == ("confirmed" if row["old_category"] == LABELS[2] else "corrected")
    assert key_map(page) == expected
    assert view.errors == []


def test_the_name_field_types_while_in_it_and_never_swallows_a_key_after(open_site, browser):
    url, out, _ = open_site
    view = Page(browser)
    page = open_review(view, url, name=None)
    page.click("#reviewer")
    page.keyboard.type("Sa")
    page.keyboard.press("3")  # in the field: a character of the name
    assert page.input_value("#reviewer") == "Sa3" and decisions(out) == []
    page.fill("#reviewer", "Sarah")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "reviewer"
    before = current_id(page)
    page.keyboard.press("s")  # skip: the field is left, the key goes to the queue
    assert current_id(page) != before and page.input_value("#reviewer") == "Sarah"
    page.click("#reviewer")
    page.keyboard.press("Enter")  # leaves the field, decides nothing
    assert page.evaluate("document.activeElement.id") != "reviewer" and decisions(out) == []
    target = current_id(page)
    page.keyboard.press("3")
    wait_until(page, f"document.getElementById('current').dataset.id !== '{target}'")
    assert page.input_value("#reviewer") == "Sarah", "the 3 did not go into the name"
    assert [(r["batch_file_id"], r["new_category"], r["reviewer"]) for r in decisions(out)] == \
        [(target, LABELS[2], "Sarah")]
    confirm = current_id(page)
    page.keyboard.press("Enter")  # outside the field, Enter confirms the model's answer
    wait_until(page, f"document.getElementById('current').dataset.id !== '{confirm}'")
    assert decisions(out)[-1]["batch_file_id"] == confirm and decisions(out)[-1]["action"] == "confirmed"
    assert view.errors == []


def test_the_clerks_decisions_can_be_undone_after_a_reload(open_site, browser):
    url, out, _ = open_site
    view = Page(browser)
    page = open_review(view, url)
    rows = {r["id"]: r for r in waiting(out)}
    first = current_id(page)
    page.keyboard.press("1")
    wait_until(page, f"document.getElementById('current').dataset.id !== '{first}'")
    second = current_id(page)
    page.keyboard.press("n")  # Other: not one of ours
    wait_until(page, f"document.getElementById('current').dataset.id !== '{second}'")
    page.reload()
    page.wait_for_selector("#review[data-loaded]")  # the name comes back from this browser's memory
    listed = page.locator("#recent-list li")
    assert listed.count() == 2 and page.locator("#undo").is_visible()
    items = [int(listed.nth(i).get_attribute("data-item")) for i in range(2)]
    assert items == [second, first], "newest first"
    assert rows[second]["rel_name"] in listed.nth(0).inner_text() and "→ Other" in listed.nth(0).inner_text()
    placed = Path(rows[first]["dest_path"])
    listed.nth(1).locator("button").click()  # the older one, from the list
    wait_until(page, "document.getElementById('toast').innerText.includes('is back in')")
    assert current_id(page) == first and page.locator(f"#queue li[data-id='{first}']").count() == 1
    assert placed.is_file()
    page.locator("#meta").click()
    page.keyboard.press("u")  # the newest one, with the key
    wait_until(page, f"document.getElementById('current').dataset.id === '{second}'")
    assert Path(rows[second]["dest_path"]).is_file(), "back from Other/ to its folder"
    assert [r["undo_state"] for r in decisions(out)] == ["done", "done"]
    page.reload()
    page.wait_for_selector("#review[data-loaded]")
    assert page.locator("#recent-list li").count() == 0 and page.locator("#undo").is_hidden()
    assert view.errors == []


def test_a_photo_unusable_is_set_aside_for_a_retake_and_can_come_back(open_site, browser):
    url, out, _ = open_site
    view = Page(browser)
    page = open_review(view, url)
    total = page.locator("#queue li").count()
    target = current_id(page)
    placed = Path({r["id"]: r for r in waiting(out)}[target]["dest_path"])
    content = placed.read_bytes()
    view.shot(out.parent, "review_keys", full=False)
    page.click("#choices button[data-action=retake]")
    wait_until(page, "document.getElementById('toast').innerText.includes('take a new photo')")
    aside = out / "data" / "retake" / placed.name
    assert aside.read_bytes() == content and not placed.exists()
    assert page.locator("#queue li").count() == total - 1
    assert page.locator(f"#queue li[data-id='{target}']").count() == 0
    assert "1 to retake" in page.locator("#counts").inner_text()
    assert "unusable, retake" in page.locator("#recent-list li").first.inner_text()
    [row] = decisions(out)
    assert (row["action"], row["new_category"]) == ("retake", "")
    page.locator("#recent-list li button").first.click()
    wait_until(page, "document.getElementById('toast').innerText.includes('is back in')")
    assert placed.read_bytes() == content and not aside.exists()
    assert current_id(page) == target and page.locator("#queue li").count() == total
    assert view.errors == []


def test_the_refresh_keeps_the_earlier_runs_open_and_the_count_current(nights, browser, tmp_path):
    out = clone(nights["out"], tmp_path / "out")
    with dashboard(out, FASHION_DASHBOARD_REFRESH_SECONDS="1") as url:
        view = Page(browser)
        page = view.page
        page.goto(url + "/")
        page.click("#earlier-runs summary")
        count = len(waiting(out))
        item = waiting(out)[0]
        Path(item["dest_path"]).unlink()  # a photo moved away by hand leaves the queue
        link = "document.querySelector('#morning-review a')"
        wait_until(page, f"{link}.innerText.startsWith('{count - 1} photos')")
        assert page.locator("#earlier-runs").get_attribute("open") is not None, "still open after the refresh"
        assert view.errors == []


def _pick_list_of(html: str, filename: str) -> str | None:
    """The pick list (its heading: category → shelf) that lists ``filename``, from the report."""
    picks = html.split("<h2>Pick lists</h2>", 1)[1]
    for block in picks.split('<div class="pick">')[1:]:
        if f"<td>{filename}</td>" in block:
            return block.split("</h3>", 1)[0].removeprefix("<h3>")
    return None


def test_a_correction_in_the_queue_moves_the_photo_on_the_downloaded_report(open_site, browser, tmp_path):
    """The morning end to end: correct a photo with its key, then the night's report from the
    dashboard's download link lists it on the corrected category's shelf, not the model's."""
    import html as html_lib
    import json
    import time

    url, out, runs = open_site
    view = Page(browser)
    page = open_review(view, url)
    item = {r["id"]: r for r in waiting(out)}[current_id(page)]
    if item["run_id"] != runs["last"]:
        pytest.fail("the queue starts with the newest night")
    target = next(c for c in LABELS if c != item["category"])
    page.keyboard.press(dict(zip(LABELS, KEYS, strict=False))[target])
    wait_until(page, f"document.getElementById('current').dataset.id !== '{item['id']}'")
    locations = json.loads((ROOT / "config" / "locations.json").read_text())
    name = html_lib.escape(item["rel_name"])
    deadline = time.monotonic() + 60
    while True:  # the dashboard rewrites the night's reports in the background
        page.goto(url + "/")
        page.wait_for_selector("#morning")
        with page.expect_download() as caught:
            page.click("#morning-downloads a[data-kind=html]")
        report = Path(caught.value.path()).read_text(encoding="utf-8")
        heading = _pick_list_of(report, name)
        if heading and heading.startswith(html_lib.escape(target)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert heading is not None and heading.startswith(f"{html_lib.escape(target)} → "), heading
    assert html_lib.escape(locations.get(target, locations["default"])) in heading
    assert "Sarah" in report, "the reviewer is on the report"
    csv_file = output_paths(out / RESULTS, out / "logs", runs["last"])["csv"]
    assert target in csv_file.read_text(encoding="utf-8-sig")
    assert view.errors == []
