"""Image intake: bytes of any real-world photo -> the model's input array.

This is the only preprocessing there is. Training, evaluation, the API and the
batch all call ``load_model_input`` (or ``decode_image`` + ``to_model_input``),
so serving can never preprocess differently from training. The model graph
itself holds the MobileNetV2 scaling to [-1, 1]; this module delivers RGB uint8.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

try:  # phone photos; optional dependency
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF_SUPPORTED = False

# Decoders we accept. Restricting them keeps obscure (and less audited) parsers
# away from uploaded bytes. (The JPEG opener also returns MPO, what many phones write.)
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF") + (
    ("HEIF",) if HEIF_SUPPORTED else ()
)
DEFAULT_MAX_PIXELS = 50_000_000
WHITE = (255, 255, 255)
# A 50-MP PNG holds about 1.2 GB while it is decoded and converted: one such decode at a
# time per process, so a request thread pool cannot multiply that by its size.
LARGE_DECODE_PIXELS = 16_000_000
_large_decodes = threading.Semaphore(1)

# A truncated file must be an error, never a silently half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(ValueError):
    """An input that is not a usable image. ``code`` is stable for clients."""

    code = "invalid_image"
    http_status = 400


class EmptyImageError(ImageError):
    code = "empty_file"


class UnsupportedImageError(ImageError):
    """Not an image in a supported format: 400, as the spec's error table has it."""

    code = "unsupported_format"


class CorruptImageError(ImageError):
    code = "corrupt_image"


class TruncatedImageError(CorruptImageError):
    code = "truncated_image"


class ImageTooLargeError(ImageError):
    """Too many pixels: a decompression bomb or an absurd photo."""

    code = "image_too_large"


class DecodeBudgetError(ImageError):
    """The request already spent its decode budget on the images before this one."""

    code = "request_budget_exceeded"
    http_status = 422


@dataclass
class DecodeBudget:
    """What one request may spend on decoding: pixels (after JPEG draft scaling) and seconds.

    The first image of a request always fits (its own limit is ``max_pixels`` of
    ``decode_image``), so a client that sends the refused images again, fewer per
    request, always gets them all classified.
    """

    max_pixels: int
    max_seconds: float
    started: float = field(default_factory=time.monotonic)
    pixels: int = 0
    images: int = 0

    def check_time(self) -> None:
        if self.images and time.monotonic() - self.started > self.max_seconds:
            raise DecodeBudgetError(
                f"not decoded: this request already spent its {self.max_seconds:g} s decode budget; "
                "send this image again in another request")

    def charge(self, pixels: int) -> None:
        if self.images and self.pixels + pixels > self.max_pixels:
            raise DecodeBudgetError(
                f"not decoded: {pixels} more pixels exceed this request's budget of "
                f"{self.max_pixels} decoded pixels; send this image again in another request")
        self.pixels += pixels
        self.images += 1


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 draft_size: tuple[int, int] | None = None,
                 budget: DecodeBudget | None = None) -> Image.Image:
    """Decode bytes into an upright RGB image, or raise a typed ``ImageError``.

    ``draft_size`` (width, height) lets JPEG decode at 1/2, 1/4 or 1/8 scale
    when the final image is that small anyway: a 12-MP photo then costs little.
    ``budget`` is charged with the pixels about to be decoded (and refuses them
    once the request has spent its share). Whatever a decoder raises (Pillow's
    plugins, pillow-heif's ``RuntimeError``) comes out as an ``ImageError``.
    """
    if not data:
        raise EmptyImageError("the file is empty")
    if budget is not None:
        budget.check_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            _check_pixels(image, max_pixels)
            if draft_size and image.format in ("JPEG", "MPO"):
                side = max(draft_size)  # orientation may swap the axes later
                image.draft("RGB", (side, side))
            pixels = image.size[0] * image.size[1]
            if budget is not None:
                budget.charge(pixels)
            if pixels <= LARGE_DECODE_PIXELS:
                return _load_rgb(image)
            with _large_decodes:
                return _load_rgb(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image has too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError(
            "not an image in a supported format "
            f"({', '.join(f.lower() for f in ALLOWED_FORMATS)})") from exc
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise TruncatedImageError("the image file is truncated") from exc
        raise CorruptImageError(f"the image data is corrupt: {exc}") from exc
    except Exception as exc:  # any other decoder failure is this file's problem, never the caller's
        raise CorruptImageError(f"the image data is corrupt: {type(exc).__name__}: {exc}") from exc


def _load_rgb(image: Image.Image) -> Image.Image:
    image.load()
    return _to_rgb(_upright(image))


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImageError("the image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} pixels, more than the limit of {max_pixels}")


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not reject a good photo
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency is composited onto white (the studio background)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_depth_to_rgb(image)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float32)
    peak = 65535.0 if values.max(initial=0) > 255 else 255.0
    gray = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, "L").convert("RGB")


def to_model_input(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Letterbox an RGB image onto white at ``size`` = (height, width); uint8 HxWx3.

    Keeping the aspect ratio (instead of stretching) means a landscape phone
    photo and a portrait catalogue shot show the product with the same shape.
    """
    height, width = size
    src_w, src_h = image.size
    scale = min(width / src_w, height / src_h)
    new_w = max(1, min(width, round(src_w * scale)))
    new_h = max(1, min(height, round(src_h * scale)))
    if (new_w, new_h) != (src_w, src_h):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    if (new_w, new_h) == (width, height):
        return np.asarray(image, dtype=np.uint8)
    canvas = Image.new("RGB", (width, height), WHITE)
    canvas.paste(image, ((width - new_w) // 2, (height - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def load_model_input(source: bytes | str | Path, size: tuple[int, int],
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Bytes or a path -> the model's uint8 input array (raises ``ImageError``)."""
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    image = decode_image(bytes(data), max_pixels=max_pixels,
                         draft_size=(size[1], size[0]))
    return to_model_input(image, size)
