#!/usr/bin/env python3
"""Execution history report (spec 6.6.2): runs, throughput, success rate, category mix, alerts; CSV export.

    python monitoring/execution_history.py --help

All logic lives in ``fashion_classifier.monitoring.history_report``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.monitoring.history_report import main

if __name__ == "__main__":
    sys.exit(main())
