#!/usr/bin/env python3
"""The clerks' review decisions as labelled training data (data/corrections/corrections.csv).

    python monitoring/export_corrections.py --help

All logic lives in ``fashion_classifier.review.cli``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.review.cli import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.review.cli import main

if __name__ == "__main__":
    sys.exit(main())
