"""A socket whose reads have a deadline: a slow or stalled client cannot hold a thread.

gunicorn reads the request line, the headers and the body with blocking
``recv`` calls. A per-read timeout does not stop a client that sends one byte a
second, so ``DeadlineSocket`` bounds the *phase*: the head must be complete
within ``api_header_timeout_seconds`` of its first byte, the body within
``api_body_timeout_seconds`` of the application starting to read it. When a
phase's time is up every further read returns end-of-file, so gunicorn and the
application stop reading, and ``expired`` tells who answers 408 (the worker for
the head, the application for the body; see ``worker`` and ``body``).
"""

from __future__ import annotations

import socket
import time

HEAD, BODY = "head", "body"
LINGER_SECONDS = 1.0  # after a timeout: read (and drop) what the client still sends, then close
LINGER_BYTES = 64 * 1024
# A read may end this much after its phase's deadline. The socket's timeout is set once per
# phase and lowered only when it is this much longer than the time left: setting it (and
# restoring the caller's) on every read cost four fcntl calls per 8 kB read, 2.5 ms of a 12-MP
# upload.
SLACK_SECONDS = 0.25


class DeadlineSocket:
    """Wraps a connected socket; everything but ``recv`` is the socket's own."""

    def __init__(self, sock: socket.socket, header_timeout: float):
        self._sock = sock
        self.header_timeout = header_timeout
        self._armed, self._caller_timeout = False, None  # our timeout on the socket, and the one before
        self.begin_request()

    def __getattr__(self, name):
        return getattr(self._sock, name)

    # --- phases ----------------------------------------------------------------
    def begin_request(self) -> None:
        """A new request on this connection: the head's clock starts at its first read."""
        self._disarm()
        self.phase: str | None = HEAD
        self._seconds = self.header_timeout
        self._deadline: float | None = None
        self.expired: str | None = None

    def begin_body(self, seconds: float) -> None:
        if self.expired is None:
            self._disarm()
            self.phase, self._seconds, self._deadline = BODY, seconds, time.monotonic() + seconds

    def end_reading(self) -> None:
        """Head and body are read: no deadline while the application computes."""
        if self.expired is None:
            self._disarm()
            self.phase, self._deadline = None, None

    # --- reading ---------------------------------------------------------------
    def recv(self, size: int, *flags) -> bytes:
        if self.expired is not None:
            return b""
        current = self._sock.gettimeout()
        if self.phase is None or current == 0.0:  # no deadline, or a non-blocking poll
            return self._sock.recv(size, *flags)
        if self._deadline is None:
            self._deadline = time.monotonic() + self._seconds
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return self._expire()
        self._arm(current, remaining)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if self._deadline - time.monotonic() > 0:  # the caller's own shorter timeout
                raise
            return self._expire()

    def _arm(self, current: float | None, remaining: float) -> None:
        """The socket's timeout: the phase's time left, set again only once it is more than
        ``SLACK_SECONDS`` longer than that (the caller's own timeout if shorter)."""
        if not self._armed:
            self._caller_timeout, self._armed = current, True
        elif current is not None and current <= remaining + SLACK_SECONDS:
            return
        caller = self._caller_timeout
        self._sock.settimeout(remaining if caller is None else min(caller, remaining))

    def _disarm(self) -> None:
        """At the end of a phase: the caller's own timeout back."""
        if self._armed:
            self._armed = False
            try:
                self._sock.settimeout(self._caller_timeout)
            except OSError:  # closed meanwhile
                pass

    def _expire(self) -> bytes:
        self.expired = self.phase
        self._disarm()
        return b""

    def linger(self) -> None:
        """Half-close after a timeout answer and drop what the client still sends, briefly, so
        the answer is not lost to a reset; the close itself stays gunicorn's."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER_SECONDS, 0
            while drained < LINGER_BYTES and (remaining := deadline - time.monotonic()) > 0:
                self._sock.settimeout(remaining)
                data = self._sock.recv(4096)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
