#!/usr/bin/env python3
"""The nightly batch's health box (spec 6.6.2): exit 0 OK, 1 warning, 2 critical.

    python monitoring/check_batch_health.py --help

All logic lives in ``fashion_classifier.monitoring.batch_health``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.monitoring.batch_health import main

if __name__ == "__main__":
    sys.exit(main())
