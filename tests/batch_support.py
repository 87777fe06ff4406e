"""Helpers of the batch tests: real photos in temporary folders, the CLI in a subprocess,
and the "every input exactly once, every row right" inventory check."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from fashion_classifier.config import Config

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "src" / "batch_processor.py"
DATASET_IMAGES = Config(root=ROOT).path("dataset_dir") / "images"
PROCESSED = Path("data/processed_batches")
FAILED = Path("data/failed")
RESULTS = Path("results/batch_results")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dataset_photos(count: int, offset: int = 0) -> list[Path]:
    """Real product photos from the shared dataset (read only: they are copied, never moved)."""
    names = sorted(os.listdir(DATASET_IMAGES))
    step = max(1, len(names) // (count * 3 + offset + 1))
    return [DATASET_IMAGES / names[(offset + i) * step] for i in range(count)]


def copy_photos(incoming: Path, count: int, offset: int = 0, subfolder: str = "") -> dict[str, str]:
    """Copy ``count`` dataset photos into ``incoming[/subfolder]``; returns rel name -> hash."""
    folder = incoming / subfolder if subfolder else incoming
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for source in dataset_photos(count, offset):
        data = source.read_bytes()
        (folder / source.name).write_bytes(data)
        made[f"{subfolder}/{source.name}" if subfolder else source.name] = sha256(data)
    return made


def write_file(incoming: Path, rel: str, data: bytes) -> dict[str, str]:
    path = incoming / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {rel: sha256(data)}


def bad_inputs(incoming: Path) -> dict[str, str]:
    """A corrupt (truncated) JPEG, a text file named .jpg, an empty file."""
    photo = dataset_photos(1, offset=97)[0].read_bytes()
    made = write_file(incoming, "truncated.jpg", photo[: len(photo) // 3])
    made |= write_file(incoming, "not_an_image.jpg", b"this is a delivery note, not a photo\n" * 20)
    made |= write_file(incoming, "empty.jpg", b"")
    return made


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def clean_env(**extra: str) -> dict[str, str]:
    """No FASHION_* settings from the outside world: each test says what it needs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASHION_") and k != "API_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def batch_command(incoming: Path, out: Path, *args: str) -> list[str]:
    return [sys.executable, str(ENTRY), "--input", str(incoming), "--output-root", str(out),
            "--min-age", "0", *args]


def run_batch(incoming: Path, out: Path, *args: str, env: dict | None = None, timeout: float = 120,
              prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run((prefix or []) + batch_command(incoming, out, *args), cwd=ROOT,
                          env=env or clean_env(), capture_output=True, text=True, timeout=timeout)


def start_batch(incoming: Path, out: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(batch_command(incoming, out, *args), cwd=ROOT, env=env or clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 60,
                  exit_ok: bool = False) -> str | None:
    """Read the process's stderr until a line contains ``needle`` (None if it exits first
    and ``exit_ok``)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return line
    if exit_ok and process.poll() is not None:
        return None
    raise AssertionError(f"{needle!r} never appeared; stderr so far:\n{''.join(seen)}")


# --- reading the results -------------------------------------------------------------
def unquote(text: str) -> str:
    """The CSV guards formula-like text with a leading quote (for Excel); undo it."""
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "+", "-", "@") else text


def csv_rows(out: Path, raw: bool = False) -> list[dict]:
    rows = []
    for path in sorted((out / RESULTS).glob("batch_results_*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows += [dict(row, _file=path.name) for row in csv.DictReader(handle)]
    if not raw:
        for row in rows:
            for column in ("filename", "destination", "error"):
                row[column] = unquote(row[column])
    return rows


def placed_files(out: Path) -> list[Path]:
    files = []
    for top in (out / PROCESSED, out / FAILED):
        if top.is_dir():
            files += [p for p in top.rglob("*") if p.is_file() or p.is_symlink()]
    return sorted(files)


def remaining_inputs(incoming: Path) -> list[Path]:
    return sorted(p for p in incoming.rglob("*") if p.is_file())


def db_rows(out: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(out / "logs" / "execution_history.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def check_exactly_once(inputs: dict[str, str], incoming: Path, out: Path,
                       reference: dict[str, str] | None = None) -> list[dict]:
    """Every input ended exactly once (processed or failed), and every result row is right.

    ``reference``: content hash -> category from an uninterrupted run; an
    interrupted-and-resumed run must agree with it (the model is deterministic).
    """
    placed = placed_files(out)
    hidden = [p for p in placed if p.name.startswith(".")]
    assert not hidden, f"leftover work files: {hidden}"
    assert remaining_inputs(incoming) == [], f"left in incoming: {remaining_inputs(incoming)}"
    assert Counter(sha256(p.read_bytes()) for p in placed) == Counter(inputs.values()), \
        "the placed files are not exactly the inputs"
    rows = csv_rows(out)
    got, want = Counter(r["filename"] for r in rows), Counter(list(inputs))
    assert got == want, f"rows without input: {got - want}; inputs without row: {want - got}"
    destinations = [r["destination"] for r in rows]
    assert len(set(destinations)) == len(destinations), "two rows claim the same file"
    for row in rows:
        _check_row(row, inputs, out, reference)
    unfinished = db_rows(out, "SELECT * FROM batch_files WHERE state NOT IN ('done', 'left')")
    assert unfinished == [], unfinished
    assert db_rows(out, "SELECT * FROM batch_run_state WHERE state != 'done'") == []
    runs = db_rows(out, "SELECT run_id, total_images FROM batch_runs")
    assert len({r["run_id"] for r in runs}) == len(runs), "a run was logged twice"
    per_file = Counter(r["_file"] for r in rows)
    for run in runs:
        assert per_file.get(f"batch_results_{run['run_id']}.csv", 0) == run["total_images"]
    return rows


def _check_row(row: dict, inputs: dict[str, str], out: Path, reference: dict[str, str] | None) -> None:
    dest = out / row["destination"]
    assert dest.is_file(), row
    assert row["content_hash"] == inputs[row["filename"]] == sha256(dest.read_bytes()), row
    if row["status"] == "success":
        assert dest.parent.parent == out / PROCESSED and dest.parent.name == row["category"], row
        assert 0.0 < float(row["confidence"]) <= 1.0
        assert row["tier"] in ("auto-approve", "quick check", "manual review")
        if reference is not None and row["content_hash"] in reference:
            assert reference[row["content_hash"]] == row["category"], row
    else:
        assert row["status"] in ("error", "duplicate") and row["error"], row
        assert dest.parent == out / FAILED and row["category"] == "" and row["confidence"] == "0.0000"


def categories_by_hash(rows: list[dict]) -> dict[str, str]:
    return {r["content_hash"]: r["category"] for r in rows if r["status"] == "success"}


# --- a real API server -------------------------------------------------------------------
BATCH_KEY = "nightly-batch-test-key"


class ApiServer:
    """The project's API under real gunicorn on a free loopback port (own process group)."""

    def __init__(self, folder: Path, workers: int = 2, **settings: str):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.env = {k: v for k, v in clean_env().items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.env.update({"PORT": str(self.port), "FASHION_HISTORY_DB": str(folder / "api_history.db"),
                         "FASHION_LOGS_DIR": str(folder / "api_logs"),
                         "FASHION_API_WORKERS": str(workers), "FASHION_API_THREADS": "4",
                         "FASHION_TRUSTED_KEYS": BATCH_KEY, "FASHION_API_LOG_LEVEL": "WARNING", **settings})
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> ApiServer:
        import requests

        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.log = open(self.folder / "gunicorn.log", "wb")
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "api/gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", "api.wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(self.folder / 'gunicorn.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError("the API did not become ready")

    def kill(self) -> None:
        """``kill -9`` of master and workers at once: the API vanishes mid-request."""
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def phone_photo(source: Path, size=(4000, 3000), quality: int = 90) -> bytes:
    """A 12-MP phone-size JPEG made from a real product photo."""
    image = Image.open(source).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
