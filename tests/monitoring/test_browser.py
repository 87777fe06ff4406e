"""The dashboard and the HTML reports in headless Chromium (Debian's package, driven by Playwright).

The page must load with no console error and no request leaving the server,
draw every chart, refresh itself, list the recent predictions (a file name that
is markup shown as text) and a review decision made with the keyboard must move
the photo and be recorded. Screenshots go to the test's folder; with
UPDATE_SCREENSHOTS=1 they also replace docs/screenshots/*.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from alert_servers import free_port
from batch_support import BATCH_KEY, ROOT, ApiServer, bad_inputs, clean_env, run_batch, write_file

from .history_support import MONITORING, clone, connect, photo_pool, run_script

CANDIDATES = (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
              "/usr/bin/chromium")
CHROMIUM = next((p for p in CANDIDATES if p and Path(p).is_file()), None)
if CHROMIUM is None:
    pytest.skip("browser tests need Chromium: apt-get install chromium (or set CHROMIUM=/path/to/chromium)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="pip install -r requirements-dev.txt (playwright)")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "docs" / "screenshots"
CHARTS = ("volume", "success_rate", "throughput", "confidence_mix", "category_mix", "last_categories",
          "last_confidence", "api_latency", "errors")
HOSTILE = "return_<img src=x onerror=alert(1)>.jpg"  # a legal file name; CSP would also report it


@pytest.fixture(scope="module")
def site(history, tmp_path_factory):
    """A copy of the history, the real API writing its calls into it, and the dashboard server on top."""
    base = tmp_path_factory.mktemp("site")
    out = clone(history["out"], base / "out")
    db = out / "logs" / "execution_history.db"
    with ApiServer(base, workers=1, FASHION_HISTORY_DB=str(db)) as api:
        photos = sorted((out / "data" / "processed_batches").rglob("*.jpg"))[:4]
        for photo in photos:  # a little API traffic for the latency chart
            with open(photo, "rb") as handle:
                answer = requests.post(api.url + "/predict", files={"file": handle}, timeout=30)
                assert answer.status_code == 200
        cut = photos[0].read_bytes()[:300]  # an API error for the error distribution
        assert requests.post(api.url + "/predict", files={"file": cut}, timeout=30).status_code == 400
        _batch_today(base, out, api.url)
        env = clean_env(FASHION_HISTORY_DB=str(db), FASHION_MONITORING_STATE_DIR=str(base / "state"),
                        FASHION_LOGS_DIR=str(out / "logs"))
        assert run_script("check_api_health.py", "--url", api.url, env=env).returncode == 0
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, str(MONITORING / "dashboard.py"), "--port", str(port), "--output-root",
             str(out)],
            cwd=ROOT, env=clean_env(API_URL=api.url, FASHION_DASHBOARD_REFRESH_SECONDS="1"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_up(url, server)
            yield {"url": url, "out": out, "folder": base}
        finally:
            server.terminate()
            server.wait(20)


def _batch_today(base: Path, out: Path, api_url: str) -> None:
    """A real run through the API now: three photos (one named like markup) and three bad files."""
    incoming = base / "incoming_today"
    bad_inputs(incoming)
    for name, photo in zip((HOSTILE, "return_a.jpg", "return_b.jpg"), photo_pool()[-3:], strict=True):
        write_file(incoming, name, photo.read_bytes())  # photos no earlier night used
    env = clean_env(API_URL=api_url, FASHION_BATCH_KEY=BATCH_KEY)
    result = run_batch(incoming, out, "--quiet", "--no-fallback", env=env)
    assert result.returncode == 0, result.stderr


def _wait_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dashboard exited: {server.stdout.read()}")
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError("the dashboard did not start")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression (Playwright's wait_for_function evals strings, which our CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"never true: {expression}")
        time.sleep(0.05)


class Page:
    """A page that records console errors, page errors and every request it makes."""

    def __init__(self, browser, width=1280, height=900):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def shot(self, folder: Path, name: str, full: bool = True) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SHOTS / path.name)
        return path


def test_dashboard_loads_draws_every_chart_and_refreshes(site, browser):
    view = Page(browser)
    page = view.page
    page.goto(site["url"] + "/?days=30")
    for name in CHARTS:
        chart = page.locator(f'svg[data-chart="{name}"]')
        assert chart.count() == 1, f"chart {name} missing"
        assert chart.locator("rect, circle").count() > 0, f"chart {name} drew nothing"
        assert chart.bounding_box()["width"] > 200
    assert "UP" in page.locator("#card-api b").inner_text()
    assert "health checks: 100.0% OK" in page.locator("#card-api").inner_text()
    wait_until(page, "Number(document.getElementById('overview').dataset.refreshes) >= 1")
    assert page.locator('svg[data-chart="volume"]').count() == 1, "the refresh lost the charts"
    page.select_option("#range", "7")
    wait_until(page, "document.getElementById('csv').href.endsWith('days=7')")
    wait_until(page, "document.body.innerText.includes('last 7 days')")
    assert page.url.endswith("?days=7")
    page.select_option("#range", "30")
    wait_until(page, "document.body.innerText.includes('last 30 days')")
    view.shot(site["folder"], "dashboard")
    assert view.errors == []
    assert all(u.startswith((site["url"], "data:")) for u in view.requests), "a request left the server"


def test_recent_predictions_and_error_distribution_are_shown(site, browser):
    view = Page(browser)
    page = view.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(site["url"] + "/?days=7")
    recent = page.locator("#recent-predictions")
    recent.scroll_into_view_if_needed()
    assert recent.is_visible()
    rows = recent.locator("tbody tr")
    assert rows.count() == 20
    assert recent.locator("td.file", has_text=HOSTILE).count() == 1, "the name is shown as text"
    assert recent.locator("td.file img").count() == 0, "and never becomes markup"
    assert recent.locator('tr[data-source="api"] td.source', has_text="/predict_batch").count() >= 1
    assert recent.locator('tr[data-source="batch"] .tier').count() >= 1
    tier_colour = recent.locator(".tier").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert tier_colour != "rgba(0, 0, 0, 0)", "the tier badge is coloured"
    chart = page.locator('#error-distribution svg[data-chart="errors"]')
    chart.scroll_into_view_if_needed()
    assert chart.is_visible() and chart.bounding_box()["height"] > 50
    labels = chart.locator("text").all_text_contents()
    for label in ("API 400 · truncated_image", "Batch · truncated_image", "Batch · empty_file"):
        assert label in labels, labels
    assert chart.locator("rect title").count() >= 4
    page.evaluate("document.getElementById('error-distribution').scrollIntoView()")
    view.shot(site["folder"], "recent_and_errors", full=False)
    assert view.errors == [] and dialogs == []


def test_a_keyboard_decision_moves_the_photo_and_is_recorded(site, browser):
    view = Page(browser)
    page = view.page
    page.goto(site["url"] + "/review")
    page.wait_for_selector("#review[data-loaded]")
    page.fill("#reviewer", "Sarah")
    page.locator("#meta").click()  # leave the name field: keys go to the queue
    wait_until(page, "document.getElementById('photo').complete && "
                     "document.getElementById('photo').naturalWidth > 0")
    view.shot(site["folder"], "review", full=False)
    first_id = int(page.locator("#current").get_attribute("data-id"))
    another = page.locator("#choices button[data-category]:not(.model)").first  # not the model's answer
    second_choice = another.get_attribute("data-category")
    page.keyboard.press(another.get_attribute("data-key"))  # its key, written on it
    page.wait_for_selector("#toast.show")
    assert "moved to " + second_choice in page.locator("#toast").inner_text()
    wait_until(page, f"document.getElementById('current').dataset.id !== '{first_id}'")
    confirm_id = int(page.locator("#current").get_attribute("data-id"))
    page.locator("#choices button.model").click()
    wait_until(page, "document.getElementById('toast').innerText.includes('confirmed')")
    with connect(site["out"]) as conn:
        rows = {r["batch_file_id"]: dict(r) for r in conn.execute("SELECT * FROM review_decisions")}
        source = conn.execute("SELECT dest_path FROM batch_files WHERE id = ?", (first_id,)).fetchone()[0]
    corrected, confirmed = rows[first_id], rows[confirm_id]
    assert (corrected["reviewer"], corrected["action"], corrected["new_category"]) == \
        ("Sarah", "corrected", second_choice)
    assert not Path(source).exists() and Path(corrected["new_path"]).is_file()
    assert Path(corrected["new_path"]).parent.name == second_choice
    assert confirmed["action"] == "confirmed" and confirmed["old_category"] == confirmed["new_category"]
    assert view.errors == []


def test_undo_puts_a_corrected_photo_back_on_disk_and_in_the_queue(site, browser):
    view = Page(browser)
    page = view.page
    page.goto(site["url"] + "/review")
    page.wait_for_selector("#review[data-loaded]")
    page.fill("#reviewer", "Priya")  # not Sarah: her decisions of the test before are hers to undo
    assert page.locator("#undo").is_hidden()
    item_id = int(page.locator("#current").get_attribute("data-id"))
    with connect(site["out"]) as conn:
        row = conn.execute("SELECT dest_path FROM batch_files WHERE id = ?", (item_id,)).fetchone()
    source = Path(row[0])
    content = source.read_bytes()
    another = page.locator("#choices button[data-category]:not(.model)").first
    new = another.get_attribute("data-category")
    another.click()
    wait_until(page, "document.getElementById('toast').innerText.includes('moved to')")
    assert not source.exists() and (source.parent.parent / new / source.name).is_file()
    assert page.locator(f"#queue li[data-id='{item_id}']").count() == 0
    page.locator("#undo").click()
    wait_until(page, "document.getElementById('toast').innerText.includes('is back in')")
    assert source.read_bytes() == content and not (source.parent.parent / new / source.name).exists()
    assert int(page.locator("#current").get_attribute("data-id")) == item_id
    assert page.locator(f"#queue li[data-id='{item_id}']").count() == 1 and page.locator("#undo").is_hidden()
    view.shot(site["folder"], "review_undone", full=False)
    page.locator("#meta").click()  # keys go to the queue: confirm with the model's key, take it back with U
    page.keyboard.press(page.locator("#choices button.model").get_attribute("data-key"))
    wait_until(page, "document.getElementById('toast').innerText.includes('confirmed')")
    page.keyboard.press("u")
    wait_until(page, f"document.getElementById('current').dataset.id === '{item_id}'")
    with connect(site["out"]) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM review_decisions WHERE batch_file_id = ?"
                                              " ORDER BY id", (item_id,))]
    assert [(r["action"], r["undo_state"], r["undone_by"]) for r in rows] == \
        [("corrected", "done", "Priya"), ("confirmed", "done", "Priya")]
    assert source.read_bytes() == content
    assert view.errors == []


def test_weekly_and_custom_reports_render_without_errors(site, browser):
    out, folder = site["out"], site["folder"] / "reports"
    assert run_script("weekly_report.py", "--output-root", str(out), "--output", str(folder)).returncode == 0
    assert run_script("custom_report.py", "--output-root", str(out), "--from",
                      time.strftime("%Y-%m-%d", time.localtime(time.time() - 13 * 86400)),
                      "--output", str(folder)).returncode == 0
    for report, name in ((next(folder.glob("weekly_summary_week*.html")), "weekly_report"),
                         (next(folder.glob("report_*.html")), "custom_report")):
        view = Page(browser, width=1100)
        view.page.goto(report.as_uri())
        charts = view.page.locator("svg[data-chart]")
        assert charts.count() == 6  # volume, success, throughput, confidence, Other share, categories
        for i in range(5):
            assert charts.nth(i).bounding_box()["width"] > 200
            assert charts.nth(i).locator("rect, circle").count() > 0
        view.shot(site["folder"], name)
        assert view.errors == [], view.errors
