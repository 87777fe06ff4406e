"""Split records -> model-input arrays, through the serving preprocessing, cached on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.prepare import Record, read_split
from ..imaging import load_model_input
from ..labels import CATEGORIES
from ..progress import progress


def load_arrays(records: list[Record], dataset_dir: Path, size: tuple[int, int],
                cache_dir: Path | None = None, label: str = "images",
                labels: Sequence[str] = CATEGORIES, fixed_index: int | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 N x H x W x 3, int labels); cached by size and the records' content.

    A record's label is its index in ``labels``, or ``fixed_index`` for every record
    (the other article types all answer Other)."""
    key = hashlib.sha256(repr((size, [(r.id, r.sha256, r.label) for r in records], tuple(labels),
                               fixed_index)).encode())
    cache = Path(cache_dir) / f"{label}_{size[0]}x{size[1]}_{key.hexdigest()[:12]}.npz" if cache_dir else None
    if cache and cache.is_file():
        with np.load(cache) as saved:
            return saved["x"], saved["y"]
    x = np.empty((len(records), size[0], size[1], 3), dtype=np.uint8)
    for i, record in enumerate(progress(records, f"decoding {label}", unit="img")):
        x[i] = load_model_input(Path(dataset_dir) / record.path, size)
    y = np.array([fixed_index if fixed_index is not None else labels.index(r.label) for r in records],
                 dtype=np.int64)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, y=y)
        tmp.replace(cache)
    return x, y


def split_records(splits_dir: Path, name: str, limit: int | None = None, seed: int = 0) -> list[Record]:
    """A split's records, or a seeded random subset of ``limit`` of them (order kept)."""
    records = read_split(Path(splits_dir), name)
    if limit and limit < len(records):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(records), size=limit, replace=False))
        records = [records[i] for i in keep]
    return records


def load_split_arrays(splits_dir: Path, name: str, dataset_dir: Path, size: tuple[int, int],
                      cache_dir: Path | None = None, limit: int | None = None,
                      seed: int = 0, labels: Sequence[str] = CATEGORIES) -> tuple[np.ndarray, np.ndarray]:
    records = split_records(splits_dir, name, limit, seed)
    return load_arrays(records, dataset_dir, size, cache_dir, label=name, labels=labels)


def load_other_arrays(config, name: str, size: tuple[int, int], other_index: int,
                      limit: int | None = None, seed: int = 0,
                      exclude: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, list[Record]]:
    """One split of the other article types (``data/splits/other``), every label ``other_index``.

    ``exclude``: article types that are categories of the model (never taught as Other)."""
    from ..data.other import read_other_split

    records = [r for r in read_other_split(config.path("other_splits_dir"), name) if r.label not in exclude]
    if limit and limit < len(records):
        rng = np.random.default_rng(seed)
        records = [records[i] for i in np.sort(rng.choice(len(records), size=limit, replace=False))]
    x, y = load_arrays(records, config.path("other_dataset_dir"), size, config.path("cache_dir"),
                       label=f"other_{name}", fixed_index=other_index)
    return x, y, records
