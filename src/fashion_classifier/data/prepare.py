"""Data preparation: Kaggle layout -> verified, de-duplicated, stratified splits.

Reads ``styles.csv`` + ``images/<id>.jpg``, keeps the ten categories, opens
every image (corrupt or missing ones are reported and skipped), groups
byte-identical images so that a group never straddles two splits, drops groups
whose copies carry conflicting labels, and writes a stratified 70/15/15 split
with a fixed seed to ``data/splits/{train,val,test}.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import CATEGORIES, check_category_names
from ..progress import progress

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_FIELDS = ("id", "path", "label", "sha256", "group")


@dataclass(frozen=True)
class Record:
    id: str
    path: str  # relative to the dataset directory
    label: str
    sha256: str = ""
    group: str = ""


def read_styles(styles_csv: Path, categories=CATEGORIES) -> list[tuple[str, str]]:
    """(id, articleType) rows whose type is one of ``categories`` (None: every type).

    The full Kaggle ``styles.csv`` has rows whose last column (the display name)
    holds unquoted commas, which break ``pandas.read_csv``. The first nine
    columns never do, so each line is split at most nine times.
    """
    rows = []
    with open(styles_csv, encoding="utf-8", errors="replace", newline="") as handle:
        header = next(csv.reader([handle.readline()]))
        id_col, type_col = header.index("id"), header.index("articleType")
        for line in handle:
            parts = line.rstrip("\r\n").split(",", len(header) - 1)
            if len(parts) <= max(id_col, type_col):
                continue
            item_id, article = parts[id_col].strip(), parts[type_col].strip()
            if item_id.isdigit() and (categories is None or article in categories):
                rows.append((item_id, article))
    return rows


def verify_image(path: Path) -> tuple[str | None, str]:
    """(sha256, "") for a good image, (None, reason) for a missing or broken one."""
    from PIL import Image

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable: {exc}"
    if not data:
        return None, "empty file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if min(image.size) < 8:
                return None, f"too small: {image.size}"
    except Exception as exc:  # any decoder failure means: skip, report
        return None, f"corrupt: {type(exc).__name__}: {exc}"
    return hashlib.sha256(data).hexdigest(), ""


def collect(dataset_dir: Path, categories=CATEGORIES) -> tuple[list[Record], dict[str, str]]:
    """Verified records of ``categories`` (None: all types), and {id: reason} of the skipped ones."""
    rows = read_styles(dataset_dir / "styles.csv", categories)
    records, skipped = [], {}
    for item_id, label in progress(rows, "verifying images", unit="img"):
        rel = f"images/{item_id}.jpg"
        digest, reason = verify_image(dataset_dir / rel)
        if digest is None:
            skipped[item_id] = reason
        else:
            records.append(Record(item_id, rel, label, digest))
    return records, skipped


def group_duplicates(records: list[Record]) -> tuple[list[Record], list[list[Record]]]:
    """Tag byte-identical images with one group id; split off conflicting groups."""
    by_hash: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_hash[record.sha256].append(record)
    kept, conflicts = [], []
    for members in by_hash.values():
        group = min(m.id for m in members) if len(members) > 1 else members[0].id
        tagged = [Record(m.id, m.path, m.label, m.sha256, group) for m in members]
        if len({m.label for m in members}) > 1:
            conflicts.append(tagged)
        else:
            kept.extend(tagged)
    return kept, conflicts


def stratified_group_split(records: list[Record], fractions=(0.70, 0.15, 0.15),
                           seed: int = 1337) -> dict[str, list[Record]]:
    """Split whole groups, class by class, so each split keeps the class mix."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.group].append(record)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group_id, members in sorted(groups.items()):
        by_label[members[0].label].append(group_id)
    splits: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for label in sorted(by_label):
        group_ids = by_label[label]
        rng.shuffle(group_ids)
        _assign_groups(group_ids, groups, fractions, splits)
    for name in SPLITS:
        splits[name].sort(key=lambda r: int(r.id))
    return splits


def _assign_groups(group_ids, groups, fractions, splits) -> None:
    """Greedy: each group goes to the split furthest below its image quota."""
    total = sum(len(groups[g]) for g in group_ids)
    targets = {name: frac * total for name, frac in zip(SPLITS, fractions, strict=True)}
    filled = Counter()
    for group_id in group_ids:
        name = max(SPLITS, key=lambda s: targets[s] - filled[s])
        splits[name].extend(groups[group_id])
        filled[name] += len(groups[group_id])


def write_splits(splits: dict[str, list[Record]], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in splits.items():
        with open(out_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(SPLIT_FIELDS)
            for r in records:
                writer.writerow((r.id, r.path, r.label, r.sha256, r.group))


def read_split(splits_dir: Path, name: str) -> list[Record]:
    with open(splits_dir / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return [Record(**row) for row in csv.DictReader(handle)]


def split_counts(splits: dict[str, list[Record]], categories=None) -> dict[str, dict[str, int]]:
    labels = categories or sorted({r.label for recs in splits.values() for r in recs})
    return {name: {c: sum(r.label == c for r in recs) for c in labels}
            for name, recs in splits.items()}


def data_hash(splits: dict[str, list[Record]]) -> str:
    """One hash over every (split, id, label, image hash): identifies the training data."""
    digest = hashlib.sha256()
    for name in splits:
        for r in splits[name]:
            digest.update(f"{name},{r.id},{r.label},{r.sha256}\n".encode())
    return digest.hexdigest()


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    lines = [f"{'category':<14}" + "".join(f"{s:>8}" for s in SPLITS) + f"{'total':>8}"]
    for c in counts[SPLITS[0]]:
        row = [counts[s][c] for s in SPLITS]
        lines.append(f"{c:<14}" + "".join(f"{n:>8}" for n in row) + f"{sum(row):>8}")
    totals = [sum(counts[s].values()) for s in SPLITS]
    lines.append(f"{'total':<14}" + "".join(f"{n:>8}" for n in totals) + f"{sum(totals):>8}")
    return "\n".join(lines)


def prepare(dataset_dir: Path, splits_dir: Path, seed: int = 1337,
            plot_path: Path | None = None, categories=CATEGORIES) -> dict:
    """The whole preparation; returns a report (also written as splits/report.json)."""
    check_category_names(categories)
    records, skipped = collect(dataset_dir, categories)
    for item_id, reason in sorted(skipped.items()):
        log.warning("skipped image %s: %s", item_id, reason)
    kept, conflicts = group_duplicates(records)
    for members in conflicts:
        log.warning("dropped duplicate group with conflicting labels: %s",
                    ", ".join(f"{m.id}={m.label}" for m in members))
    splits = stratified_group_split(kept, seed=seed)
    write_splits(splits, splits_dir)
    counts = split_counts(splits, list(categories))
    report = {
        "dataset_dir": str(dataset_dir),
        "seed": seed,
        "categories": list(categories),
        "images_listed": len(records) + len(skipped),
        "images_ok": len(records),
        "skipped": skipped,
        "duplicate_groups": len({r.group for r in kept if r.group != r.id}
                                | {m.group for g in conflicts for m in g}),
        "conflicting_groups": [[f"{m.id}={m.label}" for m in g] for g in conflicts],
        "counts": counts,
        "data_hash": data_hash(splits),
    }
    (splits_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if plot_path is not None:
        from ..training.plots import plot_class_distribution

        plot_class_distribution(counts, plot_path)
    return report
