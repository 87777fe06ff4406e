"""Where each file goes, moving it there, and finishing moves a crash interrupted.

Destinations: ``processed_batches/<exact category label>/<safe name>`` for a
classified photo, ``failed/<safe name>`` for anything else. A name already on
disk or reserved by another planned row gets ``_2``, ``_3``...; nothing is ever
overwritten. A destination folder that refuses writes leaves the file in the
incoming folder (recorded as an error, retried by the next run).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from pathlib import Path

from ..history import now_iso
from .journal import DONE, LEFT, Journal
from .moves import DestinationNotWritable, DestinationTaken, file_hash, partial_path, place, same_file
from .naming import safe_name, with_suffix_number

MAX_RENAMES = 1000


class Placement:
    def __init__(self, journal: Journal, processed_dir: Path, failed_dir: Path):
        self.journal = journal
        self.processed_dir = Path(processed_dir)
        self.failed_dir = Path(failed_dir)
        # names promised to planned rows: ours, plus any a crashed attempt left (read once)
        self._reserved: set[str] = journal.planned_destinations()
        self._folders: set[Path] = set()
        self.touched: set[Path] = set()  # folders to fsync before the journal says "done"

    # --- planning --------------------------------------------------------------
    def folder_for(self, status: str, category: str | None) -> Path:
        if status == "success":
            return self.processed_dir / safe_name(category or "", fallback="Unknown")
        return self.failed_dir

    def destination(self, row: dict, folder: Path) -> str:
        """A free name in ``folder`` for this file, reserved until the move is recorded."""
        name = safe_name(row["rel_name"])
        for number in itertools.count(1):
            candidate = name if number == 1 else with_suffix_number(name, number)
            path = str(folder / candidate)
            if path in self._reserved or os.path.lexists(path):
                if number > MAX_RENAMES:
                    raise RuntimeError(f"no free name for {name} in {folder}")
                continue
            self._reserved.add(path)
            return path
        raise AssertionError("unreachable")

    def release(self, dest: str) -> None:
        self._reserved.discard(dest)

    # --- moving --------------------------------------------------------------
    def move(self, row: dict) -> dict:
        """Move a planned row's file; returns the journal's finish fields."""
        src, dest = Path(row["source_path"]), Path(row["dest_path"])
        changed = _changed_since_read(src, row)
        if changed is not None:  # what was classified is not what would be moved
            self.release(row["dest_path"])
            return self._left(row, *changed)
        try:
            self._ensure_folder(dest.parent)
            for _ in range(MAX_RENAMES):
                try:
                    placed = place(src, dest, row.get("content_hash"), token=str(row["id"]))
                    break
                except DestinationTaken:  # appeared since planning: re-plan, durably, then retry
                    dest = self._replan(row, dest)
            else:
                raise RuntimeError(f"no free name for {src.name}")
        except DestinationNotWritable as exc:
            return self._left(row, "destination_not_writable",
                              f"could not move to {dest.parent}: {exc.strerror or exc}; left in place")
        except FileNotFoundError:
            return self._left(row, "file_missing", "file disappeared before it was moved")
        except OSError as exc:
            code = "destination_not_writable" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) \
                else "move_failed"
            reason = f"could not move to {dest.parent}: {exc.strerror or exc}; left in place"
            return self._left(row, code, reason)
        finally:
            self.release(row["dest_path"])
        self.touched.update((dest.parent, src.parent))
        return self._done(row, str(placed.dest), placed.method, placed.note)

    def _replan(self, row: dict, old: Path) -> Path:
        self.release(str(old))
        new = self.destination(row, old.parent)
        self.journal.replan_destination(row["id"], new)
        row["dest_path"] = new
        return Path(new)

    def _ensure_folder(self, folder: Path) -> None:
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)

    # --- recovery ------------------------------------------------------------
    def resolve(self, row: dict) -> dict:
        """Finish a row that was planned when a run died; every case of the crash window."""
        src, dest = Path(row["source_path"]), Path(row["dest_path"])
        partial_path(dest, str(row["id"])).unlink(missing_ok=True)
        src_here, dest_here = os.path.lexists(src), os.path.lexists(dest)
        if dest_here and src_here and same_file(src, dest):  # hard-link step done, unlink not
            os.unlink(src)
            return self._done(row, str(dest), "recovered (already in place)")
        if dest_here and _holds(dest, row.get("content_hash")):
            if not src_here:
                return self._done(row, str(dest), "recovered (already in place)")
            return self._drop_source_copy(row, src, dest)
        if src_here:
            if dest_here:  # someone else's file took the name meanwhile
                row["dest_path"] = self.destination(row, dest.parent)
                self.journal.replan_destination(row["id"], row["dest_path"])
            return self.move(row)
        return self._left(row, "file_missing", "file disappeared before it was moved")

    def _drop_source_copy(self, row: dict, src: Path, dest: Path) -> dict:
        """A verified copy is at dest; the source was about to be deleted when the run died."""
        try:
            os.unlink(src)
        except PermissionError as exc:
            return self._done(row, str(dest), "copy (source kept)",
                              f"copied, but the source could not be removed ({exc.strerror})")
        return self._done(row, str(dest), "copy (recovered)")

    # --- results -------------------------------------------------------------
    @staticmethod
    def _done(row: dict, dest: str, method: str, note: str = "") -> dict:
        return {"id": row["id"], "state": DONE, "dest_path": dest, "move_method": method, "note": note,
                "status": row["status"], "error_code": row.get("error_code"), "error": row.get("error"),
                "finished_at": now_iso()}

    @staticmethod
    def _left(row: dict, code: str, message: str) -> dict:
        return {"id": row["id"], "state": LEFT, "dest_path": None, "move_method": None, "note": "",
                "status": "error", "error_code": code,
                "error": f"{row['error']}; {message}" if row.get("error") else message,
                "finished_at": now_iso()}


def _changed_since_read(src: Path, row: dict) -> tuple[str, str] | None:
    """(code, reason) if the source is no longer the regular file of the listed size and time."""
    try:
        info = src.lstat()
    except OSError:
        return None  # gone: move() reports it as missing
    if not stat.S_ISREG(info.st_mode):
        return "not_regular_file", "no longer a regular file; not moved, left in place"
    if row.get("mtime") is not None and (info.st_size, info.st_mtime) != (row.get("size"), row.get("mtime")):
        return "still_being_written", ("changed after it was classified (still being copied?); "
                                       "not moved, left in place for the next run")
    return None


def _holds(path: Path, content_hash: str | None) -> bool:
    if not content_hash:
        return False
    try:
        return file_hash(path) == content_hash
    except OSError:
        return False
