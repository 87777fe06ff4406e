"""Crash safety: ``kill -9`` at random moments and at every critical point, then a rerun.

After each crash-and-rerun every input file must be in exactly one place
(its category folder or failed/), the results must hold exactly one right row
per file (same category as an uninterrupted run: the model is deterministic),
and the interrupted run's outputs carry its original run id.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
from batch_support import (
    RESULTS,
    bad_inputs,
    categories_by_hash,
    check_exactly_once,
    clean_env,
    copy_photos,
    db_rows,
    run_batch,
    start_batch,
    wait_for_line,
    write_file,
)

ARGS = ("--local", "--chunk-size", "3", "--concurrency", "2")
RANDOM_TRIALS = int(os.environ.get("BATCH_KILL_TRIALS", "8"))


def make_inputs(incoming: Path) -> dict[str, str]:
    inputs = copy_photos(incoming, 18) | copy_photos(incoming, 4, offset=30, subfolder="20261124")
    inputs |= bad_inputs(incoming)
    first = next(iter(sorted(incoming.glob("*.jpg"))))
    inputs |= write_file(incoming, "20261124/again.jpg", first.read_bytes())  # a duplicate
    return inputs


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Categories per content hash from an uninterrupted run, and how long such a run takes."""
    base = tmp_path_factory.mktemp("reference")
    inputs = make_inputs(base / "in")
    process = start_batch(base / "in", base / "out", *ARGS)
    wait_for_line(process, "Found")
    started = time.monotonic()
    process.wait(timeout=120)
    assert process.returncode == 0, process.stderr.read()
    rows = check_exactly_once(inputs, base / "in", base / "out")
    return {"categories": categories_by_hash(rows), "seconds": time.monotonic() - started}


def rerun_and_check(base: Path, inputs: dict[str, str], reference: dict, env=None) -> list[dict]:
    result = run_batch(base / "in", base / "out", *ARGS, env=env)
    assert result.returncode == 0, result.stderr
    rows = check_exactly_once(inputs, base / "in", base / "out", reference["categories"])
    return rows


@pytest.mark.parametrize("point, sync_every_chunk", [
    ("after_plan:1", True), ("after_plan:4", True), ("after_move:1", True), ("after_move:7", True),
    ("before_finish:3", True), ("after_finish:2", True), ("after_move:20", False), ("after_csv:1", False),
    ("after_finalize:1", False), ("after_alerts:1", False),
])
def test_kill_at_each_critical_point_then_rerun(tmp_path, reference, point, sync_every_chunk):
    """``sync_every_chunk``: the journal marks files done after each chunk; else moved files wait
    "planned" for the periodic sync (default: 1 s) and recovery must find them in place."""
    inputs = make_inputs(tmp_path / "in")
    interval = "0" if sync_every_chunk else "60"
    env = clean_env(FASHION_BATCH_CRASH_AT=point, FASHION_BATCH_SYNC_INTERVAL_SECONDS=interval)
    crashed = run_batch(tmp_path / "in", tmp_path / "out", *ARGS, env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    interrupted = db_rows(tmp_path / "out", "SELECT run_id FROM batch_run_state")
    assert len(interrupted) == 1
    run_id = interrupted[0]["run_id"]
    rows = rerun_and_check(tmp_path, inputs, reference)
    assert {r["_file"] for r in rows} == {f"batch_results_{run_id}.csv"}, \
        "the resumed run completes the interrupted run's results under its own id"
    assert [r["run_id"] for r in db_rows(tmp_path / "out", "SELECT run_id FROM batch_runs")] == [run_id]
    log = (tmp_path / "out" / "logs" / f"batch_{run_id}.log").read_text(encoding="utf-8")
    assert "BATCH PROCESSING RESUMED (attempt 2)" in log
    severities = [a["subject"] for a in db_rows(tmp_path / "out", "SELECT subject FROM alerts")]
    assert "Batch Processing Complete" in severities
    if not point.startswith(("after_finalize", "after_alerts")):
        assert "Batch Run Interrupted" in severities


def test_random_kill_nine_trials(tmp_path, reference):
    """Kill at a random moment (sometimes the rerun too), then finish; repeat."""
    seed = int(os.environ.get("BATCH_KILL_SEED", str(int(time.time()))))
    print(f"kill -9 trials: seed {seed} (BATCH_KILL_SEED to repeat), {RANDOM_TRIALS} trials")
    rng = random.Random(seed)
    window = reference["seconds"] * 1.3
    for trial in range(RANDOM_TRIALS):
        base = tmp_path / f"trial{trial}"
        inputs = make_inputs(base / "in")
        kills = 2 if rng.random() < 0.3 else 1
        for attempt in range(kills):
            process = start_batch(base / "in", base / "out", *ARGS)
            # A rerun of a run killed after its reports only sends alerts (no "Found" line),
            # and one killed after it closed finds nothing to do and may simply exit.
            wait_for_line(process, "Found" if attempt == 0 else "BATCH PROCESSING", exit_ok=attempt > 0)
            time.sleep(rng.uniform(0, window))
            process.kill()
            process.wait(timeout=60)
        rerun_and_check(base, inputs, reference)
        shutil.rmtree(base)


def test_kill_during_a_cross_filesystem_copy(tmp_path, reference):
    """Outputs on another filesystem (tmpfs): copy, fsync, verify, delete; killed in between."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a different filesystem than the temporary folder")
    out = Path(os.environ.get("BATCH_XFS_DIR", "")) if os.environ.get("BATCH_XFS_DIR") else None
    out = out or Path(shm / f"batch-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        for point in ("copied_before_unlink:3", "after_move:5"):
            base = tmp_path / point.replace(":", "_")
            inputs = make_inputs(base / "in")
            target = out / point.replace(":", "_")
            crashed = run_batch(base / "in", target, *ARGS, env=clean_env(FASHION_BATCH_CRASH_AT=point))
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr
            result = run_batch(base / "in", target, *ARGS)
            assert result.returncode == 0, result.stderr
            rows = check_exactly_once(inputs, base / "in", target, reference["categories"])
            methods = {r["move_method"] for r in db_rows(target, "SELECT move_method FROM batch_files")}
            assert "copy" in methods
            assert methods <= {"copy", "copy (recovered)", "recovered (already in place)"}
            assert all((target / r["destination"]).stat().st_dev != os.stat(base).st_dev for r in rows)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_outputs_of_a_resumed_run_replace_partial_ones(tmp_path, reference):
    inputs = make_inputs(tmp_path / "in")
    crashed = run_batch(tmp_path / "in", tmp_path / "out", *ARGS,
                        env=clean_env(FASHION_BATCH_CRASH_AT="after_csv:1"))
    assert crashed.returncode == -signal.SIGKILL
    results = tmp_path / "out" / RESULTS
    assert len(list(results.glob("batch_results_*.csv"))) == 1
    assert not list(results.glob("summary_*.json")), "killed before the summary"
    rerun_and_check(tmp_path, inputs, reference)
    assert len(list(results.glob("summary_*.json"))) == 1
    assert not [p for p in results.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_sigterm_is_recorded_and_the_run_resumed(tmp_path, reference):
    inputs = make_inputs(tmp_path / "in") | copy_photos(tmp_path / "in", 200, offset=100, subfolder="more")
    process = start_batch(tmp_path / "in", tmp_path / "out", "--local", "--chunk-size", "1",
                          "--concurrency", "1")
    wait_for_line(process, "Found")
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    [run] = db_rows(tmp_path / "out", "SELECT * FROM batch_runs")
    assert run["status"] == "failed" and "SIGTERM" in run["error_message"]
    rows = rerun_and_check(tmp_path, inputs, reference)
    [run] = db_rows(tmp_path / "out", "SELECT * FROM batch_runs")
    assert run["status"] in ("success", "partial") and run["total_images"] == len(rows) == len(inputs)
    assert "completed on attempt 2 after: Terminated: SIGTERM received" == run["error_message"]
    subjects = [a["subject"] for a in db_rows(tmp_path / "out", "SELECT subject FROM alerts")]
    assert "Batch Processing Failed" in subjects and "Batch Run Interrupted" not in subjects
