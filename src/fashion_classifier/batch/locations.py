"""Warehouse locations per category (``config/locations.json``), for the pick lists."""

from __future__ import annotations

import json
from pathlib import Path

UNASSIGNED = "unassigned (ask the warehouse lead)"


def load_locations(path: Path) -> dict[str, str]:
    """category -> location; keys starting with "_" are comments. A broken file is not fatal."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith("_")}


def location_for(locations: dict[str, str], category: str) -> str:
    return locations.get(category, locations.get("default", UNASSIGNED))
