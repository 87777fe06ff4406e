"""File names that are not UTF-8 (a Latin-1 ``café.jpg`` from a Windows share or an old zip).

The file system hands such a name over with its bad bytes as surrogates, which no
report, log line or SQLite text can hold. Before a run lists its files, each such
file or folder in the incoming folder is renamed in place to the same name decoded
as ``legacy_text.decode_legacy`` does (``caf\\xe9.jpg`` -> ``café.jpg``): a rename
within its folder that never replaces anything (a taken name gets ``_2``, ``_3``...),
so the file is processed like any other. One that cannot be renamed (a read-only
share) is skipped with that reason and stays where it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..legacy_text import has_undecodable, repaired
from .moves import rename_noreplace
from .naming import with_suffix_number

MAX_TRIES = 100


def shown(name: str) -> str:
    """A name with its undecodable bytes written as ``\\xe9`` (for logs and reasons)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace") if has_undecodable(name) else name


def rename_to_text(folder: Path, name: str) -> tuple[str, str | None]:
    """Rename ``folder/name`` to a UTF-8 name: (the name now, None), or (name, why it could not be)."""
    wanted = repaired(name)
    for number in range(1, MAX_TRIES + 1):
        candidate = wanted if number == 1 else with_suffix_number(wanted, number)
        try:
            rename_noreplace(folder / name, folder / candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            return name, f"cannot rename it ({exc.strerror or exc})"
        return candidate, None
    return name, f"no free name like {wanted!r} is left"
