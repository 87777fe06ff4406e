#!/usr/bin/env python3
"""Weekly summary report (spec 9.2.2): HTML with charts and CSV in results/reports/.

    python monitoring/weekly_report.py --help

All logic lives in ``fashion_classifier.monitoring.reports``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.monitoring.reports import weekly_main

if __name__ == "__main__":
    sys.exit(weekly_main())
