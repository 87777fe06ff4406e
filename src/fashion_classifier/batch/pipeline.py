"""Reading and classifying chunks of files with several chunks in flight.

A chunk closes at ``batch_chunk_size`` files or ``batch_chunk_bytes`` bytes
(a few 12-MP photos make a chunk on their own). Worker threads read and hash
the files and call the classifier; the run's main thread consumes finished
chunks, so the journal and the moves stay single-threaded and simple.

A file is opened without blocking and without following links, and read only
if it is still the regular file the scan listed (same size and modification
time) and did not change while it was read: a file replaced by a FIFO or a
device is never read (a FIFO would hang the run), one still being copied is not
taken half-written. Both stay in the incoming folder for the next run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..imaging import ImageError
from .classify import Classifier
from .client import Upload
from .shrink import for_upload

VANISHED = "vanished"  # not read: the file stays where it is (gone, not a regular file, changing)
# larger than any photo (a 100-MP RAW-sized JPEG is ~60 MB): a video or a disk image named .jpg.
# Photos above the upload limit are read and reduced before they are sent (shrink.py).
MAX_FILE_BYTES = 256 * 1024 * 1024


class NotRegularFile(OSError):
    """What the scan listed as a file is now a FIFO, socket, device, folder or link."""


class FileChanging(OSError):
    """The file's size or modification time is not what the scan saw, or changed while read."""


@dataclass
class FileOutcome:
    row: dict
    content_hash: str | None
    result: dict  # the per-file result (API shape), or {"status": VANISHED, ...}
    classified_by: str


def make_chunks(rows: Sequence[dict], max_files: int, max_bytes: int) -> list[list[dict]]:
    chunks: list[list[dict]] = []
    current: list[dict] = []
    size = 0
    for row in rows:
        row_size = int(row.get("size") or 0)
        if current and (len(current) >= max_files or size + row_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(row)
        size += row_size
    if current:
        chunks.append(current)
    return chunks


def read_capped(path: Path, limit: int, size: int | None = None, mtime: float | None = None) -> bytes:
    """At most ``limit + 1`` bytes: enough to know a file is too large without reading 2 GB.

    With ``size`` and ``mtime`` (the scan's), refuses a file that no longer matches them.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        if size is not None and mtime is not None and (before.st_size, before.st_mtime) != (size, mtime):
            raise FileChanging(f"{path} changed since it was listed")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime) != (before.st_size, before.st_mtime):
            raise FileChanging(f"{path} changed while it was read")
        return data
    finally:
        os.close(fd)


def classify_chunk(rows: list[dict], classifier: Classifier, max_bytes: int) -> list[FileOutcome]:
    """Read, hash and classify one chunk (runs in a worker thread)."""
    outcomes: list[FileOutcome | None] = [None] * len(rows)
    uploads: list[Upload] = []
    upload_index: list[int] = []
    for i, row in enumerate(rows):
        outcome, data = _read(row, max_bytes)
        if outcome is not None:
            outcomes[i] = outcome
            continue
        digest = hashlib.sha256(data).hexdigest()  # the original's, whatever is sent
        try:
            sent = for_upload(data, max_bytes)
        except ImageError as exc:
            outcomes[i] = FileOutcome(row, digest, {"status": "error", "code": exc.code, "error": str(exc)},
                                      "batch")
            continue
        uploads.append(Upload(_upload_name(row), sent))
        upload_index.append(i)
        outcomes[i] = FileOutcome(row, digest, {}, "")
    if uploads:
        results, path = classifier.classify(uploads)
        for i, result in zip(upload_index, results, strict=True):
            outcomes[i].result = result
            outcomes[i].classified_by = path
    return outcomes  # type: ignore[return-value]


def _left(row: dict, code: str, error: str) -> FileOutcome:
    return FileOutcome(row, None, {"status": VANISHED, "error": error, "code": code}, "batch")


def _read(row: dict, max_bytes: int) -> tuple[FileOutcome | None, bytes]:
    path = Path(row["source_path"])
    try:
        data = read_capped(path, max(max_bytes, MAX_FILE_BYTES), row.get("size"), row.get("mtime"))
    except FileNotFoundError:
        return _left(row, "file_missing", "file disappeared before it was read"), b""
    except NotRegularFile:
        return _left(row, "not_regular_file", "no longer a regular file (replaced by a FIFO, device, "
                                              "folder or link?); not read, left in place"), b""
    except FileChanging:
        return _left(row, "still_being_written", "changed since it was listed (still being copied?); "
                                                 "not read, left in place for the next run"), b""
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: replaced by a symbolic link
            return _left(row, "not_regular_file", "replaced by a symbolic link; not read, left in place"), b""
        return FileOutcome(row, _hash_or_none(path), {"status": "error", "code": "unreadable",
                                                      "error": f"cannot read the file: {exc.strerror}"},
                           "batch"), b""
    if len(data) > max(max_bytes, MAX_FILE_BYTES):
        return FileOutcome(row, _hash_or_none(path), {
            "status": "error", "code": "file_too_large",
            "error": f"file larger than {max(max_bytes, MAX_FILE_BYTES)} bytes (no photo is)"}, "batch"), b""
    if not data:
        empty = {"status": "error", "code": "empty_file", "error": "the file is empty"}
        return FileOutcome(row, hashlib.sha256(b"").hexdigest(), empty, "batch"), b""
    return None, data


def _hash_or_none(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        while block := os.read(fd, 1 << 20):
            digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def _upload_name(row: dict) -> str:
    # the API echoes names only; a neutral one keeps hostile names out of HTTP headers
    suffix = Path(row["rel_name"]).suffix.lower()
    return f"{row['id']}{suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ''}"


def run_chunks(chunks: list[list[dict]], classifier: Classifier, max_bytes: int,
               concurrency: int) -> Iterator[list[FileOutcome]]:
    """Yield the outcomes of all chunks finished so far (one list), keeping ``concurrency`` in flight.

    Handing over everything that is ready at once lets the caller commit one
    journal transaction for several chunks when it has fallen behind.
    """
    pending = iter(chunks)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="batch") as pool:
        in_flight: set[Future] = set()

        def refill() -> None:
            while len(in_flight) < max(1, concurrency):
                chunk = next(pending, None)
                if chunk is None:
                    return
                in_flight.add(pool.submit(classify_chunk, chunk, classifier, max_bytes))

        refill()
        try:
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.discard(future)
                refill()  # before handing over: the workers keep going while the caller works
                yield [outcome for future in done for outcome in future.result()]
        finally:
            for future in in_flight:
                future.cancel()
