#!/usr/bin/env python3
"""Batch report for a custom date range (the spec's command, 9.7.1): a thin entry point.

    python src/generate_custom_report.py --start 2025-10-01 --end 2025-10-31
    python src/generate_custom_report.py --help

The same as ``monitoring/custom_report.py --from ... --to ...``; all logic lives in
``fashion_classifier.monitoring.reports``.
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path, the project's .venv)
from fashion_classifier.monitoring.reports import custom_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(custom_main(prog="generate_custom_report.py"))
