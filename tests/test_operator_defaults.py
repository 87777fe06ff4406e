"""A new operator's first hour: the README's commands typed with a Python that is not the
project's, checkers that crash, the cron script from a terminal, the plain-host units and
install order, and what the checks and the dashboard say when no alert channel is set."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from batch_support import clean_env, copy_photos

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"


def outside_pythons() -> list[Path]:
    """Interpreters that are not the project's environment (the system's, the venv's base)."""
    candidates = [Path("/usr/bin/python3"), Path(sys.base_prefix) / "bin" / "python3"]
    ours = Path(sys.executable).resolve()
    return [p for p in dict.fromkeys(candidates) if p.is_file() and p.resolve() != ours]


def lacks_numpy(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import numpy"], capture_output=True).returncode != 0


@pytest.fixture(scope="module")
def outside_python() -> Path:
    found = outside_pythons()
    if not found:
        pytest.skip("no Python outside the project's environment on this machine")
    return next((p for p in found if lacks_numpy(p)), found[0])


def readme_commands() -> list[list[str]]:
    """``python <script> ...`` and ``.venv/bin/python -m ...`` lines of the README's code blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        for line in block.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] in (["python"], [".venv/bin/python"]):
                commands.append(words)
    for inline in re.findall(r"`((?:python|\.venv/bin/python) [^`]+)`", text):
        commands.append(inline.replace("…", "").split())
    return [c for c in commands if len(c) > 1 and (c[1].endswith(".py") or c[1] == "-m")]


def test_the_readme_shows_python_commands():
    commands = readme_commands()
    scripts = {c[1] for c in commands if c[0] == "python"}
    assert {"src/batch_processor.py", "monitoring/check_api_health.py", "monitoring/dashboard.py"} <= scripts


def test_every_readme_python_command_starts_as_typed_with_another_python(outside_python, tmp_path):
    """Typed with the system's Python: the script runs itself in .venv (its --help proves it ran)."""
    if not (VENV / "bin" / "python").is_file():
        pytest.skip(f"no {VENV}: 'make run' makes it (CI and make test always do)")
    seen = set()
    for words in readme_commands():
        target = tuple(words[1:3] if words[1] == "-m" else words[1:2])
        if target in seen:
            continue
        seen.add(target)
        python = str(outside_python) if words[0] == "python" else words[0]
        result = subprocess.run([python, *target, "--help"], cwd=ROOT, env=clean_env(HOME=str(tmp_path)),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (words, result.stderr[-1500:])
        assert "usage" in (result.stdout + result.stderr).lower(), words


def test_an_entry_script_reexecutes_itself_in_the_project_venv(outside_python, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'src')!r})\n"
                     "from fashion_classifier.entry import use_project_venv\n"
                     "use_project_venv(__file__)\nprint('PREFIX', sys.prefix)\n")
    venv = Path(sys.prefix)  # the environment running these tests stands in for .venv
    result = subprocess.run([str(outside_python), str(probe), "--flag"],
                            env=clean_env(FASHION_VENV=str(venv)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"PREFIX {venv}" in result.stdout


def test_without_an_environment_it_says_what_to_do(outside_python, tmp_path):
    if not lacks_numpy(outside_python):
        pytest.skip(f"{outside_python} has the packages itself: nothing to advise")
    result = subprocess.run([str(outside_python), "src/batch_processor.py", "--help"], cwd=ROOT,
                            env=clean_env(FASHION_VENV=str(tmp_path / "no-venv")), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "make run" in result.stderr and "lacks numpy" in result.stderr


@pytest.mark.parametrize("script", ["check_api_health.py", "check_batch_health.py"])
def test_a_checker_that_crashes_exits_2_not_1(script, tmp_path):
    result = subprocess.run([sys.executable, f"monitoring/{script}", "--no-alerts"], cwd=ROOT,
                            env=clean_env(FASHION_HEALTH_CHECK_TIMEOUT_SECONDS="soon",
                                          FASHION_ALERT_NO_RUN_HOURS="a while",
                                          FASHION_LOGS_DIR=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CRITICAL - the check itself failed" in result.stdout
    assert "Traceback" in result.stderr


# --- alerts that would reach nobody ------------------------------------------------------------
NO_CHANNEL = "no alert channel is configured"


SLACK = "http://127.0.0.1:9/x"


@pytest.mark.parametrize(("settings", "said"), [({}, True), ({"FASHION_SLACK_WEBHOOK_URL": SLACK}, False),
                                                ({"FASHION_SMTP_HOST": "127.0.0.1"}, True)])
def test_the_batch_health_check_says_when_alerts_reach_nobody(tmp_path, settings, said):
    result = subprocess.run([sys.executable, "monitoring/check_batch_health.py", "--no-alerts",
                             "--output-root", str(tmp_path)], cwd=ROOT, env=clean_env(**settings),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1, 2) and "Traceback" not in result.stderr, result.stderr
    assert (NO_CHANNEL in result.stdout) is said, result.stdout


def test_the_api_health_check_says_when_alerts_reach_nobody(tmp_path):
    result = subprocess.run([sys.executable, "monitoring/check_api_health.py", "--no-alerts",
                             "--url", "http://127.0.0.1:9", "--output-root", str(tmp_path)], cwd=ROOT,
                            env=clean_env(), capture_output=True, text=True, timeout=60)
    assert NO_CHANNEL in result.stdout, result.stdout


@pytest.mark.parametrize(("extra", "shown"), [({}, True), ({"slack_webhook_url": SLACK}, False)])
def test_the_dashboard_says_when_alerts_reach_nobody(tmp_path, extra, shown):
    from fashion_classifier.config import Config
    from fashion_classifier.dashboard import create_app
    from fashion_classifier.monitoring.common import OUTPUT_FIELDS

    base = Config()
    paths = {name: tmp_path / getattr(base, name) for name in OUTPUT_FIELDS}
    config = replace(base, api_url="http://127.0.0.1:9", **paths, **extra)
    app = create_app(config)
    try:
        page = app.test_client().get("/").get_data(as_text=True)
    finally:
        app.extensions["dashboard_db"].close()
    assert ('id="no-alert-channel"' in page) is shown
    if shown:
        assert "FASHION_SLACK_WEBHOOK_URL" in page


# --- the cron script from a terminal ----------------------------------------------------------------
def test_the_cron_script_tells_a_person_at_a_terminal_where_the_log_went(tmp_path):
    if not shutil.which("flock"):
        pytest.skip("flock(1) from util-linux is needed by the cron script")
    home = tmp_path / "project"
    (home / "config").mkdir(parents=True)
    shutil.copy2(ROOT / "run_batch_processing.sh", home)
    for name in ("src", "models", "deploy"):
        (home / name).symlink_to(ROOT / name)
    incoming = tmp_path / "incoming"
    copy_photos(incoming, 1)
    (home / "config" / "batch.env").write_text(
        f"FASHION_VENV={Path(sys.executable).parent.parent}\nFASHION_INCOMING_DIR={incoming}\n"
        "FASHION_MIN_FILE_AGE_SECONDS=0\nAPI_URL=http://127.0.0.1:9\nFASHION_API_RETRIES=0\n")
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(home / "run_batch_processing.sh"), "--output-root", str(tmp_path / "out"),
                                "--no-alerts"], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                               env=clean_env())
    os.close(follower)
    shown = b""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            shown += data
        elif process.poll() is not None:
            break
    process.wait(30)
    os.close(leader)
    text = shown.decode()
    log = home / "logs" / "cron_batch.log"
    assert f"output is appended to {log}" in text, text
    assert "finished with exit code 0" in text and "BATCH PROCESSING" not in text, text
    assert "BATCH PROCESSING COMPLETE" in log.read_text()


# --- plain host: the units and the install steps ------------------------------------------------------
def test_the_dashboard_unit_serves_the_dashboard(tmp_path):
    unit = (ROOT / "deploy" / "fashion-dashboard.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1).split()
    assert exec_start[0] == "/opt/fashion-classifier/.venv/bin/python"
    assert "EnvironmentFile=-/opt/fashion-classifier/config/app.env" in unit and "User=fashion" in unit
    from alert_servers import free_port

    port = free_port()
    command = [sys.executable, *exec_start[1:]]  # the unit's command, from its WorkingDirectory
    env = clean_env(FASHION_DASHBOARD_PORT=str(port), FASHION_HISTORY_DB=str(tmp_path / "h.db"),
                    FASHION_LOGS_DIR=str(tmp_path))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline, page = time.monotonic() + 60, None
        while time.monotonic() < deadline and page is None:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            except requests.ConnectionError:
                time.sleep(0.3)
        assert page is not None and page.status_code == 200 and "Review" in page.text
    finally:
        process.terminate()
        process.wait(30)


def test_the_plain_host_install_steps_are_in_a_working_order():
    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    block = text.split("**Plain host (systemd + cron).**", 1)[1].split("```")[1]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    chown = next(i for i, line in enumerate(lines) if "chown" in line)
    starts = [i for i, line in enumerate(lines) if "enable --now" in line]
    assert starts and all(chown < i for i in starts), lines
    assert any("fashion-dashboard.service" in line for line in lines)
    assert any("config/app.env" in line for line in lines)
    for unit in ("fashion-api.service", "fashion-dashboard.service"):
        assert (ROOT / "deploy" / unit).is_file()
    assert "reverse proxy" in text.lower() and "TLS" in text
