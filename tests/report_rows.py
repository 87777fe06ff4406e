"""Journal rows of a made-up night, on real photo files, for the report tests (no batch run needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

from batch_support import dataset_photos, sha256

from fashion_classifier.batch.outputs import build
from fashion_classifier.model import TierPolicy

RUN_ID = "20261201_020000"  # a Tuesday


def photo_row(base: Path, seq: int, name: str, category: str, confidence: float, tier: str, **extra) -> dict:
    """A classified photo, its file really in processed_batches/<category>/."""
    source = dataset_photos(1, offset=seq)[0]
    dest = base / "data" / "processed_batches" / category / Path(name).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    row = {"id": seq, "seq": seq, "rel_name": name, "state": "done", "status": "success",
           "category": category, "confidence": confidence, "tier": tier, "top2_category": "Tshirts",
           "top2_confidence": 0.1,
           "dest_path": str(dest), "content_hash": sha256(dest.read_bytes()), "model_version": "1.0.0",
           "finished_at": "2026-12-01T02:00:07", "classified_at": "2026-12-01T02:00:05"}
    return row | extra


def failed_row(base: Path, seq: int, name: str, code: str, error: str, data: bytes | None = None) -> dict:
    dest = base / "data" / "failed" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data if data is not None else b"not a photo\n")
    return {"id": seq, "seq": seq, "rel_name": name, "state": "done", "status": "error", "error_code": code,
            "error": error, "dest_path": str(dest), "content_hash": sha256(dest.read_bytes()),
            "finished_at": "2026-12-01T02:00:09"}


def night(base: Path):
    """Auto, check, review and Other photos (names that sort differently as text and as numbers),
    one reviewed, and three failures (one of them a real photo whose file broke)."""
    good = dataset_photos(1, offset=40)[0].read_bytes()
    rows = [
        photo_row(base, 1, "IMG_10.jpg", "Shirts", 0.97, "auto"),
        photo_row(base, 2, "IMG_2.jpg", "Shirts", 0.91, "auto"),
        photo_row(base, 3, "IMG_3.jpg", "Watches", 0.80, "check"),
        photo_row(base, 4, "IMG_4.jpg", "Tops", 0.72, "check"),
        photo_row(base, 5, "IMG_5.jpg", "Kurtas", 0.55, "review"),
        photo_row(base, 6, "IMG_6.jpg", "Other", 0.62, "review", top2_category="Handbags"),
        photo_row(base, 7, "IMG_7.jpg", "Tops", 0.40, "review"),
        photo_row(base, 8, "IMG_8.jpg", "Tops", 0.45, "review", review_action="corrected",
                  review_category="Tshirts", reviewer="Sarah", reviewed_at="2026-12-01T08:15:00",
                  current_category="Tshirts"),
        failed_row(base, 9, "broken.jpg", "truncated_image", "the image file is truncated",
                   good[: len(good) // 2]),
        failed_row(base, 10, "notes.jpg", "unsupported_format", "not an image in a supported format (jpeg)"),
        failed_row(base, 11, "empty.jpg", "empty_file", "the file is empty", b""),
    ]
    corrected = Path(rows[7]["dest_path"])
    now = corrected.parent.parent / "Tshirts" / corrected.name
    now.parent.mkdir(exist_ok=True)
    corrected.rename(now)
    rows[7]["current_path"] = str(now)
    return build(RUN_ID, rows, base, TierPolicy())
