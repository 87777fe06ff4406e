#!/usr/bin/env python3
"""The nightly batch's health box (spec 6.6.2): exit 0 OK, 1 warning, 2 critical.

    python monitoring/check_batch_health.py --help

All logic lives in ``fashion_classifier.monitoring.batch_health``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.monitoring.batch_health import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.monitoring.batch_health import main

if __name__ == "__main__":
    sys.exit(main())
