#!/usr/bin/env python3
"""Daily retention from cron: results older than 30 days, logs older than 90 (configurable).

    python monitoring/cleanup_retention.py --help

All logic lives in ``fashion_classifier.maintenance``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.maintenance import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.maintenance import main

if __name__ == "__main__":
    sys.exit(main(["retention", *sys.argv[1:]]))
