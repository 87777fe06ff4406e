"""run_batch_processing.sh as cron runs it: empty environment, lock, stale lock, log file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_support import ROOT, check_exactly_once, copy_photos, csv_rows

SCRIPT = ROOT / "run_batch_processing.sh"


@pytest.fixture
def project(tmp_path):
    """A deployed copy of the project: the script, src/, models/ and deploy/ (linked), config/batch.env."""
    if not shutil.which("flock"):
        pytest.skip("flock(1) from util-linux is needed by the cron script")
    home = tmp_path / "project"
    (home / "config").mkdir(parents=True)
    shutil.copy2(SCRIPT, home / SCRIPT.name)
    for name in ("src", "models", "deploy"):
        (home / name).symlink_to(ROOT / name)
    incoming, out = tmp_path / "incoming", tmp_path / "out"
    (home / "config" / "batch.env").write_text(
        f"FASHION_VENV={Path(sys.executable).parent.parent}\n"
        f"FASHION_INCOMING_DIR={incoming}\n"
        "FASHION_MIN_FILE_AGE_SECONDS=0\n"
        "FASHION_FALLBACK_LOCAL=true\n"
        "API_URL=http://127.0.0.1:9\n"  # no API here: the batch falls back to in-process
        "FASHION_API_RETRIES=0\n")
    return {"home": home, "incoming": incoming, "out": out}


def cron_run(project, *args: str, wait: bool = True):
    """Like cron: ``env -i``, an absolute path, no terminal."""
    command = ["env", "-i", str(project["home"] / SCRIPT.name), "--output-root", str(project["out"]), *args]
    if wait:
        return subprocess.run(command, capture_output=True, text=True, timeout=180)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cron_log(project) -> str:
    return (project["home"] / "logs" / "cron_batch.log").read_text(encoding="utf-8")


def test_runs_from_an_empty_environment_and_logs(project):
    inputs = copy_photos(project["incoming"], 6)
    result = cron_run(project)
    assert result.returncode == 0, cron_log(project)
    assert result.stdout == "" and result.stderr == "", "everything goes to the log file"
    check_exactly_once(inputs, project["incoming"], project["out"])
    log = cron_log(project)
    assert "run_batch_processing: starting batch with" in log
    assert "BATCH PROCESSING COMPLETE" in log and "batch finished with exit code 0" in log
    assert "run " in log and "6 images, 6 successful" in log


def test_a_stale_lock_from_a_dead_run_is_cleared(project):
    inputs = copy_photos(project["incoming"], 3)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (project["home"] / "logs").mkdir()
    (project["home"] / "logs" / "run_batch_processing.lock").write_text(f"{dead.pid}\n")
    result = cron_run(project)
    assert result.returncode == 0, cron_log(project)
    assert f"stale lock from an earlier run detected (pid {dead.pid} is gone)" in cron_log(project)
    check_exactly_once(inputs, project["incoming"], project["out"])
    assert (project["home"] / "logs" / "run_batch_processing.lock").read_text() == ""


def test_two_cron_runs_never_overlap(project):
    inputs = copy_photos(project["incoming"], 250)
    first = cron_run(project, "--chunk-size", "1", "--concurrency", "1", wait=False)
    log_path = project["home"] / "logs" / "cron_batch.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Found 250 images" not in (
            log_path.read_text(encoding="utf-8") if log_path.exists() else ""):
        time.sleep(0.05)
    second = cron_run(project)
    still_running = first.poll() is None
    first.wait(timeout=180)
    assert still_running, "the first run must still be going for this test to mean anything"
    assert second.returncode == 0 and first.returncode == 0
    assert "another batch run is in progress" in cron_log(project)
    rows = check_exactly_once(inputs, project["incoming"], project["out"])
    assert len({r["_file"] for r in rows}) == 1, "one run did all the work"
    assert len(csv_rows(project["out"])) == 250


def test_documented_crontab_line_and_help(project):
    text = SCRIPT.read_text()
    assert "0 2 * * * /opt/fashion-classifier/run_batch_processing.sh" in text
    assert os.access(SCRIPT, os.X_OK)
    result = cron_run(project, "--help")
    assert result.returncode == 0 and "--dry-run" in cron_log(project)
