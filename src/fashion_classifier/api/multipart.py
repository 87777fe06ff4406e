"""Multipart part headers read tolerantly, so one odd file name never costs other files.

Werkzeug decodes each part's header block as strict UTF-8 and splits it at every
line break. A file name in another encoding then makes the whole form vanish
("No file provided" for 50 good photos), and a raw newline inside a quoted file
name breaks its part's Content-Disposition, so that part is silently dropped and
every later ``index`` shifts. ``TolerantMultipartDecoder`` reads header bytes with
``decode_legacy`` and keeps a line break that sits inside a quoted string as part
of its line, without the break (Werkzeug refuses header values holding one, and
``clean_filename`` would drop it anyway when the name is echoed back).

Werkzeug's form parser builds its decoder from the module-level name
``werkzeug.formparser.MultipartDecoder``; ``install()`` points that name at this
subclass (a test checks it is in effect, so a Werkzeug upgrade that moves it fails).

``single_file`` reads the body every client sends to /predict (one file part, CRLF line
breaks, nothing before or after) with two searches instead of Werkzeug's event parser: 7 us
instead of 66 us on a small photo, and no copy in chunks of a 12-MP one. Anything else it
leaves to Werkzeug; a test holds it to Werkzeug's answer on generated bodies.
"""

from __future__ import annotations

import re

import werkzeug.formparser
from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import BLANK_LINE_RE, HEADER_CONTINUATION_RE, MultipartDecoder

from ..legacy_text import decode_legacy

_LINE_BREAK = re.compile(rb"(\r\n|\r|\n)")


def _open_quote(line: bytes) -> bool:
    """Whether ``line`` ends inside a quoted string (backslash escapes respected)."""
    inside, escaped = False, False
    for byte in line:
        if escaped:
            escaped = False
        elif inside and byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x22:  # double quote
            inside = not inside
    return inside


def header_lines(data: bytes) -> list[bytes]:
    """The header block's lines; a break inside a quoted string joins its two halves."""
    pieces = _LINE_BREAK.split(bytes(data))
    lines, current = [], b""
    for i in range(0, len(pieces), 2):
        current += pieces[i]
        if i + 1 < len(pieces) and _open_quote(current):
            continue
        lines.append(current)
        current = b""
    if current:
        lines.append(current)
    return lines


def part_headers(data: bytes | bytearray) -> Headers:
    """A part's header block, read tolerantly (module docstring)."""
    headers: list[tuple[str, str]] = []
    for line in header_lines(HEADER_CONTINUATION_RE.sub(b" ", data)):
        line = line.strip(b" \t")
        if line:
            name, _, value = decode_legacy(line).partition(":")
            headers.append((name.strip(" \t"), value.strip(" \t")))
    return Headers(headers)


class TolerantMultipartDecoder(MultipartDecoder):
    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        return part_headers(data)


def single_file(body: bytes, boundary: bytes, field: str) -> tuple[str, bytes] | None:
    """(file name, bytes) when ``body`` is exactly one file part named ``field`` in the plain
    shape: ``--B CRLF headers CRLF CRLF data CRLF --B--`` and at most a CRLF after it, with no
    other ``--B`` anywhere. None for every other body: Werkzeug reads those."""
    dash = b"--" + boundary
    if not boundary or not body.startswith(dash + b"\r\n"):
        return None
    head_start = len(dash) + 2
    blank = BLANK_LINE_RE.search(body, head_start)  # Werkzeug's end of the headers, any break
    if blank is None or blank.group() != b"\r\n\r\n":
        return None
    data_start, end = blank.end(), body.find(dash, head_start)
    if end - 2 < data_start or body[end - 2:end] != b"\r\n":
        return None
    if body[end + len(dash):] not in (b"--", b"--\r\n"):
        return None
    _, options = parse_options_header(part_headers(body[head_start:blank.start()]).get("content-disposition"))
    if options.get("name") != field or "filename" not in options:
        return None
    return options["filename"], body[data_start:end - 2]


def install() -> None:
    werkzeug.formparser.MultipartDecoder = TolerantMultipartDecoder
