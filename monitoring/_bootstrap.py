"""Lets the thin scripts here run from a checkout whose package is not installed."""

import sys
from pathlib import Path

try:
    import fashion_classifier  # noqa: F401
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
