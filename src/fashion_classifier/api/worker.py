"""The gunicorn worker of the API: gthread, with read deadlines and JSON error pages.

``worker_class = "fashion_classifier.api.worker.GuardedThreadWorker"`` (api/gunicorn.conf.py).

- gthread: a connection takes a thread only once its first bytes arrive (gunicorn
  parks idle ones in its poller), so a slow client holds one of ``threads`` threads,
  never a whole worker;
- every connection's reads have deadlines (``deadlines.DeadlineSocket``): a head
  that is not complete in time is answered here with JSON 408; a body that is not,
  by the application (``body.BodyGuard``);
- a thread that answered a kept-alive connection holds it for ``api_keepalive_hold_ms``
  (2 ms) and serves the client's next request itself if it comes by then, as long as another
  of the worker's threads is free; otherwise, or after ``HOLD_MAX_REQUESTS`` in a row, the
  connection goes back to gunicorn's poller. Handing it back and forth (a wake-up of the
  worker's main thread to watch it, another to hand the next request to a thread) took
  about a third of a lone client's every small-photo request (docs/benchmarks/threads.md);
- the errors gunicorn answers itself, before the application sees a request (bad
  request line, 414, 431, malformed headers, a crash outside the application),
  get the API's JSON error body instead of gunicorn's HTML page. gunicorn renders
  them in ``Worker.handle_error``; it is given a socket that keeps the page, whose
  status line is all that is used.
"""

from __future__ import annotations

import json
import random
import select
import threading

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import Counter

from ..history import utc_iso
from .coalesce import ResponseSocket
from .deadlines import HEAD, DeadlineSocket
from .errors import HTTP_CODES

HEAD_TIMEOUT_MESSAGE = "request line and headers not received in time"
# then the connection goes back to the poller even if its client never pauses: one busy
# connection does not keep a thread for ever
HOLD_MAX_REQUESTS = 100
# in /metrics under gunicorn (multiprocess mode sums every counter of every worker)
HELD_REQUESTS = Counter("fashion_api_keepalive_held_requests",
                        "Requests served by the thread that held their connection after the previous answer")


def json_error_bytes(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 response with the API's error body (always closes the connection)."""
    request_id = f"{random.getrandbits(128):032x}"
    body = json.dumps({"error": message, "status": status, "code": HTTP_CODES.get(status, "error"),
                       "timestamp": utc_iso(), "request_id": request_id}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n")
    return head.encode("latin-1") + body


class _PageCatcher:
    """Stands in for the client socket while gunicorn writes its HTML error page."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.data += data


def _status_line(page: bytes) -> tuple[int, str]:
    first = page.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    try:
        return int(first[1]), (first[2] if len(first) > 2 else "Error")
    except (IndexError, ValueError):
        return 500, "Internal Server Error"


class GuardedThreadWorker(ThreadWorker):
    def init_process(self):
        from fashion_classifier.config import Config

        config = Config.from_env()
        self.header_timeout = config.api_header_timeout_seconds
        # not under TLS: its buffers can hold a request that poll does not see
        self.hold_ms = 0.0 if self.cfg.is_ssl else config.api_keepalive_hold_ms
        self._busy, self._busy_lock = 0, threading.Lock()  # threads now in handle()
        super().init_process()

    def handle(self, conn):
        """Serve the connection's request, then its next ones while its client keeps them
        coming within the hold (module docstring). True: back to the poller, kept alive."""
        with self._busy_lock:
            self._busy += 1
        try:
            keep, served = self._handle_one(conn), 1
            # True only: gunicorn's sentinel for "no bytes yet, to the poller" is truthy too
            while keep is True and served < HOLD_MAX_REQUESTS and self._next_request_comes(conn):
                conn.held = True  # counted in handle_request: a client that closed sends none
                keep, served = self._handle_one(conn), served + 1
            return keep
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _next_request_comes(self, conn) -> bool:
        """Whether the client sends again within the hold, while another thread is free for
        the connections that gunicorn's poller hands on meanwhile."""
        if self.hold_ms <= 0 or not self.alive or self._busy >= self.cfg.threads:
            return False
        poller = select.poll()
        poller.register(conn.sock.fileno(), select.POLLIN)  # also wakes on a close: handled as one
        return bool(poller.poll(self.hold_ms))

    def handle_request(self, req, conn):
        if getattr(conn, "held", False):
            conn.held = False
            HELD_REQUESTS.inc()
        if not isinstance(conn.sock, ResponseSocket):
            return super().handle_request(req, conn)
        with conn.sock.holding():  # the head goes out with the first body bytes
            return super().handle_request(req, conn)

    def _handle_one(self, conn):
        if not self.cfg.is_ssl and not isinstance(conn.sock, DeadlineSocket):
            conn.sock = ResponseSocket(conn.sock, self.header_timeout)
        sock = conn.sock if isinstance(conn.sock, DeadlineSocket) else None
        if sock is not None:
            sock.begin_request()
        result = super().handle(conn)
        if sock is not None and sock.expired:
            if sock.expired == HEAD:
                self.log.warning("request from %s: %s", conn.client, HEAD_TIMEOUT_MESSAGE)
                self._send(sock, json_error_bytes(408, "Request Timeout", HEAD_TIMEOUT_MESSAGE))
            sock.linger()
            return False
        return result

    def handle_error(self, req, client, addr, exc):
        if getattr(client, "expired", None) == HEAD:  # cut short by its deadline: handle() answers 408
            return
        page = _PageCatcher()
        super().handle_error(req, page, addr, exc)  # logs, access log, status as gunicorn decides
        status, reason = _status_line(page.data)
        text = str(exc)[:200] if status < 500 else ""
        message = f"{reason}: {text}" if text else (reason if status < 500 else "internal server error")
        self._send(client, json_error_bytes(status, reason, message))

    def _send(self, client, data: bytes) -> None:
        try:
            util.write_nonblock(client, data)
        except Exception:
            self.log.debug("Failed to send error message.")
