"""A seeded, time-bounded mutation fuzzer over real photos in every supported format.

The decoder's contract: whatever the bytes, ``decode_image`` returns an RGB image or
raises an ``ImageError`` (a 4xx for the API, one failed file for the batch), never
anything else. The fuzzer found pillow-heif's ``RuntimeError`` (a corrupt HEIF) once;
the regression below keeps that exact input.
"""

from __future__ import annotations

import io
import random
import time

import pytest
from conftest import image_bytes, real_photos
from PIL import Image

from fashion_classifier import imaging
from fashion_classifier.imaging import CorruptImageError, DecodeBudget, ImageError, decode_image

SEED = 20261201
FUZZ_SECONDS = 20.0  # the whole fuzz, all formats together
MAX_CASES = 20_000
FORMATS = ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"] + (["HEIF"] if imaging.HEIF_SUPPORTED else [])


def seeds_per_format() -> dict[str, list[bytes]]:
    """Two real product photos, re-encoded in each format (small, so a case costs little)."""
    photos = [Image.open(path).convert("RGB") for _, path in real_photos()[:2]]
    photos = [photo.resize((photo.width // 3, photo.height // 3)) for photo in photos]
    out = {}
    for fmt in FORMATS:
        extra = {"quality": 80} if fmt in ("JPEG", "WEBP", "HEIF") else {}
        out[fmt] = [image_bytes(photo if fmt != "GIF" else photo.convert("P"), fmt, **extra)
                    for photo in photos]
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to a few of: flip bytes, write a big integer into a header, cut, splice, repeat."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        position = rng.randrange(len(out)) if out else 0
        if kind == 0:  # a few random bytes
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 1:  # a header field (width, height, length) becomes huge or zero
            value = rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)])
            head = min(len(out) - 4, 512)
            at = rng.randrange(max(1, head))
            out[at:at + 4] = value.to_bytes(4, rng.choice(["big", "little"]))
        elif kind == 2:  # truncated
            del out[max(8, position):]
        elif kind == 3:  # garbage inserted
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif kind == 4:  # a range zeroed
            end = min(len(out), position + rng.randint(1, 256))
            out[position:end] = bytes(end - position)
        else:  # a block repeated
            end = min(len(out), position + rng.randint(1, 512))
            out[position:position] = out[position:end]
    return bytes(out)


def test_mutated_real_photos_only_ever_raise_image_error():
    rng = random.Random(SEED)
    seeds = seeds_per_format()
    counts = {fmt: {"cases": 0, "decoded": 0, "refused": 0} for fmt in FORMATS}
    unexpected = []
    deadline = time.monotonic() + FUZZ_SECONDS
    case = 0
    while case < MAX_CASES and time.monotonic() < deadline:
        fmt = FORMATS[case % len(FORMATS)]
        data = mutate(rng.choice(seeds[fmt]), rng)
        case += 1
        counts[fmt]["cases"] += 1
        try:
            image = decode_image(data, draft_size=(224, 224))
        except ImageError:
            counts[fmt]["refused"] += 1
            continue
        except Exception as exc:  # the bug class this test exists for
            unexpected.append((fmt, f"{type(exc).__name__}: {exc}"[:200], data))
            continue
        assert image.mode == "RGB" and image.width > 0 and image.height > 0
        counts[fmt]["decoded"] += 1
    print(f"fuzz: {case} cases in at most {FUZZ_SECONDS:g} s (seed {SEED}): {counts}")
    assert not unexpected, [u[:2] for u in unexpected[:10]]
    for fmt, count in counts.items():  # every format was really exercised, both ways
        assert count["cases"] >= 20 and count["refused"] > 0, (fmt, count)


def corrupt_heif() -> bytes:
    """The fuzzer's find: a HEIF whose 'ispe' box claims 2 147 418 112 pixels a side."""
    data = bytearray(image_bytes(Image.new("RGB", (64, 48), (200, 30, 40)), "HEIF"))
    box = data.find(b"ispe")
    data[box + 8:box + 16] = (0x7FFF0000).to_bytes(4, "big") * 2
    return bytes(data)


def test_corrupt_heif_is_a_corrupt_image_error():
    if not imaging.HEIF_SUPPORTED:
        pytest.skip("pillow-heif is not installed on this platform")
    with pytest.raises(RuntimeError):  # what pillow-heif itself raises: the input is the real one
        Image.open(io.BytesIO(corrupt_heif())).load()
    with pytest.raises(CorruptImageError) as caught:
        decode_image(corrupt_heif())
    assert caught.value.code == "corrupt_image" and caught.value.http_status == 400


def test_decode_budget_refuses_pixels_after_the_first_image():
    budget = DecodeBudget(max_pixels=3000, max_seconds=60)
    small = image_bytes(Image.new("RGB", (40, 40), (10, 20, 30)))  # 1600 pixels
    decode_image(small, budget=budget)
    with pytest.raises(imaging.DecodeBudgetError) as caught:  # 1600 + 1600 > 3000
        decode_image(small, budget=budget)
    assert caught.value.code == "request_budget_exceeded"
    assert budget.images == 1 and budget.pixels == 1600
    big_first = DecodeBudget(max_pixels=10, max_seconds=60)
    assert decode_image(small, budget=big_first).size == (40, 40)  # the first image always fits


def test_decode_budget_counts_jpeg_pixels_after_draft_scaling():
    photo = Image.new("RGB", (4000, 3000), (120, 60, 30))
    budget = DecodeBudget(max_pixels=10**9, max_seconds=60)
    decode_image(image_bytes(photo, "JPEG"), draft_size=(224, 224), budget=budget)
    assert budget.pixels == 500 * 375  # decoded at 1/8 scale, charged as such


def test_decode_budget_refuses_images_once_its_time_is_spent():
    budget = DecodeBudget(max_pixels=10**9, max_seconds=0.0)
    small = image_bytes(Image.new("RGB", (8, 8)))
    decode_image(small, budget=budget)
    with pytest.raises(imaging.DecodeBudgetError, match="decode budget"):
        decode_image(small, budget=budget)
