#!/usr/bin/env python3
"""Batch report of the last N days or one day (the spec's command): a thin entry point.

    python src/generate_batch_report.py --days 7
    python src/generate_batch_report.py --date 2025-10-13
    python src/generate_batch_report.py --help

All logic lives in ``fashion_classifier.monitoring.reports``; run from a checkout, this
folder (``src/``) is on the path, so it works with or without the package installed, and it
runs itself in the project's .venv when started with another Python.
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path, the project's .venv)
from fashion_classifier.monitoring.reports import batch_report_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(batch_report_main())
