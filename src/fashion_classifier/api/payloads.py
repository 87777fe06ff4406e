"""JSON bodies of /predict and /predict_batch: base64 images, parsed in pure functions.

Besides multipart uploads the API takes the JSON forms the reference system's clients send
(and TensorFlow Serving's), parsed here and not in the routes, as MLflow's scoring server
keeps its input parsing apart from its handlers::

    POST /predict        {"image": "<base64>"}
    POST /predict_batch  {"images": ["<base64>", ...]}             names image_0.jpg, image_1.jpg ...
    POST /predict_batch  {"instances": [{"b64": "<base64>"}, ...]}  (TensorFlow Serving's form)

The limits are those of uploads: each decoded image at most ``max_upload_bytes``, at most
``max_batch_files`` images. A body that is not such JSON (a missing key, an item that is not a
string) is one 400 for the request; inside a batch, a string that is not valid base64 or too
large is that item's own error result, like a broken file.
Whitespace (MIME line breaks), a ``data:image/...;base64,`` prefix, missing padding and the
URL-safe alphabet are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .uploads import FileTooLargeError

INVALID_BASE64 = "invalid_base64"
INVALID_JSON = "invalid_json"
JSON_SLACK = 64 * 1024  # the JSON framing around the base64 text(s)
_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
MISSING_IMAGE = ("No image provided (JSON {\"image\": \"<base64>\"} or multipart field 'file')")
MISSING_IMAGES = ("No images provided (JSON {\"images\": [\"<base64>\", ...]}, "
                  "{\"instances\": [{\"b64\": \"<base64>\"}, ...]} or multipart field 'files')")


def encoded_limit(decoded_bytes: int) -> int:
    """The longest base64 text (with padding) of at most ``decoded_bytes`` bytes."""
    return 4 * math.ceil(decoded_bytes / 3)


def json_body_limit(decoded_bytes: int) -> int:
    """Largest JSON body that can carry ``decoded_bytes`` of images."""
    return encoded_limit(decoded_bytes) + JSON_SLACK


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, f"the body is not valid JSON: {str(exc)[:200]}", INVALID_JSON) from None


def decode_base64(text: str, size_limit: int, what: str = "image") -> bytes:
    """The bytes of one base64 image; ``FileTooLargeError`` past ``size_limit`` (checked first
    on the text's length, so an oversized item is never decoded)."""
    prefix = _DATA_URL.match(text)
    if prefix:
        text = text[prefix.end():]
    compact = _WHITESPACE.sub("", text)
    if len(compact) > encoded_limit(size_limit):
        raise FileTooLargeError(size_limit)
    altchars = b"-_" if "-" in compact or "_" in compact else None
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{what} is not valid base64", INVALID_BASE64) from None
    if len(data) > size_limit:
        raise FileTooLargeError(size_limit)
    return data


def single_image(body: Any, size_limit: int) -> bytes:
    """``{"image": "<base64>"}`` -> the image bytes."""
    if not isinstance(body, dict) or "image" not in body:
        raise ApiError(400, MISSING_IMAGE, "missing_file")
    return decode_base64(_text("image", body["image"]), size_limit)


@dataclass(frozen=True)
class JsonImage:
    """One item of a JSON batch, decoded only when its chunk is classified."""

    name: str
    text: str

    def load(self, size_limit: int) -> bytes:
        return decode_base64(self.text, size_limit, self.name)


def batch_images(body: Any, max_files: int) -> list[JsonImage]:
    """``{"images": [...]}`` or ``{"instances": [{"b64": ...}, ...]}`` -> the items, in order.

    The shape (lists, strings, ``b64`` objects) is checked for the whole request here; the
    base64 text of each item only when it is decoded, so a broken one is its own result."""
    if not isinstance(body, dict) or not ({"images", "instances"} & set(body)):
        raise ApiError(400, MISSING_IMAGES, "missing_files")
    if {"images", "instances"} <= set(body):
        raise ApiError(400, 'send either "images" or "instances", not both', INVALID_JSON)
    key = "images" if "images" in body else "instances"
    items = body[key]
    if not isinstance(items, list):
        raise ApiError(400, f'"{key}" must be a list, not {_json_type(items)}', INVALID_JSON)
    if not items:
        raise ApiError(400, MISSING_IMAGES, "missing_files")
    if len(items) > max_files:
        raise ApiError(400, f"{len(items)} images; at most {max_files} per request", "too_many_files",
                       max_batch_files=max_files)
    if key == "images":
        texts = [_text(f"images[{i}]", item) for i, item in enumerate(items)]
    else:
        texts = [_text(f"instances[{i}].b64", _b64_of(i, item)) for i, item in enumerate(items)]
    return [JsonImage(f"image_{i}.jpg", text) for i, text in enumerate(texts)]


def _b64_of(index: int, item: Any) -> Any:
    if not isinstance(item, dict) or "b64" not in item:
        raise ApiError(400, f'instances[{index}] must be {{"b64": "<base64>"}}, not {_json_type(item)}',
                       INVALID_JSON)
    return item["b64"]


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{where} must be a base64 string, not {_json_type(value)}", INVALID_JSON)
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
