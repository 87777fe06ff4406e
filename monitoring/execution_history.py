#!/usr/bin/env python3
"""Execution history report (spec 6.6.2): runs, throughput, success rate, category mix, alerts; CSV export.

    python monitoring/execution_history.py --help

All logic lives in ``fashion_classifier.monitoring.history_report``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.monitoring.history_report import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.monitoring.history_report import main

if __name__ == "__main__":
    sys.exit(main())
