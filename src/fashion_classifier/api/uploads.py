"""Reading multipart uploads: size limits, empty parts, names echoed back safely.

The file name is only ever echoed back (batch results); the format is judged
by the bytes (``imaging``), never by the name or the client's content type.
"""

from __future__ import annotations

import unicodedata
from io import BytesIO

from flask import Request
from werkzeug.datastructures import FileStorage
from werkzeug.formparser import default_stream_factory

from . import multipart
from .errors import ApiError
from .state import get_state

MAX_NAME_CHARS = 255
# slack for the multipart framing around one file of max_upload_bytes
MULTIPART_SLACK = 64 * 1024


class FileTooLargeError(ApiError):
    def __init__(self, size_limit: int):
        super().__init__(413, f"file larger than {size_limit} bytes", "file_too_large")


def clean_filename(name: str | None) -> str:
    """The client's name, minus control characters, at most 255 characters."""
    if not name:
        return ""
    text = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return text[:MAX_NAME_CHARS]


class UploadRequest(Request):
    """Flask's request, but the file parts of a body no larger than one /predict upload are
    kept in memory. Werkzeug writes every upload past 500 kB to a temporary file and reads it
    back: a third of our own cost on a 12-MP photo (docs/benchmarks/peers.md). Larger bodies (a
    /predict_batch of many photos) still go to temporary files, so memory stays bounded."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        in_memory = get_state().config.max_upload_bytes + MULTIPART_SLACK
        if total_content_length is not None and total_content_length <= in_memory:
            return BytesIO()
        return default_stream_factory(total_content_length, content_type, filename, content_length)


def read_file(storage: FileStorage, size_limit: int) -> bytes:
    """All bytes of one uploaded part; raises ``FileTooLargeError`` past the limit."""
    stream = storage.stream
    if isinstance(stream, BytesIO) and stream.tell() == 0:
        data = stream.getvalue()  # the buffer itself, not a copy
    else:
        data = stream.read(size_limit + 1)
    return _within(size_limit, data)


def _within(size_limit: int, data: bytes) -> bytes:
    if len(data) > size_limit:
        raise FileTooLargeError(size_limit)
    return data


def single_upload(files, form, field: str = "file") -> FileStorage:
    """The one file part named ``field``, or a 400 that says what is wrong."""
    storage = files.get(field)
    if storage is None:
        if field in form:
            raise ApiError(400, f"field '{field}' must be a file upload (multipart/form-data)",
                           "missing_file")
        raise ApiError(400, "No file provided (multipart field 'file')", "missing_file")
    return storage


def predict_upload(request: Request, size_limit: int, field: str = "file") -> bytes:
    """The one file of a /predict upload: ``multipart.single_file`` reads the plain shape
    straight from the body; any other body goes through Werkzeug's parser, as before."""
    multipart_body = request.mimetype == "multipart/form-data"
    boundary = request.mimetype_params.get("boundary", "") if multipart_body else ""
    if not boundary or request.content_length is None:  # not multipart, or chunked: Werkzeug's own way
        return read_file(single_upload(request.files, request.form, field), size_limit)
    body = request.get_data(cache=False)  # within the request's body limit (413 past it)
    try:
        found = multipart.single_file(body, boundary.encode("ascii"), field)
    except UnicodeEncodeError:  # Werkzeug cannot read such a boundary either
        found = None
    if found is None:
        _, form, files = request.make_form_data_parser().parse(
            BytesIO(body), request.mimetype, len(body), request.mimetype_params)
        return read_file(single_upload(files, form, field), size_limit)
    return _within(size_limit, found[1])
