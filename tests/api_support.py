"""Helpers of the API tests: apps on temporary config, real and synthetic photos."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from PIL import Image

from fashion_classifier.api import create_app
from fashion_classifier.api.state import EXTENSION_KEY
from fashion_classifier.config import Config
from fashion_classifier.data.prepare import read_split

REQUIRED_ERROR_KEYS = {"error", "status", "timestamp", "request_id", "code"}


def make_app(config: Config, predictor=None, **overrides):
    """An app on ``config`` (limits off unless overridden) sharing the session's Predictor."""
    settings = {"ratelimit_enabled": False, "api_log_level": "WARNING", **overrides}
    return create_app(config.with_overrides(**settings), predictor)


def state(app):
    return app.extensions[EXTENSION_KEY]


def flush(app) -> None:
    assert state(app).recorder.flush(10), "history rows not written within 10 s"


def image_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def product_png(size=(60, 80), color=(200, 30, 40)) -> bytes:
    """A small synthetic 'product': a coloured block on white."""
    image = Image.new("RGB", size, (255, 255, 255))
    image.paste(Image.new("RGB", (size[0] // 2, size[1] // 2), color), (size[0] // 4, size[1] // 4))
    return image_bytes(image)


def real_photo_paths(n: int = 8) -> list[Path]:
    config = Config()
    records = read_split(config.path("splits_dir"), "test")[:n]
    return [config.path("dataset_dir") / r.path for r in records]


def real_photos(n: int = 8) -> list[bytes]:
    return [path.read_bytes() for path in real_photo_paths(n)]


def upload(client, data: bytes, name: str = "photo.jpg", field: str = "file", headers=None):
    return client.post("/predict", data={field: (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=headers or {})


def upload_batch(client, items: list[tuple[bytes, str]], headers=None):
    files = [(io.BytesIO(data), name) for data, name in items]
    return client.post("/predict_batch", data={"files": files}, content_type="multipart/form-data",
                       headers=headers or {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert REQUIRED_ERROR_KEYS <= set(body), body
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert body["code"] == code, body
    return body


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still loading the model
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready within {timeout} s")


def stop(process: subprocess.Popen, timeout: float = 30) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: workers flush their history rows
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(10)
