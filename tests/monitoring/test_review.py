"""The review queue on real batch results: listing, decisions, safe moves, crash recovery, export."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from batch_support import sha256

from fashion_classifier.data.prepare import read_split
from fashion_classifier.labels import CATEGORIES
from fashion_classifier.review import (
    AlreadyDecided,
    CannotUndo,
    DecisionNotFound,
    InvalidCategory,
    MoveFailed,
    NotInQueue,
    ReviewDB,
    ReviewError,
    decide,
    pending_items,
    resolve_planned,
    undo_decision,
)
from fashion_classifier.review import decisions as decisions_module
from fashion_classifier.review import undo as undo_module
from fashion_classifier.training.arrays import load_arrays

from .history_support import connect, run_script


@pytest.fixture
def review(history_copy):
    db = ReviewDB(history_copy / "logs" / "execution_history.db")
    yield db, history_copy / "data" / "processed_batches", history_copy
    db.close()


def decision_rows(out) -> list[dict]:
    with connect(out) as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM review_decisions ORDER BY id")]


def other_category(item) -> str:
    return next(c for c, _ in item.guesses if c != item.category)


def test_queue_lists_the_unsure_photos_still_in_their_folders(review):
    db, processed, out = review
    with connect(out) as conn:
        expected = {r["id"]: r for r in conn.execute(
            "SELECT * FROM batch_files WHERE status = 'success' AND state = 'done'"
            " AND tier IN ('check', 'review')")}
    items = pending_items(db, processed)
    assert {i.id for i in items} == set(expected) and len(items) > 3
    runs = [i.run_id for i in items]
    assert runs == sorted(runs, reverse=True), "newest run first"
    for item in items:
        row = expected[item.id]
        assert item.path == Path(row["dest_path"]) and item.path.parent.name == item.category
        assert [c for c, _ in item.guesses][0] == item.category and len(item.guesses) == len(CATEGORIES) + 1
        assert [p for _, p in item.guesses] == sorted((p for _, p in item.guesses), reverse=True)
    items[0].path.unlink()  # a photo someone moved away by hand is not offered
    assert items[0].id not in {i.id for i in pending_items(db, processed)}


def test_correction_moves_the_photo_and_records_who_when_old_new(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    content = sha256(item.path.read_bytes())
    new = other_category(item)
    decision = decide(db, processed, item.id, new, "  Sarah  ")
    target = processed / new / item.path.name
    assert not item.path.exists() and target.is_file() and sha256(target.read_bytes()) == content
    [row] = decision_rows(out)
    assert (row["reviewer"], row["old_category"], row["new_category"], row["action"], row["state"]) == \
        ("Sarah", item.category, new, "corrected", "done")
    assert row["old_path"] == str(item.path) and row["new_path"] == str(target) == decision.new_path
    assert row["decided_at"][:4].isdigit() and row["content_hash"] == content
    assert item.id not in {i.id for i in pending_items(db, processed)}
    with pytest.raises(AlreadyDecided, match="already reviewed by Sarah"):
        decide(db, processed, item.id, item.category, "Bob")


def test_confirmation_moves_nothing(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    before = sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file())
    decision = decide(db, processed, item.id, item.category, "Sarah")
    assert decision.action == "confirmed" and item.path.is_file()
    assert sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file()) == before
    assert decision_rows(out)[0]["new_path"] == str(item.path)


def test_a_name_taken_in_the_new_folder_gets_a_suffix_never_an_overwrite(review):
    db, processed, _ = review
    item = pending_items(db, processed)[0]
    new = other_category(item)
    (processed / new).mkdir(exist_ok=True)
    squatter = processed / new / item.path.name
    squatter.write_bytes(b"someone else's photo")
    decision = decide(db, processed, item.id, new, "Sarah")
    stem, ext = os.path.splitext(item.path.name)
    assert Path(decision.new_path) == processed / new / f"{stem}_2{ext}"
    assert squatter.read_bytes() == b"someone else's photo"


def test_two_clerks_deciding_the_same_photo_move_it_once(review):
    db, processed, _ = review
    item = pending_items(db, processed)[0]
    choices = [c for c, _ in item.guesses if c != item.category][:2]
    results, barrier = [], threading.Barrier(2)

    def clerk(name, category):
        barrier.wait()
        try:
            results.append(decide(db, processed, item.id, category, name))
        except ReviewError as exc:
            results.append(exc)

    threads = [threading.Thread(target=clerk, args=a) for a in (("Sarah", choices[0]), ("Bob", choices[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and isinstance(next(r for r in results if r not in wins), AlreadyDecided)
    copies = [p for p in processed.rglob(item.path.name)]
    assert copies == [Path(wins[0].new_path)]


def test_bad_requests_change_nothing(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    with pytest.raises(InvalidCategory):
        decide(db, processed, item.id, "Trousers", "Sarah")
    with pytest.raises(ReviewError, match="who is reviewing"):
        decide(db, processed, item.id, item.category, "   ")
    with pytest.raises(NotInQueue):
        decide(db, processed, 10 ** 9, item.category, "Sarah")
    with connect(out) as conn:  # an auto-approved photo is not in the queue
        auto = conn.execute("SELECT id, category FROM batch_files WHERE tier = 'auto' LIMIT 1").fetchone()
    with pytest.raises(NotInQueue):
        decide(db, processed, auto["id"], auto["category"], "Sarah")
    assert decision_rows(out) == [] and item.path.is_file()


def test_a_failed_move_leaves_the_photo_undecided(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    new = other_category(item)
    blocker = processed / new
    if blocker.is_dir():  # make the folder impossible to use: a file where the folder should be
        for child in blocker.iterdir():
            child.rename(processed / item.category / f"moved_{child.name}")
        blocker.rmdir()
    blocker.write_bytes(b"not a folder")
    with pytest.raises(MoveFailed):
        decide(db, processed, item.id, new, "Sarah")
    assert item.path.is_file() and decision_rows(out) == []
    assert item.id in {i.id for i in pending_items(db, processed)}


def _planned(db, processed, item, category):
    """The state a crash leaves: the decision committed, the move not (or not fully) done."""
    dest = decisions_module._free_name(db, processed / category, item.path)
    decision_id, _ = decisions_module._insert(db, item, category, "corrected", "Sarah", dest)
    dest.parent.mkdir(exist_ok=True)
    return decision_id, dest


def test_decisions_interrupted_by_a_crash_are_finished(review):
    db, processed, out = review
    a, b, c = pending_items(db, processed)[:3]
    _, dest_a = _planned(db, processed, a, other_category(a))  # crashed before the move
    _, dest_b = _planned(db, processed, b, other_category(b))  # crashed after the rename
    b.path.rename(dest_b)
    _, dest_c = _planned(db, processed, c, other_category(c))  # crashed between link and unlink
    os.link(c.path, dest_c)
    assert resolve_planned(db) == 3
    for item, dest in ((a, dest_a), (b, dest_b), (c, dest_c)):
        assert dest.is_file() and not item.path.exists()
    assert [r["state"] for r in decision_rows(out)] == ["done"] * 3
    assert resolve_planned(db) == 0


def test_corrections_export_is_a_training_split(review):
    db, processed, out = review
    items = pending_items(db, processed)[:3]
    labels = {}
    for i, item in enumerate(items):
        label = item.category if i == 0 else other_category(item)
        decide(db, processed, item.id, label, "Sarah")
        labels[item.content_hash[:16]] = label
    result = run_script("export_corrections.py", "--output-root", str(out))
    assert result.returncode == 0, result.stderr
    assert "3 labelled photos (2 corrected, 1 confirmed)" in result.stdout
    folder = out / "data" / "corrections"
    records = read_split(folder, "corrections")
    assert {r.id: r.label for r in records} == labels
    for record in records:
        assert sha256((folder / record.path).read_bytes()) == record.sha256
    answers = (*CATEGORIES, "Other")  # a clerk's "not ours" is a label too (the model's own list)
    x, y = load_arrays(records, folder, (48, 64), labels=answers)  # the training code's own loader
    assert x.shape == (3, 48, 64, 3) and [answers[i] for i in y] == [r.label for r in records]
    only = run_script("export_corrections.py", "--output-root", str(out), "--corrected-only")
    assert only.returncode == 0 and len(read_split(folder, "corrections")) == 2
    assert len(list((folder / "images").iterdir())) == 2, "the confirmed photo's copy was not removed"


# --- undo -------------------------------------------------------------------------------


def test_undoing_a_correction_puts_the_photo_back_and_in_the_queue(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    content = item.path.read_bytes()
    decision = decide(db, processed, item.id, other_category(item), "Sarah")
    assert not item.path.exists()
    undo = undo_decision(db, processed, " Bob ", item_id=item.id)
    assert undo.path == str(item.path) and item.path.read_bytes() == content
    assert not Path(decision.new_path).exists()
    [row] = decision_rows(out)  # the decision is kept, marked undone
    assert (row["state"], row["undo_state"], row["undone_by"], row["undo_path"]) == \
        ("done", "done", "Bob", str(item.path))
    assert row["undone_at"][:4].isdigit() and row["new_path"] == decision.new_path
    back = {i.id: i for i in pending_items(db, processed)}[item.id]
    assert back.path == item.path
    again = decide(db, processed, item.id, item.category, "Bob")  # decided again, a second row
    assert again.action == "confirmed" and item.path.read_bytes() == content
    assert [(r["action"], r["undo_state"]) for r in decision_rows(out)] == [("corrected", "done"),
                                                                            ("confirmed", None)]
    with pytest.raises(AlreadyDecided, match="Bob"):
        decide(db, processed, item.id, other_category(item), "Sarah")


def test_undoing_a_confirmation_moves_nothing(review):
    db, processed, out = review
    item = pending_items(db, processed)[0]
    before = sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file())
    decision = decide(db, processed, item.id, item.category, "Sarah")
    undo = undo_decision(db, processed, "Sarah", decision_id=decision.id)
    assert undo.path == str(item.path) and undo.action == "confirmed"
    assert sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file()) == before
    assert item.id in {i.id for i in pending_items(db, processed)}
    assert decision_rows(out)[0]["undo_state"] == "done"


def test_undo_refuses_unknown_twice_and_a_photo_moved_away(review):
    db, processed, out = review
    a, b = pending_items(db, processed)[:2]
    with pytest.raises(DecisionNotFound):
        undo_decision(db, processed, "Sarah", decision_id=10 ** 9)
    with pytest.raises(DecisionNotFound):
        undo_decision(db, processed, "Sarah", item_id=a.id)  # not decided
    decision = decide(db, processed, a.id, other_category(a), "Sarah")
    undo_decision(db, processed, "Sarah", decision_id=decision.id)
    for how in ({"decision_id": decision.id}, {"item_id": a.id}):
        with pytest.raises(CannotUndo, match="already undone by Sarah") as caught:
            undo_decision(db, processed, "Bob", **how)
        assert caught.value.status == 409
    moved = decide(db, processed, b.id, other_category(b), "Sarah")
    elsewhere = processed.parent / "moved_by_hand.jpg"
    Path(moved.new_path).rename(elsewhere)
    before = sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file())
    with pytest.raises(CannotUndo, match="no longer at .*nothing was moved") as caught:
        undo_decision(db, processed, "Sarah", item_id=b.id)
    assert caught.value.status == 409 and elsewhere.is_file() and not b.path.exists()
    assert sorted(p.relative_to(processed) for p in processed.rglob("*") if p.is_file()) == before
    assert decision_rows(out)[1]["undo_state"] is None, "the decision stands"
    with pytest.raises(ReviewError, match="who is reviewing"):
        undo_decision(db, processed, " ", item_id=b.id)


def test_undo_never_overwrites_a_file_that_took_the_old_name(review):
    db, processed, _ = review
    item = pending_items(db, processed)[0]
    content = item.path.read_bytes()
    decision = decide(db, processed, item.id, other_category(item), "Sarah")
    item.path.write_bytes(b"a new photo with the same name")
    undo = undo_decision(db, processed, "Sarah", item_id=item.id)
    stem, ext = os.path.splitext(item.path.name)
    assert Path(undo.path) == item.path.parent / f"{stem}_2{ext}" and Path(undo.path).read_bytes() == content
    assert item.path.read_bytes() == b"a new photo with the same name"
    assert not Path(decision.new_path).exists()
    back = {i.id: i for i in pending_items(db, processed)}[item.id]
    assert back.path == Path(undo.path), "the queue knows the new name"
    redo = decide(db, processed, item.id, other_category(item), "Bob")
    assert Path(redo.new_path).read_bytes() == content and not Path(undo.path).exists()


def test_an_undo_interrupted_by_a_crash_is_finished(review):
    db, processed, out = review
    a, b, c = pending_items(db, processed)[:3]
    for item in (a, b, c):
        decide(db, processed, item.id, other_category(item), "Sarah")
    rows = {r["batch_file_id"]: r for r in decision_rows(out)}

    def planned(item):  # the state a crash leaves: the undo committed, the move not (fully) done
        row = rows[item.id]
        undo_module._claim(db, row, "Bob", item.path, "planned")
        return Path(row["new_path"])

    planned(a)  # crashed before the move
    planned(b).rename(b.path)  # crashed after the rename
    os.link(planned(c), c.path)  # crashed between link and unlink
    assert not {a.id, b.id, c.id} & {i.id for i in pending_items(db, processed)}, "not back until done"
    with pytest.raises(CannotUndo):
        undo_decision(db, processed, "Bob", item_id=a.id)
    assert resolve_planned(db) == 3
    for item in (a, b, c):
        assert item.path.is_file() and not Path(rows[item.id]["new_path"]).exists()
    assert [r["undo_state"] for r in decision_rows(out)] == ["done"] * 3
    assert {a.id, b.id, c.id} <= {i.id for i in pending_items(db, processed)}
    assert resolve_planned(db) == 0


def test_the_export_skips_undone_decisions(review):
    db, processed, out = review
    kept, undone = pending_items(db, processed)[:2]
    decide(db, processed, kept.id, other_category(kept), "Sarah")
    decide(db, processed, undone.id, other_category(undone), "Sarah")
    undo_decision(db, processed, "Sarah", item_id=undone.id)
    result = run_script("export_corrections.py", "--output-root", str(out))
    assert result.returncode == 0, result.stderr
    assert "1 labelled photos (1 corrected, 0 confirmed)" in result.stdout
    records = read_split(out / "data" / "corrections", "corrections")
    assert [r.id for r in records] == [kept.content_hash[:16]]
