#!/usr/bin/env python3
"""API health check for cron: exit 0 OK, 1 warning, 2 critical (alerts after 3 failures in a row).

    python monitoring/check_api_health.py --help

All logic lives in ``fashion_classifier.monitoring.api_health``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.monitoring.api_health import main

if __name__ == "__main__":
    sys.exit(main())
