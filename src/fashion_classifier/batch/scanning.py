"""Which files in the incoming folder are ready to process.

Skipped, each for a logged reason: hidden files and folders, temporary or
partial downloads (still being written by some tool), files younger than the
minimum age (still being copied in), anything that is not a regular file
(symlinks could point anywhere; reading a FIFO would hang the run), and text,
CSV and PDF documents by name and content (``documents``: left in place, not a
failed photo). Everything else is a candidate: whether it really is an image is
decided by its content later, never by its name. A name that is not UTF-8 is
renamed first (the run's scan, ``repair_names``; see ``undecodable``) or, in a
scan that only looks (dry run, monitoring), shown as it would be renamed.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..legacy_text import has_undecodable, repaired
from .documents import document_kind
from .undecodable import rename_to_text, shown

TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart",
                 ".opdownload", ".!ut", ".swp", ".swx", ".lock", ".lck")
TEMP_PREFIXES = (".", "~$", "~")


@dataclass(frozen=True)
class Candidate:
    path: Path  # absolute
    rel_name: str  # relative to the incoming folder, "/"-separated: the results' filename
    size: int
    mtime: float


@dataclass(frozen=True)
class Skipped:
    rel_name: str
    reason: str


@dataclass
class ScanResult:
    candidates: list[Candidate]
    skipped: list[Skipped]
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old name, escaped; new rel name)


def is_temporary(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(TEMP_PREFIXES) or lower.endswith(TEMP_SUFFIXES) or lower.endswith("~")


def scan_incoming(incoming: Path, min_age_seconds: float, now: float | None = None,
                  repair_names: bool = False) -> ScanResult:
    """Candidates below ``incoming`` (dated subfolders included), sorted by relative name."""
    incoming = Path(incoming)
    now = time.time() if now is None else now
    result = ScanResult([], [])
    if not incoming.is_dir():
        return result
    for folder, dirs, files in os.walk(incoming, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # hidden folders are not ours
        if repair_names:  # renamed before os.walk descends into them
            dirs[:] = [_text_folder(incoming, Path(folder), d, min_age_seconds, now, result) for d in dirs]
        for name in files:
            _classify_entry(incoming, Path(folder) / name, min_age_seconds, now, result, repair_names)
    result.candidates.sort(key=lambda c: c.rel_name)
    result.skipped.sort(key=lambda s: s.rel_name)
    return result


def _text_folder(incoming: Path, parent: Path, name: str, min_age: float, now: float,
                 out: ScanResult) -> str:
    """A folder's name, renamed to UTF-8 first if it is not and nobody copied into it lately."""
    if not has_undecodable(name):
        return name
    try:
        settled = now - (parent / name).lstat().st_mtime >= min_age
    except OSError:
        return name
    new, _ = rename_to_text(parent, name) if settled else (name, None)
    if new != name:
        out.renamed.append((shown((parent / name).relative_to(incoming).as_posix()),
                            (parent / new).relative_to(incoming).as_posix()))
    return new


def _classify_entry(incoming: Path, path: Path, min_age: float, now: float, out: ScanResult,
                    repair_names: bool) -> None:
    rel = path.relative_to(incoming).as_posix()
    undecodable = has_undecodable(rel)
    if undecodable:  # a run's scan shows the bytes as they are; a scan that only looks, the new name
        rel = shown(rel) if repair_names else repaired(rel)
    if is_temporary(path.name):
        out.skipped.append(Skipped(rel, "hidden or temporary file"))
        return
    try:
        info = path.lstat()
    except OSError as exc:  # vanished between listing and stat
        out.skipped.append(Skipped(rel, f"cannot stat: {exc.strerror or exc}"))
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        out.skipped.append(Skipped(rel, f"{kind}; left in place"))
        return
    if now - info.st_mtime < min_age:
        out.skipped.append(Skipped(rel, f"younger than {min_age:g}s (still being copied?)"))
        return
    if undecodable and repair_names:
        path, why = _text_file(incoming, path, out)
        if why:
            out.skipped.append(Skipped(rel, f"name is not valid UTF-8 and {why}; left in place"))
            return
        rel = path.relative_to(incoming).as_posix()
    kind = document_kind(path)
    if kind is not None:
        out.skipped.append(Skipped(rel, f"a {kind} document, not a photo; left in place"))
        return
    out.candidates.append(Candidate(path, rel, info.st_size, info.st_mtime))


def _text_file(incoming: Path, path: Path, out: ScanResult) -> tuple[Path, str | None]:
    """No journal, report or log can hold a name that is not UTF-8: rename the file first."""
    if has_undecodable(path.parent.relative_to(incoming).as_posix()):
        return path, "its folder could not be renamed yet"
    new, why = rename_to_text(path.parent, path.name)
    if why is None:
        out.renamed.append((shown(path.relative_to(incoming).as_posix()),
                            (path.parent / new).relative_to(incoming).as_posix()))
    return path.parent / new, why


def remove_emptied_folders(incoming: Path, folders: set[Path]) -> list[Path]:
    """Remove subfolders (e.g. ``20261124/``) that this run emptied; never ``incoming`` itself.

    Only folders that held processed files are candidates, and ``rmdir`` fails
    unless a folder is empty, so a clerk copying into one keeps it.
    """
    incoming = Path(incoming).resolve()
    removed = []
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        current = Path(folder).resolve()
        while current != incoming and incoming in current.parents:
            try:
                current.rmdir()
            except OSError:
                break
            removed.append(current)
            current = current.parent
    return removed
