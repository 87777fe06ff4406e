"""Reading the request body: a deadline for slow clients, a JSON 4xx for a broken one.

``BodyGuard`` wraps the WSGI app. Under the API's gunicorn worker the
connection is a ``DeadlineSocket``: the body's clock starts when the application
starts and stops once the last byte is read, so computing never counts. Every
read of ``wsgi.input`` goes through ``GuardedInput``, which turns

- a body cut short by its deadline into ``BodyTimeout`` (JSON 408), and
- a body gunicorn cannot decode (a malformed chunked upload: bad chunk size,
  missing terminator, broken trailers) into ``MalformedBody`` (JSON 400),

instead of the 500 an unexpected exception from inside the form parser would be.
Both are ``ApiError``s, which Werkzeug's form parser does not swallow. gunicorn
does not reuse a connection whose body was not read to its end.
"""

from __future__ import annotations

from .errors import ApiError


class BodyTimeout(ApiError):
    def __init__(self, seconds: float):
        super().__init__(408, f"request body not received within {seconds:g} s", "request_timeout")


class MalformedBody(ApiError):
    def __init__(self, detail: str):
        super().__init__(400, f"malformed request body: {detail}"[:300], "malformed_body")


class GuardedInput:
    """``wsgi.input`` with the errors above, and the deadline stopped at the end of the body."""

    def __init__(self, stream, clock, length: int | None, seconds: float):
        self._stream = stream
        self._clock = clock  # a DeadlineSocket, or None outside the API's worker
        self._left = length
        self._seconds = seconds

    def _guard(self, read, size: int) -> bytes:
        try:
            data = read(size)
        except Exception as exc:
            if self._clock is not None and self._clock.expired:
                raise BodyTimeout(self._seconds) from None
            raise MalformedBody(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        if self._clock is not None:
            if self._clock.expired:
                raise BodyTimeout(self._seconds)
            if self._left is not None:
                self._left -= len(data)
            if not data or (self._left is not None and self._left <= 0):
                self._clock.end_reading()
        return data

    def read(self, size: int = -1) -> bytes:
        return self._guard(self._stream.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._guard(self._stream.readline, size)

    def __iter__(self):
        while line := self.readline():
            yield line


class BodyGuard:
    def __init__(self, app, body_timeout: float):
        self.app = app
        self.body_timeout = body_timeout

    def __call__(self, environ, start_response):
        clock = environ.get("gunicorn.socket")
        clock = clock if hasattr(clock, "begin_body") else None
        length = _content_length(environ)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if clock is not None:
            if length or chunked:
                clock.begin_body(self.body_timeout)
            else:
                clock.end_reading()
        if "wsgi.input" in environ:
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"], clock, None if chunked else length,
                                                 self.body_timeout)
        try:
            return self.app(environ, start_response)
        finally:
            if clock is not None:
                clock.end_reading()


def _content_length(environ) -> int | None:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return None
