"""The batch never rejects a real photo for its size (batch/shrink.py): a 48-MP JPEG of 24 MB and
a 48-MP HEIC of 20 MB and more, tiled like a phone's (both above the 10-MB upload limit), go
through a run via the real API (gunicorn), get the category the Predictor gives the original,
and land in their folder byte for byte the original."""

from __future__ import annotations

import io

import numpy as np
import pytest
from batch_support import (
    BATCH_KEY,
    PROCESSED,
    ApiServer,
    clean_env,
    csv_rows,
    dataset_photos,
    db_rows,
    remaining_inputs,
    run_batch,
    sha256,
)
from PIL import Image

from fashion_classifier.batch.shrink import SEND_SIDE, for_upload
from fashion_classifier.config import Config
from fashion_classifier.imaging import CorruptImageError

UPLOAD_LIMIT = 10 * 1024 * 1024  # the API's max_upload_bytes (default)
SIZE_48MP = (8000, 6000)


def noisy(source, size: tuple[int, int], spread: int, seed: int = 0) -> Image.Image:
    """A real product photo blown up to ``size``, with sensor-like noise so it compresses like a photo."""
    image = Image.open(source).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.int16)
    noise = np.random.default_rng(seed).integers(-spread, spread + 1, size=pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory):
    import pillow_heif

    pillow_heif.register_heif_opener()
    jpeg_source, heic_source = dataset_photos(2, offset=11)
    jpeg = encoded(noisy(jpeg_source, SIZE_48MP, 24), "JPEG", quality=95)
    # tiled in 512-px tiles as phones write them (a single-frame HEIC above ~16 MB is one HEVC
    # frame libheif cannot decode here); x265's fastest preset keeps the encoding to seconds
    tile = pillow_heif.options.GRID_TILE_SIZE
    pillow_heif.options.GRID_TILE_SIZE = 512
    try:
        heic = encoded(noisy(heic_source, SIZE_48MP, 16, seed=1), "HEIF", quality=90,
                       enc_params={"preset": "ultrafast"})
    finally:
        pillow_heif.options.GRID_TILE_SIZE = tile
    assert min(len(jpeg), len(heic)) >= 20 * 1024 * 1024, (len(jpeg), len(heic))
    return {"48mp.jpg": jpeg, "phone.heic": heic}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with ApiServer(tmp_path_factory.mktemp("api"), workers=1) as server:
        yield server


def test_big_photos_through_the_api_are_classified_and_moved_untouched(tmp_path, big_photos, api):
    from fashion_classifier.model import Predictor

    predictor = Predictor.from_config(Config.from_env(clean_env()))
    expected = {name: predictor.predict_many([data])[0] for name, data in big_photos.items()}
    incoming, out = tmp_path / "in", tmp_path / "out"
    incoming.mkdir()
    for name, data in big_photos.items():
        (incoming / name).write_bytes(data)
    env = clean_env(API_URL=api.url, FASHION_BATCH_KEY=BATCH_KEY, FASHION_FALLBACK_LOCAL="false")
    result = run_batch(incoming, out, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = {r["filename"]: r for r in csv_rows(out)}
    assert remaining_inputs(incoming) == []
    for name, data in big_photos.items():
        row, want = rows[name], expected[name]
        assert row["status"] == "success", (name, row["error_code"], row["error_detail"])
        assert row["category"] == want.category, (row, want)
        assert abs(float(row["confidence"]) - want.confidence) < 0.05, (row, want)
        placed = out / row["destination"]
        assert placed.parent == out / PROCESSED / want.category
        assert placed.read_bytes() == data and row["content_hash"] == sha256(data), "moved untouched"
    journal = db_rows(out, "SELECT rel_name, classified_by FROM batch_files")
    assert {r["classified_by"] for r in journal} == {"api"}, journal


def test_the_reduced_copy_is_upright_small_and_only_for_big_files(big_photos):
    small = encoded(noisy(dataset_photos(1)[0], (800, 600), 4), "JPEG", quality=90)
    assert for_upload(small, UPLOAD_LIMIT) is small, "a photo the API takes is sent as it is"
    reduced = for_upload(big_photos["48mp.jpg"], UPLOAD_LIMIT)
    assert len(reduced) < UPLOAD_LIMIT // 2
    assert Image.open(io.BytesIO(reduced)).size == (SEND_SIDE, SEND_SIDE * 3 // 4)
    # EXIF orientation 6 (turned on its side): the copy is upright, as the Predictor would see it
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = encoded(noisy(dataset_photos(1)[0], SIZE_48MP, 24), "JPEG", quality=95, exif=exif.tobytes())
    upright = Image.open(io.BytesIO(for_upload(turned, UPLOAD_LIMIT)))
    assert upright.size == (SEND_SIDE * 3 // 4, SEND_SIDE), "turned upright like decode_image does"
    with pytest.raises(CorruptImageError):
        for_upload(big_photos["48mp.jpg"][: UPLOAD_LIMIT + 10], UPLOAD_LIMIT)
