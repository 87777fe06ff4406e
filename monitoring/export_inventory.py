#!/usr/bin/env python3
"""Inventory export (spec 7.4.1): a batch run's results as exports/inventory_import.csv.

    python monitoring/export_inventory.py --help

All logic lives in ``fashion_classifier.monitoring.inventory``; this works from the project root
with or without the package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.monitoring.inventory import main

if __name__ == "__main__":
    sys.exit(main())
