"""The secret that makes the nightly batch a trusted caller of its own API, with no key typed by hand.

Whichever starts first, the API or the batch, writes 32 random bytes (hex) to
``logs/internal.key`` (``Config.internal_key_path``): written to a temporary file
that only its owner may read (mode 0600), then linked to its name, which fails
if another process got there first (that one's key is then read). The API
trusts the key as an ``X-Batch-Key``; the batch sends it. ``FASHION_TRUSTED_KEYS``
and ``FASHION_BATCH_KEY`` still work beside it (several hosts, a key of your own).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

MIN_KEY_CHARS = 32


def read_or_create(path: Path) -> str:
    """The key in ``path``, made first if there is none. Raises OSError/ValueError if unusable."""
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".internal-key-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # never replaces: a key already given out stays valid
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"{path} holds no usable key (fewer than {MIN_KEY_CHARS} characters); "
                         "delete it and restart the API to make a new one")
    return key


def internal_key(config) -> str | None:
    """The shared key, or None (logged) when its file cannot be read or made."""
    path = config.internal_key_path()
    try:
        return read_or_create(path)
    except (OSError, ValueError) as exc:
        log.warning("internal key %s not usable (%s); the batch is not a trusted caller "
                    "unless FASHION_TRUSTED_KEYS / FASHION_BATCH_KEY are set", path, exc)
        return None
