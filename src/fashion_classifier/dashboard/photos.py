"""Review photos for the browser: resized JPEGs (phone photos are 12 MP; HEIC does not display)."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image

from ..imaging import ImageError, decode_image

SIZES = {"thumb": 240, "large": 1200}


def jpeg(path: Path, size: str, max_pixels: int) -> bytes | None:
    """The photo at ``path`` as a JPEG no larger than ``SIZES[size]``, or None if unreadable."""
    try:
        info = path.stat()
    except OSError:
        return None
    return _cached(str(path), info.st_mtime_ns, info.st_size, SIZES.get(size, SIZES["thumb"]), max_pixels)


@lru_cache(maxsize=256)  # keyed by path, mtime and size: a replaced file is read again
def _cached(path: str, mtime_ns: int, length: int, side: int, max_pixels: int) -> bytes | None:
    try:
        image = decode_image(Path(path).read_bytes(), max_pixels=max_pixels, draft_size=(side, side))
    except (OSError, ImageError):
        return None
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
