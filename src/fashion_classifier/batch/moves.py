"""Placing a file in its destination folder: never lost, never overwritten.

Same filesystem: an atomic rename that refuses to replace an existing name
(``renameat2(RENAME_NOREPLACE)``, else hard link + unlink). Across
filesystems: copy to a hidden partial file in the destination folder, fsync,
verify the content hash, give it its final name (again without replacing),
then delete the source. If the source cannot be removed (permission), the copy
stays and the source is left: that is recorded, never hidden. A copy that fails
(full disk, I/O error) removes its partial file at once; partial files a killed
run left behind are removed by the next run before it moves anything
(``remove_stale_partials``).

Every step is repeatable, so the runner can redo an interrupted move from the
journal after a crash (see ``runner.resolve_planned``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .faults import crash_point

RENAME_NOREPLACE = 1
AT_FDCWD = -100
COPY_BLOCK = 1024 * 1024


class DestinationTaken(Exception):
    """The destination name exists: pick another name (collision), never overwrite."""


class DestinationNotWritable(OSError):
    """The destination folder refuses new files (permissions, read-only filesystem)."""


@dataclass(frozen=True)
class Placed:
    dest: Path
    method: str  # "rename", "link", "copy", or "copy (source kept)"
    note: str = ""


def _load_renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()
_noreplace_works = _renameat2 is not None


def rename_noreplace(src: Path, dest: Path) -> str:
    """Atomically rename without replacing; returns the method used. Raises OSError."""
    global _noreplace_works
    if _noreplace_works:
        if _renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dest), RENAME_NOREPLACE) == 0:
            return "rename"
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(src), None, str(dest))
        _noreplace_works = False  # this kernel/filesystem lacks it: link + unlink below
    os.link(src, dest)  # EEXIST instead of overwriting
    crash_point("linked_before_unlink")
    os.unlink(src)
    return "link"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(COPY_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


PARTIAL_SUFFIX = ".batch-partial"
PARTIAL_GLOB = f".*{PARTIAL_SUFFIX}"


def partial_path(dest: Path, token: str) -> Path:
    """The hidden work file of a cross-filesystem copy (cleaned up on failure and on recovery)."""
    return dest.parent / f".{token}{PARTIAL_SUFFIX}"


def place(src: Path, dest: Path, expected_hash: str | None, token: str) -> Placed:
    """Move ``src`` to ``dest`` (which must not exist). See the module docstring."""
    try:
        method = rename_noreplace(src, dest)
        return Placed(dest, method)
    except FileExistsError as exc:
        raise DestinationTaken(str(dest)) from exc
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS, errno.EMLINK):
            raise
        reason = "other filesystem" if exc.errno == errno.EXDEV else f"rename refused ({exc.strerror})"
    return _copy_then_delete(src, dest, expected_hash, token, reason)


def _copy_then_delete(src: Path, dest: Path, expected_hash: str | None, token: str, reason: str) -> Placed:
    work = partial_path(dest, token)
    try:
        copied_hash = _copy_synced(src, work)
    except BaseException as exc:  # ENOSPC mid-copy and the like: the partial file must not stay
        if not isinstance(exc, FileExistsError):  # "xb": a file of that name is not ours to delete
            work.unlink(missing_ok=True)
        _raise_copy_error(exc, dest)
    try:
        expected = expected_hash or copied_hash  # unreadable-for-hashing files: verify the copy itself
        if copied_hash != expected or file_hash(work) != expected:
            raise OSError(errno.EIO, f"copy of {src} does not match its content hash")
        try:
            rename_noreplace(work, dest)
        except FileExistsError as exc:
            raise DestinationTaken(str(dest)) from exc
    finally:
        work.unlink(missing_ok=True)
    fsync_dir(dest.parent)
    crash_point("copied_before_unlink")
    try:
        os.unlink(src)
    except PermissionError as exc:
        return Placed(dest, "copy (source kept)",
                      f"{reason}; copied, but the source could not be removed ({exc.strerror})")
    return Placed(dest, "copy", reason)


def _raise_copy_error(exc: BaseException, dest: Path):
    if isinstance(exc, PermissionError):
        raise DestinationNotWritable(exc.errno, f"cannot write in {dest.parent}: {exc.strerror}") from exc
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        raise DestinationNotWritable(exc.errno, f"read-only filesystem: {dest.parent}") from exc
    raise exc


def remove_stale_partials(folders) -> list[Path]:
    """Delete the partial files of the batch's cross-filesystem copies in ``folders`` and their
    subfolders (one level: the category folders). Call only under the run lock: then no copy
    of the batch is in flight. The review queue's own partials (``.review-*``) are left to it."""
    removed = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for pattern in (PARTIAL_GLOB, f"*/{PARTIAL_GLOB}"):
            for path in folder.glob(pattern):
                if path.name[1:-len(PARTIAL_SUFFIX)].isdigit():  # ".<journal row id>.batch-partial"
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def _copy_synced(src: Path, work: Path) -> str:
    digest = hashlib.sha256()
    with open(src, "rb") as source, open(work, "xb") as target:
        for block in iter(lambda: source.read(COPY_BLOCK), b""):
            digest.update(block)
            target.write(block)
        target.flush()
        os.fsync(target.fileno())
    try:
        shutil.copystat(src, work)
    except OSError:
        pass  # timestamps are nice to keep, not essential
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a power cut must not undo a move the journal records)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
