#!/usr/bin/env python3
"""The clerks' review decisions as labelled training data (data/corrections/corrections.csv).

    python monitoring/export_corrections.py --help

All logic lives in ``fashion_classifier.review.cli``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.review.cli import main

if __name__ == "__main__":
    sys.exit(main())
