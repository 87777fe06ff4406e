"""Files in the incoming folder that are plainly not photos: text, CSV and PDF documents.

A delivery note or packing list dropped among the photos is not a failed photo: the batch
leaves it where it is and lists it as skipped (the run's log and summary JSON), so it neither
lands in ``data/failed/`` nor counts in the error rate. "Plainly" means name and content
agree: a ``.txt`` or ``.csv`` whose first 4 KiB are text, a ``.pdf`` that starts with
``%PDF-``. Anything else is classified as before, so a photo misnamed ``.pdf`` still gets
its category and a ``.jpg`` that is no image still fails.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DOCUMENT_SUFFIXES = {".txt": "text", ".csv": "CSV", ".pdf": "PDF"}
SNIFF_BYTES = 4096
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # Excel's "Unicode text"
# bytes that no text file holds (tab, newlines, form feed, Ctrl-Z and ESC are allowed)
_BINARY = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1A, 0x1B}


def document_kind(path: Path) -> str | None:
    """"text", "CSV" or "PDF" when both the name and the first bytes say so, else None."""
    kind = DOCUMENT_SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        return None
    head = _head(Path(path))
    if head is None:
        return None
    if kind == "PDF":
        return kind if head.startswith(b"%PDF-") else None
    return kind if looks_like_text(head) else None


def looks_like_text(head: bytes) -> bool:
    """The start of a text file in any common encoding: UTF-8, one-byte code pages, UTF-16 with BOM."""
    if head.startswith(_UTF16_BOMS):
        encoding = "utf-16-be" if head.startswith(b"\xfe\xff") else "utf-16-le"
        head = head[2:].decode(encoding, errors="replace").encode("utf-8")
    return not _BINARY.intersection(head)


def _head(path: Path) -> bytes | None:
    """The first bytes, or None if the file cannot be read as a regular file (never blocks:
    O_NONBLOCK and the fstat keep a FIFO that replaced the file since the scan from hanging)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, SNIFF_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
