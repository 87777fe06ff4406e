"""Bytes of a name from an old or foreign system (a Windows share, an old zip, an odd HTTP client)
-> text: UTF-8 when it is UTF-8, else Windows-1252 (what such a ``café.jpg`` most likely
is), else Latin-1, which decodes any byte. Never fails, never drops a character."""

from __future__ import annotations

import os


def decode_legacy(raw: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def has_undecodable(text: str) -> bool:
    """True for a str holding bytes that were not UTF-8 (``surrogateescape``: os.listdir, argv)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def repaired(text: str) -> str:
    """A str from the file system with its undecodable bytes decoded as ``decode_legacy`` does."""
    return decode_legacy(os.fsencode(text)) if has_undecodable(text) else text
