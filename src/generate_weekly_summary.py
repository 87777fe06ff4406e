#!/usr/bin/env python3
"""Weekly summary report (the spec's command, 9.2.2): a thin entry point.

    python src/generate_weekly_summary.py              # the last complete week
    python src/generate_weekly_summary.py --week 2025-W42
    python src/generate_weekly_summary.py --help

The same as ``monitoring/weekly_report.py``; all logic lives in
``fashion_classifier.monitoring.reports``.
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path, the project's .venv)
from fashion_classifier.monitoring.reports import weekly_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(weekly_main(prog="generate_weekly_summary.py"))
