#!/usr/bin/env python3
"""Monitoring dashboard and review queue: python monitoring/dashboard.py -> http://localhost:8050

    python monitoring/dashboard.py --help

All logic lives in ``fashion_classifier.dashboard.server``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.dashboard.server import main

if __name__ == "__main__":
    sys.exit(main())
