#!/usr/bin/env python3
"""Weekly summary report (spec 9.2.2): HTML with charts and CSV in results/reports/.

    python monitoring/weekly_report.py --help

All logic lives in ``fashion_classifier.monitoring.reports``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.monitoring.reports import weekly_main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.monitoring.reports import weekly_main

if __name__ == "__main__":
    sys.exit(weekly_main())
