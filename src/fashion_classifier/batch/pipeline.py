"""Reading and classifying chunks of files with several chunks in flight.

A chunk closes at ``batch_chunk_size`` files or ``batch_chunk_bytes`` bytes
(a few 12-MP photos make a chunk on their own). Worker threads read and hash
the files and call the classifier; the run's main thread consumes finished
chunks, so the journal and the moves stay single-threaded and simple.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from .classify import Classifier
from .client import Upload

VANISHED = "vanished"


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


def read_capped(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes: enough to know a file is too large without reading 2 GB."""
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


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
        uploads.append(Upload(_upload_name(row), data))
        upload_index.append(i)
        outcomes[i] = FileOutcome(row, hashlib.sha256(data).hexdigest(), {}, "")
    if uploads:
        results, path = classifier.classify(uploads)
        for i, result in zip(upload_index, results, strict=True):
            outcomes[i].result = result
            outcomes[i].classified_by = path
    return outcomes  # type: ignore[return-value]


def _read(row: dict, max_bytes: int) -> tuple[FileOutcome | None, bytes]:
    path = Path(row["source_path"])
    try:
        data = read_capped(path, max_bytes)
    except FileNotFoundError:
        return FileOutcome(row, None, {"status": VANISHED, "error": "file disappeared before it was read",
                                       "code": "file_missing"}, "batch"), b""
    except OSError as exc:
        return FileOutcome(row, _hash_or_none(path), {"status": "error", "code": "unreadable",
                                                      "error": f"cannot read the file: {exc.strerror}"},
                           "batch"), b""
    if len(data) > max_bytes:
        return FileOutcome(row, _hash_or_none(path), {
            "status": "error", "code": "file_too_large",
            "error": f"file larger than {max_bytes} bytes (the upload limit)"}, "batch"), b""
    if not data:
        empty = {"status": "error", "code": "empty_file", "error": "the file is empty"}
        return FileOutcome(row, hashlib.sha256(b"").hexdigest(), empty, "batch"), b""
    return None, data


def _hash_or_none(path: Path) -> str | None:
    from .moves import file_hash

    try:
        return file_hash(path)
    except OSError:
        return None


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
