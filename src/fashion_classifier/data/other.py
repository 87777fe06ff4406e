"""The other article types ("not one of ours"): split by type, then by image.

The model learns to answer ``Other`` from photos of article types that are none
of our categories (outlier exposure), and is judged on types it never saw. So the
types are split first, by a fixed documented list (docs/MODEL.md):

- ``HELD_OUT_TYPES``: never trained on; the open-world evaluation (``heldout.csv``).
- ``SAME_FAMILY``: kinds of one of our categories (a Kurti is a short kurta): not
  trained either way; answering the related category or ``Other`` are both right
  (``family.csv``), reported apart.
- every other type, including the look-alikes of ``LOOKALIKES`` (a sandal is not a
  heel, a sweatshirt is not a T-shirt): trained as ``Other``; split 70/15/15 by
  image (byte-identical photos kept together) into ``train/val/test.csv``. The
  look-alikes' test share is reported apart from the clearly different types.

``python -m fashion_classifier.data --other`` writes ``data/splits/other/``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .prepare import (
    Record,
    collect,
    data_hash,
    group_duplicates,
    read_split,
    stratified_group_split,
    write_splits,
)

log = logging.getLogger(__name__)

# one list per kind of item, so the held-out set covers garments, bags, shoes, accessories
HELD_OUT_TYPES: tuple[str, ...] = (
    "Trousers", "Nightdress", "Night suits", "Swimwear", "Rompers",      # garments
    "Messenger Bag", "Mobile Pouch", "Waist Pouch", "Rucksacks",          # bags
    "Flip Flops", "Booties",                                              # shoes
    "Belts", "Scarves", "Ring", "Cufflinks", "Umbrellas",                 # accessories
    "Lipstick", "Deodorant", "Water Bottle",                              # the rest
)
SAME_FAMILY: dict[str, str] = {
    "Kurtis": "Kurtas", "Kurta Sets": "Kurtas", "Lounge Tshirts": "Tshirts", "Camisoles": "Tops",
}
LOOKALIKES: dict[str, str] = {
    "Sweatshirts": "Tshirts", "Flats": "Heels", "Sandals": "Heels", "Sports Sandals": "Sports Shoes",
}
OTHER_SPLITS = ("train", "val", "test", "heldout", "family")


def role_of(article_type: str) -> str:
    if article_type in HELD_OUT_TYPES:
        return "heldout"
    if article_type in SAME_FAMILY:
        return "family"
    return "trained"


def prepare_other(dataset_dir: Path, out_dir: Path, seed: int = 1337, exclude=()) -> dict:
    """Verify the other-types folder and write its five splits plus ``report.json``.

    ``exclude``: article types that are categories of the model being trained (a
    category set may take one of these types as its own)."""
    records, skipped = collect(Path(dataset_dir), categories=None)
    records = [r for r in records if r.label not in set(exclude)]
    kept, conflicts = group_duplicates(records)
    trained = [r for r in kept if role_of(r.label) == "trained"]
    splits = stratified_group_split(trained, seed=seed)
    splits["heldout"] = sorted((r for r in kept if role_of(r.label) == "heldout"), key=lambda r: int(r.id))
    splits["family"] = sorted((r for r in kept if role_of(r.label) == "family"), key=lambda r: int(r.id))
    write_splits(splits, Path(out_dir))
    report = {
        "dataset_dir": str(dataset_dir), "seed": seed,
        "images_ok": len(records), "skipped": skipped, "excluded_types": sorted(exclude),
        "held_out_types": list(HELD_OUT_TYPES), "same_family": SAME_FAMILY, "lookalikes": LOOKALIKES,
        "images": {name: len(recs) for name, recs in splits.items()},
        "types": {name: _type_counts(recs) for name, recs in splits.items()},
        "data_hash": data_hash(splits),
    }
    (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _type_counts(records: list[Record]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r.label] = counts.get(r.label, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def read_other_split(splits_dir: Path, name: str) -> list[Record]:
    """One of ``OTHER_SPLITS`` (labels are article types); [] when not prepared."""
    path = Path(splits_dir) / f"{name}.csv"
    return read_split(Path(splits_dir), name) if path.is_file() else []


def other_data_hash(splits_dir: Path) -> str | None:
    path = Path(splits_dir) / "report.json"
    return json.loads(path.read_text()).get("data_hash") if path.is_file() else None
