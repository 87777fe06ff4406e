"""Shared parts of the API benchmarks: start/stop a server, a lean HTTP client, memory.

Loopback only: every URL these helpers touch is on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))

from fashion_classifier.config import Config  # noqa: E402
from fashion_classifier.data.prepare import read_split  # noqa: E402


def publish(text: str, out) -> None:
    """Print a benchmark's markdown report and write it to ``out``."""
    print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_photos(count: int) -> list[bytes]:
    """Real product photos (about 60x80 JPEG) from the test split."""
    config = Config(root=ROOT)
    records = read_split(config.path("splits_dir"), "test")[:count]
    return [(config.path("dataset_dir") / r.path).read_bytes() for r in records]


def twelve_mp_jpeg(photo: bytes, seed: int = 0) -> bytes:
    """A 4000x3000 phone-like JPEG: a real product photo scaled up, with sensor-like noise."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    canvas = Image.new("RGB", (4000, 3000), (250, 250, 250))
    product = image.resize((2100, 2800), Image.Resampling.BICUBIC)
    canvas.paste(product, (950, 100))
    pixels = np.asarray(canvas, dtype=np.int16)
    noise = np.random.default_rng(seed).normal(0, 6, pixels.shape).astype(np.int16)
    noisy = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    noisy.save(out, "JPEG", quality=90)
    return out.getvalue()


def multipart(field: str, files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
         "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
        for name, data in files
    ]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive connection to 127.0.0.1; reconnects after errors."""

    def __init__(self, port: int, timeout: float = 60.0, headers: dict | None = None):
        self.port, self.timeout, self.headers = port, timeout, headers or {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def start_server(argv: list[str], port: int, env_extra: dict, ready_path: str = "/readyz",
                 timeout: float = 120.0, log: Path | None = None) -> tuple[subprocess.Popen, float]:
    """Start a server, poll ``ready_path`` every 10 ms; returns (process, seconds to ready)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"PORT": str(port), **env_extra})
    out = open(log, "ab") if log else subprocess.DEVNULL
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode}); see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", ready_path)
            if conn.getresponse().status == 200:
                conn.close()
                return process, time.perf_counter() - start
            conn.close()
        except OSError:
            pass
        time.sleep(0.01)
    stop_server(process)
    raise TimeoutError(f"server not ready within {timeout} s")


def stop_server(process: subprocess.Popen, timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def gunicorn_argv(port: int, app: str = "api.wsgi:app", config: str = "api/gunicorn.conf.py") -> list[str]:
    return [str(BIN / "gunicorn"), "-c", config, "-b", f"127.0.0.1:{port}", app]


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """RSS (all resident pages) and PSS (shared pages split among sharers) in MB."""
    try:
        rss = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        pss = int(rollup.split("\nPss:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return {"rss": float("nan"), "pss": float("nan")}
    return {"rss": rss, "pss": pss}


def _cpu_sample() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(values), values[3] + values[4]  # all jiffies, idle + iowait jiffies


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all cores busy over ``seconds`` (other work on the machine, before a run)."""
    total0, idle0 = _cpu_sample()
    time.sleep(seconds)
    total1, idle1 = _cpu_sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


class OtherWork:
    """Share of the machine used by processes other than this one and its (reaped) children.

    Start before the run, call ``share()`` after every server is stopped and reaped.
    """

    def __init__(self):
        self.total, self.idle = _cpu_sample()
        self.ours = self._ours()

    @staticmethod
    def _ours() -> float:
        import resource

        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def share(self) -> float:
        total, idle = _cpu_sample()
        hz = os.sysconf("SC_CLK_TCK")
        busy = ((total - self.total) - (idle - self.idle)) / hz
        capacity = (total - self.total) / hz
        return max(0.0, busy - (self._ours() - self.ours)) / max(capacity, 1e-9)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    arr = np.asarray(seconds) * 1000
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "p99": float(np.percentile(arr, 99)), "mean": float(arr.mean()), "n": len(arr)}
