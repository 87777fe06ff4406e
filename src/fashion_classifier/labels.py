"""Category names: the model's own label list is the one source at serving time.

``DEFAULT_CATEGORIES`` is only what training uses when told nothing else. Everything
that serves, sorts, reports or reviews reads the list of the model in service
(``models/labels.json``, written by training beside the model) through
``load_labels``/``category_names``. ``Other`` ("none of our categories") is a
reserved answer, never a trained category name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "Tshirts",
    "Shirts",
    "Casual Shoes",
    "Watches",
    "Sports Shoes",
    "Kurtas",
    "Tops",
    "Handbags",
    "Heels",
    "Sunglasses",
)
CATEGORIES = DEFAULT_CATEGORIES  # training's default list (kept for the data tools and old imports)

OTHER = "Other"  # the open-world answer: not one of our categories
RESERVED = frozenset({OTHER.lower(), "failed", "unknown"})
MAX_NAME_LENGTH = 60


def check_category_names(names: Iterable[str]) -> tuple[str, ...]:
    """The names as a tuple, or ValueError when one cannot be a category (and a folder)."""
    names = tuple(names)
    if len(names) < 2:
        raise ValueError("at least two categories are needed")
    if len(set(names)) != len(names):
        raise ValueError("category names must be unique")
    for name in names:
        if not name or name != name.strip() or len(name) > MAX_NAME_LENGTH:
            raise ValueError(f"bad category name {name!r}")
        if name.lower() in RESERVED:
            raise ValueError(f"{name!r} is reserved and cannot be a trained category")
        if any(ch in name for ch in '/\\:*?"<>|') or name.startswith(".") or not name.isprintable():
            raise ValueError(f"category name {name!r} cannot be a folder name")
    return names


def parse_categories(text: str) -> tuple[str, ...]:
    """``"Tshirts,Shirts,Watches"`` -> checked names (for --categories options)."""
    return check_category_names(part.strip() for part in text.split(",") if part.strip())


def split_labels(labels: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """A model's output labels -> (its categories, whether it has the Other output)."""
    categories = tuple(label for label in labels if label != OTHER)
    return categories, len(categories) != len(labels)


def load_labels(path: Path) -> tuple[str, ...]:
    """The model's output labels in order (may end with ``Other``)."""
    labels = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path}: expected a JSON list of category names")
    check_category_names(split_labels(labels)[0])
    return tuple(labels)


def category_names(config) -> tuple[str, ...]:
    """The categories of the model in service (without ``Other``), for code without a Predictor."""
    from .models.store import serving_config

    try:
        path = serving_config(config).path("labels_path")
        return split_labels(load_labels(path))[0]
    except (OSError, ValueError):
        return DEFAULT_CATEGORIES


def folder_names(categories: Sequence[str]) -> tuple[str, ...]:
    """Every destination a photo can have: the categories, then ``Other``."""
    return tuple(categories) + (OTHER,)


def report_columns(categories: Sequence[str], seen: Iterable[str] = ()) -> list[str]:
    """Columns of a report: the model's categories and Other, then any other name the history holds
    (a category of an earlier model)."""
    known = folder_names(categories)
    return list(known) + sorted(set(seen) - set(known))
