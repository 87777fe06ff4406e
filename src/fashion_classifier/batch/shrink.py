"""Big photos are reduced before they are classified; the original is moved untouched.

A 48-MP phone JPEG or a 20-MB HEIC is a real photo, but larger than the API's upload
limit (``max_upload_bytes``) or its pixel limit. The model sees 160x120 pixels anyway,
so the batch sends an upright copy with a long side of ``SEND_SIDE`` pixels instead:
decoded as the Predictor decodes (``imaging.decode_image``: EXIF orientation, RGB on
white, JPEG's cheap ``draft`` scaling), reduced with the same bilinear filter, and
sent as PNG so no second lossy step changes what the model sees. The Predictor then
letterboxes it exactly as it would the original; the prediction matches the
original's to within the resampling. The journal's content hash and the file moved
into its folder are the original's: only the upload is the copy.
"""

from __future__ import annotations

import io

from PIL import Image

from ..imaging import ALLOWED_FORMATS, DEFAULT_MAX_PIXELS, decode_image

SEND_SIDE = 1024  # long side sent: several times the model's input, a PNG of 1-3 MB
MAX_PIXELS = 200_000_000  # what the reduction decodes at most (JPEG decodes at 1/8 of that)


def for_upload(data: bytes, max_upload_bytes: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes to classify: the file itself when the API takes it, else a reduced copy.

    Raises ``imaging.ImageError`` when a file that must be reduced cannot be decoded."""
    if len(data) <= max_upload_bytes and _pixels(data) <= max_pixels:
        return data
    image = decode_image(data, max_pixels=MAX_PIXELS, draft_size=(SEND_SIDE, SEND_SIDE))
    image.thumbnail((SEND_SIDE, SEND_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _pixels(data: bytes) -> int:
    """Width x height from the header (0 if unreadable: the classifier then says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            return image.size[0] * image.size[1]
    except Exception:  # not an image, or a broken header: not ours to judge here
        return 0
