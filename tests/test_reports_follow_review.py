"""Reports follow the review: after a clerk's confirm, correction, "not ours" or undo, the run's
CSV, XLSX, JSON summary and HTML say where the photo is now and who decided (rewritten in the
background: the tests wait for it); a regeneration killed half-way is redone; the duplicate
message and the history use the corrected category.

A real --local batch (subprocess) on real dataset photos, the real review functions on the
real history database, files read back as a clerk's programs would.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from batch_support import RESULTS, ROOT, bad_inputs, clean_env, copy_photos, run_batch, sha256, write_file
from openpyxl import load_workbook

from fashion_classifier.monitoring.queries import History
from fashion_classifier.review import ReviewDB, pending_items
from fashion_classifier.review import decide as decide_now
from fashion_classifier.review import undo_decision as undo_now
from fashion_classifier.review.reports import reports_settled

RESULT_CSV = "batch_results_*.csv"


def decide(*args, **kwargs):
    """A decision, then the wait for the background rewrite it queued."""
    decision = decide_now(*args, **kwargs)
    assert reports_settled(60), "the reports were not rewritten within a minute"
    return decision


def undo_decision(*args, **kwargs):
    undo = undo_now(*args, **kwargs)
    assert reports_settled(60)
    return undo


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch):
    """The review hook reads the environment's settings: none from the outside world."""
    for name in [n for n in os.environ if n.startswith("FASHION_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def night(tmp_path):
    incoming, out = tmp_path / "in", tmp_path / "out"
    copy_photos(incoming, 24)
    bad_inputs(incoming)
    result = run_batch(incoming, out, "--local")
    assert result.returncode == 0, result.stderr
    db = ReviewDB(out / "logs" / "execution_history.db")
    yield {"out": out, "db": db, "processed": out / "data" / "processed_batches", "tmp": tmp_path}
    db.close()


def rows_by_name(out: Path) -> dict[str, dict]:
    """The CSV rows of every run so far, by file name."""
    rows = {}
    for path in sorted((out / RESULTS).glob(RESULT_CSV)):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows |= {r["filename"]: r for r in csv.DictReader(handle)}
    return rows


def summary(out: Path) -> dict:
    return json.loads(next((out / RESULTS).glob("summary_*.json")).read_text(encoding="utf-8"))


def html(out: Path) -> str:
    return next((out / RESULTS).glob("batch_report_*.html")).read_text(encoding="utf-8")


def xlsx_rows(out: Path) -> dict[str, dict]:
    sheet = load_workbook(next((out / RESULTS).glob("batch_results_*.xlsx")))["All results"]
    header = [c.value for c in sheet[1]]
    return {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}


def look_section(page: str) -> str:
    return page.split('id="look"', 1)[1].split("<h2", 1)[0]


def other_category(item) -> str:
    return next(c for c, _ in item.guesses if c not in (item.category, "Other"))


def test_confirm_and_correct_show_in_all_four_reports(night):
    out, db, processed = night["out"], night["db"], night["processed"]
    first, second = pending_items(db, processed)[:2]
    new = other_category(second)
    decide(db, processed, first.id, first.category, "Sarah")
    moved = decide(db, processed, second.id, new, "Tom")

    rows = rows_by_name(out)
    confirmed, corrected = rows[first.filename], rows[second.filename]
    assert (confirmed["category"], confirmed["review"], confirmed["reviewed_by"]) == \
        (first.category, "confirmed", "Sarah")
    assert confirmed["corrected_category"] == "" and confirmed["reviewed_at"]
    assert (corrected["category"], corrected["model_category"], corrected["corrected_category"]) == \
        (new, second.category, new)
    assert corrected["reviewed_by"] == "Tom" and corrected["review"] == "category corrected"
    assert corrected["folder"] == new and corrected["destination"] == f"data/processed_batches/{new}/" \
        + Path(moved.new_path).name
    assert sha256((out / corrected["destination"]).read_bytes()) == corrected["content_hash"]

    book = xlsx_rows(out)
    assert book[second.filename]["Category"] == new and book[second.filename]["Corrected to"] == new
    assert book[second.filename]["Reviewed by"] == "Tom" and book[second.filename]["Shelf"] == new
    assert book[first.filename]["Review"] == "confirmed"

    totals = summary(out)
    assert totals["review"]["decided"] == 2
    assert totals["review"]["by_action"] == {"confirmed": 1, "corrected": 1}
    assert totals["categories"][new] == sum(r["category"] == new for r in rows.values())
    assert totals["review"]["waiting"] == len(pending_items(db, processed))
    page = html(out)
    assert second.filename not in look_section(page) and first.filename not in look_section(page)
    reviewed = page.split('id="reviewed"', 1)[1].split("<h2", 1)[0]
    assert second.filename in reviewed and "Tom" in reviewed and "category corrected" in reviewed
    assert not list((out / RESULTS).glob(".reports_stale_*")), "a finished regeneration leaves no marker"


def test_not_ours_then_undo_puts_the_reports_back(night):
    out, db, processed = night["out"], night["db"], night["processed"]
    item = next(i for i in pending_items(db, processed) if i.category != "Other")  # a correction to Other
    before = rows_by_name(out)[item.filename]
    decide(db, processed, item.id, "Other", "Sarah")
    row = rows_by_name(out)[item.filename]
    assert (row["category"], row["folder"], row["corrected_category"]) == ("Other", "Other", "Other")
    assert row["review"] == "not one of ours" and row["reviewed_by"] == "Sarah"

    undo_decision(db, processed, "Sarah", item_id=item.id)
    row = rows_by_name(out)[item.filename]
    for column in ("category", "destination", "folder", "tier", "confidence"):
        assert row[column] == before[column], column
    assert row["reviewed_by"] == row["review"] == row["corrected_category"] == ""
    assert item.filename in look_section(html(out)), "undone: it needs a look again"
    assert summary(out)["review"]["decided"] == 0


def decide_in_subprocess(out: Path, item_id: int, category: str, crash_at: str) -> int:
    code = ("import sys; from pathlib import Path; from fashion_classifier.review import ReviewDB, decide; "
            "out = Path(sys.argv[1]); db = ReviewDB(out / 'logs' / 'execution_history.db'); "
            "decide(db, out / 'data' / 'processed_batches', int(sys.argv[2]), sys.argv[3], 'Night shift')")
    env = clean_env(FASHION_BATCH_CRASH_AT=crash_at, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-c", code, str(out), str(item_id), category], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode


def test_a_regeneration_killed_half_way_is_redone_by_the_next_decision(night):
    out, db, processed = night["out"], night["db"], night["processed"]
    first, second = pending_items(db, processed)[:2]
    old_xlsx = (next((out / RESULTS).glob("*.xlsx"))).read_bytes()
    new = other_category(first)
    assert decide_in_subprocess(out, first.id, new, "regenerate_after_csv:1") == -9  # SIGKILL

    # the decision stands; the CSV is the new whole file, the spreadsheet the old whole file
    assert rows_by_name(out)[first.filename]["category"] == new
    assert next((out / RESULTS).glob("*.xlsx")).read_bytes() == old_xlsx
    assert xlsx_rows(out)[first.filename]["Category"] == first.category
    assert [p.name for p in (out / RESULTS).glob(".reports_stale_*")] == \
        [f".reports_stale_{summary(out)['run_id']}"]
    assert not list((out / RESULTS).glob(".*.tmp")), "no half-written file is left behind"

    decide(db, processed, second.id, second.category, "Sarah")  # the next decision catches up
    assert xlsx_rows(out)[first.filename]["Category"] == new
    assert summary(out)["review"]["decided"] == 2
    assert not list((out / RESULTS).glob(".reports_stale_*"))


def test_the_command_line_redoes_a_stale_run(night):
    out, db, processed = night["out"], night["db"], night["processed"]
    item = pending_items(db, processed)[0]
    assert decide_in_subprocess(out, item.id, "Other", "regenerate_after_csv:1") == -9
    done = regenerate_cli(out, "--stale")
    assert done.returncode == 0 and "rewritten" in done.stdout, done.stderr
    assert xlsx_rows(out)[item.filename]["Category"] == "Other"
    assert not list((out / RESULTS).glob(".reports_stale_*"))
    unknown = regenerate_cli(out, "--run", "19990101_000000")
    assert unknown.returncode == 1 and "no reports to rewrite" in unknown.stderr
    helped = regenerate_cli(out, "--help")
    assert helped.returncode == 0 and "--stale" in helped.stdout


def regenerate_cli(out: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fashion_classifier.batch.outputs.regenerate", "--output-root", str(out)]
    return subprocess.run(command + list(args), cwd=ROOT, env=clean_env(PYTHONPATH=str(ROOT / "src")),
                          capture_output=True, text=True, timeout=60)


def test_next_nights_duplicate_and_the_history_use_the_corrected_category(night):
    out, db, processed = night["out"], night["db"], night["processed"]
    item = pending_items(db, processed)[0]
    new = other_category(item)
    moved = decide(db, processed, item.id, new, "Sarah")
    incoming = night["tmp"] / "next_night"
    write_file(incoming, "again.jpg", Path(moved.new_path).read_bytes())
    assert run_batch(incoming, out, "--local").returncode == 0
    duplicate = rows_by_name(out)["again.jpg"]
    assert duplicate["status"] == "duplicate"
    assert f"now data/processed_batches/{new}/" in duplicate["error_detail"]
    assert f"/{new}/" in duplicate["error"], "the clerk's sentence keeps where the earlier copy is"

    first_run = next(r for r in History(db).last_runs(5) if r.run_id == item.run_id)
    in_csv = [r for name, r in rows_by_name(out).items() if r["status"] == "success" and name != "again.jpg"]
    assert first_run.categories[new] == sum(r["category"] == new for r in in_csv)
    assert first_run.categories[item.category] == sum(r["category"] == item.category for r in in_csv)


def test_any_other_action_is_shown_in_words_and_a_photo_without_category_on_no_shelf(night):
    """A decision recorded as the review's "photo unusable, retake" is (no category, photo moved to
    data/retake/): the reports name the action and count the photo in no category."""
    from fashion_classifier.batch.outputs.regenerate import regenerate_run_reports
    from fashion_classifier.config import Config

    out, db, processed = night["out"], night["db"], night["processed"]
    item = pending_items(db, processed)[0]
    retake = out / "data" / "retake" / item.path.name
    retake.parent.mkdir(parents=True)
    item.path.rename(retake)
    db.execute("INSERT INTO review_decisions (batch_file_id, run_id, filename, content_hash, tier,"
               " confidence, old_category, new_category, action, reviewer, decided_at, old_path, new_path,"
               " state) VALUES (?, ?, ?, ?, ?, ?, ?, '', 'retake', 'Sarah', '2026-12-02T08:00:00', ?, ?,"
               " 'done')", (item.id, item.run_id, item.filename, item.content_hash, item.tier,
                            item.confidence, item.category, str(item.path), str(retake)))
    before = summary(out)["categories"]
    assert regenerate_run_reports(Config(root=out), item.run_id) == [item.run_id]
    row = rows_by_name(out)[item.filename]
    assert (row["category"], row["folder"], row["review"]) == ("", "retake", "photo unusable: take it again")
    assert row["destination"] == f"data/retake/{item.path.name}" and row["model_category"] == item.category
    after = summary(out)["categories"]
    assert "" not in after and after.get(item.category, 0) == before[item.category] - 1
    picks = html(out).split("<h2>Pick lists</h2>", 1)[1]
    assert item.filename not in picks, "a photo to take again is on no shelf"
    assert "photo unusable: take it again" in html(out).split('id="reviewed"', 1)[1]


def test_a_failing_rewrite_never_fails_the_decision_and_is_redone(night, caplog):
    out, db, processed = night["out"], night["db"], night["processed"]
    first, second = pending_items(db, processed)[:2]
    xlsx = next((out / RESULTS).glob("*.xlsx"))
    xlsx.unlink()
    xlsx.mkdir()  # the spreadsheet cannot be replaced: the rewrite fails half-way
    decision = decide(db, processed, first.id, "Other", "Sarah")
    assert decision.new_category == "Other" and Path(decision.new_path).is_file(), "the decision stands"
    assert "could not be brought up to date" in caplog.text
    assert list((out / RESULTS).glob(".reports_stale_*")), "marked for the next rewrite"
    xlsx.rmdir()
    decide(db, processed, second.id, second.category, "Sarah")
    assert xlsx_rows(out)[first.filename]["Category"] == "Other"
    assert not list((out / RESULTS).glob(".reports_stale_*"))


def test_a_decision_a_crash_left_planned_rewrites_the_reports_when_finished(night):
    """The crash came after the decision was committed, before the photo moved (and before the
    reports were marked): finishing it at the next start (resolve_planned) rewrites them too."""
    from fashion_classifier.review import decisions as decisions_module
    from fashion_classifier.review import resolve_planned

    out, db, processed = night["out"], night["db"], night["processed"]
    item = next(i for i in pending_items(db, processed) if i.category != "Other")
    new = other_category(item)
    dest = decisions_module._free_name(db, processed / new, item.path)
    decisions_module._insert(db, item, new, "corrected", "Night shift", dest)  # what the crash left
    assert rows_by_name(out)[item.filename]["category"] == item.category
    assert resolve_planned(db) == 1
    assert reports_settled(60)
    row = rows_by_name(out)[item.filename]
    assert (row["category"], row["corrected_category"], row["reviewed_by"]) == (new, new, "Night shift")
    assert dest.is_file() and not item.path.exists()
