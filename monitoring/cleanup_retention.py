#!/usr/bin/env python3
"""Daily retention from cron: results older than 30 days, logs older than 90 (configurable).

    python monitoring/cleanup_retention.py --help

All logic lives in ``fashion_classifier.maintenance``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.maintenance import main

if __name__ == "__main__":
    sys.exit(main(["retention", *sys.argv[1:]]))
