"""Names: run ids, and file names made safe for the folders they land in.

A clerk's file name is data, not a path: it may hold unicode, spaces, "..",
slashes, control characters or a leading dash. ``safe_name`` keeps what is
harmless (letters of any script, digits, spaces, the extension) and makes sure
the result is exactly one ordinary path component.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path

RUN_ID_FORMAT = "%Y%m%d_%H%M%S"
MAX_NAME_BYTES = 200  # well under NAME_MAX (255) so a collision suffix always fits
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_RESERVED = {"", ".", ".."}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime(RUN_ID_FORMAT)


def run_id_time(run_id: str) -> datetime | None:
    try:
        return datetime.strptime(run_id[:15], RUN_ID_FORMAT)
    except ValueError:
        return None


def safe_name(name: str, fallback: str = "unnamed") -> str:
    """One safe path component from an untrusted file name (or category label)."""
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip()
    text = text.lstrip(".-~ ")  # no hidden files, no option-like names
    text = re.sub(r"\.{2,}", ".", text)
    if text in _RESERVED:
        text = fallback
    return _truncate(text)


def _truncate(text: str) -> str:
    if len(text.encode("utf-8")) <= MAX_NAME_BYTES:
        return text
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = text, ""
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return f"{stem}.{ext}" if ext else stem


def with_suffix_number(name: str, number: int) -> str:
    """return.jpg, 2 -> return_2.jpg (the collision rule: a suffix, never an overwrite)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name}_{number}"
    return f"{stem}_{number}.{ext}"


def inside(folder: Path, candidate: Path) -> bool:
    """True if ``candidate`` is directly inside ``folder`` (no escape via links or "..")."""
    return candidate.parent.resolve() == folder.resolve() and candidate.name not in _RESERVED


def printable(text: str) -> str:
    """A name for a log line: control characters escaped, so a name cannot forge log lines."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def display_path(path: Path | str, base: Path) -> str:
    """``path`` relative to ``base`` when below it (log lines and CSV), else absolute."""
    path = Path(path)
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
