"""Thumbnails as ``data:`` URIs, so the report opens anywhere without the image folders."""

from __future__ import annotations

import base64
import functools
import io
import os
from pathlib import Path

from PIL import Image

from ...imaging import ImageError, decode_image

SMALL_ENOUGH = 24 * 1024  # catalogue-size photos are embedded as they are
MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF8": "image/gif"}


def thumbnail_uri(path: Path, side: int = 128) -> str | None:
    """A data URI for the image at ``path``, or None if it cannot be read.

    Remembered per file (path, size, modification time): the reports are rewritten after
    every review decision, and a night's 300 phone photos must not be decoded each time."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _cached(str(path), info.st_size, info.st_mtime_ns, side)


@functools.lru_cache(maxsize=1024)  # a data URI is 5-30 kB: a few nights of review photos
def _cached(path: str, size: int, mtime_ns: int, side: int) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(SMALL_ENOUGH + 1)
            if len(head) <= SMALL_ENOUGH:
                mime = _sniff(head)
                if mime:
                    return f"data:{mime};base64,{base64.b64encode(head).decode('ascii')}"
            data = head + handle.read()
    except OSError:
        return None
    return _resized(data, side)


def _sniff(head: bytes) -> str | None:
    for magic, mime in MAGIC.items():
        if head.startswith(magic):
            return mime
    return None


def _resized(data: bytes, side: int) -> str | None:
    try:
        image = decode_image(data, draft_size=(side, side))
    except ImageError:
        return None
    image.thumbnail((side, side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
