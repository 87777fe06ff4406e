"""The real container image, built with podman and run as containers: ``make image-test``.

Builds the Dockerfile (and deploy/proxy/Dockerfile) on a Debian base made here
(.ci/image-base.sh), from a copy of the checkout holding decoy secrets, then runs the
image as compose would (folders prepared by deploy/compose-setup.sh, config/app.env
as env file) but on the host's loopback (no container network here): the API, a
nightly batch against it, the cron wrappers, the dashboard, nginx in front.
Each stage prints its time. Skipped (with this reason) in the plain test suite.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(
    os.environ.get("FASHION_IMAGE_TEST") != "1",
    reason="the container image is tested by make image-test (podman, runc, mmdebstrap; a few minutes)",
)

APP_UID = 10001
IMAGE = "localhost/fashion-classifier:image-test"
PROXY_IMAGE = "localhost/fashion-classifier-proxy:image-test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
DECOY = "decoy-secret-5f1e2a"  # written into config/*.env of the build context
# clearly in-scope photos: whatever the model version, each must answer its folder's category
PHOTOS = [
    "Shirts/14762.jpg",
    "Watches/32376.jpg",
    "Handbags/3381.jpg",
    "Sunglasses/21309.jpg",
    "Heels/39613.jpg",
    "Kurtas/59361.jpg",
]
FIXTURES = ROOT / "tests" / "fixtures" / "photos"
TIMINGS: dict[str, float] = {}


@contextlib.contextmanager
def stage(name: str):
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS[name] = time.monotonic() - start
        print(f"\nimage-test: {name}: {TIMINGS[name]:.1f} s", flush=True)


def podman(*args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args[:3])} ... exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_photo(url: str, photo: Path, timeout: float = 30) -> dict:
    boundary = "imageTestBoundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{photo.name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(url: str, container: str, want: int = 200, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    status, body = 0, {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            status, body = get(url, timeout=2)
            if status == want:
                return body
        if podman("inspect", "-f", "{{.State.Running}}", container, check=False).stdout.strip() != "true":
            break
        time.sleep(0.3)
    logs = podman("logs", container, check=False)
    tail = logs.stdout[-3000:] + logs.stderr[-3000:]
    pytest.fail(f"{url} answered {status} {body}, not {want}; container log:\n{tail}")


# --- building ------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def timing_summary():
    yield
    print(
        "\nimage-test timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in TIMINGS.items())
    )


@pytest.fixture(scope="module")
def base_image() -> str:
    with stage("base image (.ci/image-base.sh)"):
        done = subprocess.run(
            ["bash", str(ROOT / ".ci" / "image-base.sh")], capture_output=True, text=True, timeout=900
        )
    assert done.returncode == 0, done.stderr
    print(done.stderr.strip())
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def build_context(tmp_path_factory) -> Path:
    """The checkout's files (tracked and new, not git-ignored) plus decoy secret files."""
    context = tmp_path_factory.mktemp("context")
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    for secret in ("config/app.env", "config/batch.env", "config/dashboard_users", "data/.env"):
        (context / secret).parent.mkdir(parents=True, exist_ok=True)
        (context / secret).write_text(f"FASHION_SMTP_PASSWORD={DECOY}\n")
    return context


def build(base: str, tag: str, context: Path) -> None:
    args = [
        "build",
        "--format",
        "docker",
        "--pull=never",
        "--network",
        "host",
        "--build-arg",
        f"BASE={base}",
        "--tag",
        tag,
    ]
    if HOST_CA.is_file():  # pip reaches PyPI only through this machine's CAs; for the RUN steps only
        args += ["--volume", f"{HOST_CA}:{HOST_CA}:ro"]
    podman(*args, str(context), timeout=1200)


@pytest.fixture(scope="module")
def image(base_image, build_context) -> str:
    with stage("build the app image"):
        build(base_image, IMAGE, build_context)
    size = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Size"]
    print(f"image-test: {IMAGE} is {size / 1e6:.0f} MB")
    return IMAGE


@pytest.fixture(scope="module")
def proxy_image(base_image, build_context) -> str:
    with stage("build the proxy image"):
        build(base_image, PROXY_IMAGE, build_context / "deploy" / "proxy")
    return PROXY_IMAGE


# --- running -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def containers():
    """Names of the containers this module started; all removed at the end."""
    started: list[str] = []
    yield started
    for name in started:
        podman("rm", "--force", "--time", "5", name, check=False)


def deployment(root: Path) -> Path:
    """A project folder as an operator prepares it: deploy/compose-setup.sh on it."""
    (root / "config").mkdir(parents=True)
    shutil.copy2(ROOT / "config" / "app.env.example", root / "config")
    done = subprocess.run(
        ["sh", str(ROOT / "deploy" / "compose-setup.sh"), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return root


def volumes(root: Path) -> list[str]:
    return [
        arg
        for name in ("data", "results", "logs", "exports")
        for arg in ("--volume", f"{root / name}:/app/{name}")
    ]


def run_args(root: Path, *extra: str) -> list[str]:
    return ["--network", "host", "--env-file", str(root / "config" / "app.env"), *volumes(root), *extra]


def start(containers: list, name: str, image: str, args: list[str], command: list[str] = ()) -> str:
    name = f"fc-image-test-{os.getpid()}-{name}"
    podman("rm", "--force", name, check=False)
    podman("run", "--detach", "--name", name, *args, image, *command)
    containers.append(name)
    return name


def logs_of(name: str) -> str:
    done = podman("logs", name, check=False)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return deployment(tmp_path_factory.mktemp("deploy") / "fashion")


@pytest.fixture(scope="module")
def api(image, project, containers) -> dict:
    """The API container (compose's api service) limited to one CPU, on a free loopback port."""
    port = free_port()
    with stage("API container start until /readyz"):
        name = start(containers, "api", image, run_args(project, "--cpus", "1", "--env", f"PORT={port}"))
        wait_for(f"http://127.0.0.1:{port}/readyz", name)
    return {"name": name, "port": port, "url": f"http://127.0.0.1:{port}"}


# --- the tests -----------------------------------------------------------------------------
INSPECT_SCRIPT = r"""
import hashlib, importlib.util, json, os, pwd, sys
from pathlib import Path
MODULES = ("tensorflow", "keras", "pip", "setuptools", "ai_edge_litert", "fashion_classifier")
SITE = Path("/opt/venv/lib").glob("python3*/site-packages/*.dist-info")


def holds_decoy(p):
    try:
        small_file = p.is_file() and not p.is_symlink() and p.stat().st_size < 5e7
        return small_file and sys.argv[1].encode() in p.read_bytes()
    except OSError:
        return False


found = {"uid": os.getuid(), "user": pwd.getpwuid(os.getuid()).pw_name}
found["modules"] = {m: importlib.util.find_spec(m) is not None for m in MODULES}
found["venv_dists"] = sorted(p.name.split("-")[0].lower() for p in SITE)
found["config_files"] = sorted(p.name for p in Path("/app/config").iterdir())
found["env_files"] = [str(p) for p in Path("/app").rglob("*")
                      if p.name.endswith(".env") or p.name.startswith("dashboard_users")]
found["decoy_in"] = [str(p) for top in ("/app", "/opt/venv", "/etc", "/home", "/root", "/tmp")
                     for p in Path(top).rglob("*") if holds_decoy(p)]
found["app_owner"] = Path("/app").stat().st_uid
found["app_writable"] = os.access("/app", os.W_OK)
found["writable"] = {d: os.access("/app/" + d, os.W_OK) for d in ("data", "results", "logs", "exports")}
found["ca"] = hashlib.sha256(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()).hexdigest()
print(json.dumps(found))
"""


def test_the_image_holds_no_secret_no_tensorflow_no_pip_and_runs_as_10001(image, base_image):
    with stage("inspect the image"):
        inspected = json.loads(podman("image", "inspect", image).stdout)[0]
        config = inspected["Config"]
        found = json.loads(
            podman("run", "--rm", "--no-healthcheck", image, "python", "-c", INSPECT_SCRIPT, DECOY).stdout
        )
        base_ca = podman("run", "--rm", base_image, "sha256sum", str(HOST_CA)).stdout.split()[0]
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert "/readyz" in " ".join(inspected["Healthcheck"]["Test"])  # kept: built in docker format
    assert found["uid"] == APP_UID and found["user"] == "app"
    assert found["modules"] == {
        "tensorflow": False,
        "keras": False,
        "pip": False,
        "setuptools": False,
        "ai_edge_litert": True,
        "fashion_classifier": True,
    }
    assert not {"pip", "setuptools", "wheel", "tensorflow"} & set(found["venv_dists"])
    assert found["config_files"] == ["batch.env.example", "category_codes.json", "locations.json"]
    assert found["env_files"] == [] and found["decoy_in"] == []
    assert not any(DECOY in line for line in config.get("Env", []))
    assert found["app_owner"] == 0 and found["app_writable"] is False
    assert found["writable"] == {"data": True, "results": True, "logs": True, "exports": True}
    assert found["ca"] == base_ca  # the host's CA bundle served the build only
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert DECOY not in history


def test_the_api_container_answers_predict_with_the_right_categories(api, project):
    status, ready = get(api["url"] + "/readyz")
    assert status == 200 and ready["status"] == "ready"
    assert podman("healthcheck", "run", api["name"], check=False).returncode == 0
    with stage("/predict on committed photos"):
        answers = {photo: post_photo(api["url"] + "/predict", FIXTURES / photo) for photo in PHOTOS}
    for photo, body in answers.items():
        assert body["category"] == photo.split("/")[0], (photo, body)
    status, health = get(api["url"] + "/health")
    assert status == 200 and health["history_writable"] is True
    assert logs_of(api["name"]).count("Booting worker") == 2, (
        "--cpus 1: one core + 1 workers, not the host's cores + 1"
    )
    db = project / "logs" / "execution_history.db"
    assert db.stat().st_uid == APP_UID
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the recorder writes off the request path
        with contextlib.closing(sqlite3.connect(db)) as conn:
            if conn.execute("SELECT count(*) FROM api_predictions").fetchone()[0] >= len(PHOTOS):
                break
        time.sleep(0.5)
    else:
        pytest.fail("the API did not record its predictions in logs/execution_history.db")


def incoming_photos(project: Path) -> list[Path]:
    incoming = project / "data" / "incoming" / "returns-day-1"
    incoming.mkdir()
    placed = []
    for photo in PHOTOS:
        target = incoming / f"{photo.split('/')[0].replace(' ', '_')}-{Path(photo).name}"
        shutil.copy2(FIXTURES / photo, target)
        os.utime(target, (time.time() - 3600,) * 2)  # copied an hour ago: old enough to take
        placed.append(target)
    for path in (incoming, *placed):  # as deploy/compose-setup.sh documents: the image's user owns them
        os.chown(path, APP_UID, APP_UID)
    return placed


def test_nightly_batch_in_the_image_sorts_photos_through_the_api(image, api, project):
    placed = incoming_photos(project)
    with stage("nightly batch in the image"):
        done = podman(
            "run",
            "--rm",
            "--no-healthcheck",
            *run_args(project, "--env", f"API_URL={api['url']}"),
            image,
            "sh",
            "deploy/nightly-loop.sh",
            "--once",
            "--no-fallback",
            check=False,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not any(path.exists() for path in placed)
    for photo in PHOTOS:
        category = photo.split("/")[0]
        moved = list((project / "data" / "processed_batches").rglob(f"*{Path(photo).name}"))
        assert len(moved) == 1 and category in moved[0].parts, (photo, moved)
    summary = json.loads(max((project / "results" / "batch_results").glob("summary_*.json")).read_text())
    assert summary["successful"] == len(PHOTOS) and summary["failed"] == 0
    assert "api" in json.dumps(summary["classifier_path"]).lower()
    with open(
        max((project / "results" / "batch_results").glob("batch_results_*.csv")), encoding="utf-8-sig"
    ) as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["category"] for row in rows) == sorted(photo.split("/")[0] for photo in PHOTOS)
    with contextlib.closing(sqlite3.connect(project / "logs" / "execution_history.db")) as conn:
        assert conn.execute("SELECT count(*) FROM batch_runs").fetchone()[0] == 1


def test_cron_wrappers_and_exports_work_inside_the_image(image, api, project):
    """The scripts find /opt/venv; uid 10001 writes logs/ and exports/ (the batch ran before)."""
    args = ["run", "--rm", "--no-healthcheck", *run_args(project, "--env", f"API_URL={api['url']}"), image]
    with stage("cron wrappers and exports in the image"):
        batch = podman(*args, "./run_batch_processing.sh", "--dry-run", check=False)
        health = podman(*args, "monitoring/run_monitoring.sh", "check_api_health.py", check=False)
        export = podman(*args, "python", "monitoring/export_inventory.py", check=False)
    cron_log = (project / "logs" / "cron_batch.log").read_text()
    assert batch.returncode == 0 and "starting batch with /opt/venv/bin/python" in cron_log, cron_log
    assert health.returncode == 0, (project / "logs" / "cron_monitoring.log").read_text()
    assert export.returncode == 0, export.stderr
    exported = (project / "exports" / "inventory_import.csv").read_text(encoding="utf-8-sig")
    assert len(exported.strip().splitlines()) == 1 + len(PHOTOS)


def start_dashboard(containers: list, name: str, image: str, root: Path, port: int, api_url: str = "") -> str:
    """compose's dashboard service, on the host's loopback (no login needed there)."""
    extra = ["--env", f"API_URL={api_url}"] if api_url else []
    args = ["--no-healthcheck", *run_args(root, *extra)]
    command = ["python", "monitoring/dashboard.py", "--host", "127.0.0.1", "--port", str(port)]
    return start(containers, name, image, args, command)


def test_the_dashboard_container_answers(image, api, project, containers):
    port = free_port()
    with stage("dashboard container"):
        name = start_dashboard(containers, "dashboard", image, project, port, api["url"])
        wait_for(f"http://127.0.0.1:{port}/healthz", name)
        status, overview = get(f"http://127.0.0.1:{port}/api/overview", timeout=15)
    assert status == 200 and overview["api"]["up"] is True  # the dashboard reaches the API container
    assert overview["last_run"]["successful"] == len(PHOTOS)  # and reads the batch's history
    assert "Permission denied" not in logs_of(name) and ".gunicorn" not in logs_of(name)


def test_volumes_the_image_user_cannot_write_are_reported_not_hidden(image, tmp_path, containers):
    """Folders left to root (compose-setup.sh not run): the API is not ready, the dashboard says why."""
    root = tmp_path / "unprepared"
    for folder in ("data", "results", "logs", "exports"):
        (root / folder).mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config" / "app.env").write_text("FASHION_TRUSTED_KEYS=k\n")
    api_port, dashboard_port = free_port(), free_port()
    with stage("unwritable volumes"):
        api = start(containers, "api-unwritable", image, run_args(root, "--env", f"PORT={api_port}"))
        not_ready = wait_for(f"http://127.0.0.1:{api_port}/readyz", api, want=503)
        dashboard = start_dashboard(containers, "dashboard-unwritable", image, root, dashboard_port)
        why = wait_for(f"http://127.0.0.1:{dashboard_port}/", dashboard, want=503)
    assert f"not writable by uid {APP_UID}" in not_ready["error"]
    assert get(f"http://127.0.0.1:{api_port}/health")[1]["history_writable"] is False
    assert "cannot open its history database" in why["error"] and f"uid {APP_UID}" in why["error"]
    assert podman("inspect", "-f", "{{.State.Running}}", dashboard).stdout.strip() == "true"  # no crash loop


def slow_uploads(port: int, count: int) -> list[socket.socket]:
    """Clients that send the headers and a little of a photo upload, then stall."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 200000\r\n\r\n--b\r\n"
        )
        clients.append(client)
    return clients


def answers_within(url: str, seconds: float) -> bool:
    try:
        return get(url, timeout=seconds)[0] == 200
    except OSError:  # timed out: every worker waits on a stalled upload
        return False


def test_nginx_in_front_keeps_slow_clients_off_the_workers(proxy_image, api, containers):
    port = free_port()
    with stage("proxy container"):
        name = start(
            containers,
            "proxy",
            proxy_image,
            [
                "--network",
                "host",
                "--env",
                f"PORT={port}",
                "--env",
                f"FASHION_PROXY_UPSTREAM=127.0.0.1:{api['port']}",
            ],
        )
        wait_for(f"http://127.0.0.1:{port}/readyz", name)
        body = post_photo(f"http://127.0.0.1:{port}/predict", FIXTURES / PHOTOS[0])
        assert body["category"] == PHOTOS[0].split("/")[0]
        workers = 2  # --cpus 1
        stalled = slow_uploads(port, workers + 1)
        try:
            through_proxy = answers_within(f"http://127.0.0.1:{port}/readyz", 10)
        finally:
            for client in stalled:
                client.close()
        # straight at gunicorn, enough trickling uploads hold every thread of every worker
        # (gthread, 4 threads each) until the body deadline: what the proxy spares the API
        stalled = slow_uploads(api["port"], workers * 4 + 1)
        try:
            direct = answers_within(api["url"] + "/readyz", 3)
        finally:
            for client in stalled:
                client.close()
    assert through_proxy, "a request through nginx waited behind stalled uploads"
    assert not direct, "gunicorn answered beside stalled uploads: this test would not see a missing proxy"
    assert podman("inspect", "-f", "{{.Config.User}}", name).stdout.strip() == f"{APP_UID}:{APP_UID}"
    wait_for(api["url"] + "/readyz", api["name"])  # the workers are free again
