"""One send for a response's head and its first body bytes.

gunicorn writes a response's status line and headers with one ``sendall`` and each body chunk
with another, so every small JSON answer costs two sends, two TCP segments and two wake-ups
of the client, which reads the head and then waits again for the body. ``ResponseSocket``
keeps the head while a response is being written (``holding``, set by the worker around
gunicorn's ``handle_request``) and sends it with the first body bytes. Anything else that
writes or hands the socket on (``sendfile``, ``close``, ``shutdown``, the end of the
response) sends what is kept first, so bytes never change order and none are lost.
"""

from __future__ import annotations

from contextlib import contextmanager

from .deadlines import DeadlineSocket

_HEAD_END = b"\r\n\r\n"


class ResponseSocket(DeadlineSocket):
    def __init__(self, sock, header_timeout: float):
        super().__init__(sock, header_timeout)
        self._holding, self._kept = False, b""

    @contextmanager
    def holding(self):
        """While a response is written: its head waits for the first body bytes."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self.flush()

    def sendall(self, data, *flags) -> None:
        if self._kept:
            kept, self._kept = self._kept, b""
            return self._sock.sendall(kept + data, *flags)
        if self._holding and data.startswith(b"HTTP/") and data.endswith(_HEAD_END):
            self._kept = bytes(data)
            return None
        return self._sock.sendall(data, *flags)

    def flush(self) -> None:
        if self._kept:
            kept, self._kept = self._kept, b""
            self._sock.sendall(kept)

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def shutdown(self, how) -> None:
        self._flush_quietly()
        self._sock.shutdown(how)

    def close(self) -> None:
        self._flush_quietly()
        self._sock.close()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except OSError:  # the client is gone: nothing left to tell it
            self._kept = b""
