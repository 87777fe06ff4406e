#!/usr/bin/env python3
"""Inventory export (spec 7.4.1): a batch run's results as exports/inventory_import.csv.

    python monitoring/export_inventory.py --help

All logic lives in ``fashion_classifier.monitoring.inventory``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.monitoring.inventory import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.monitoring.inventory import main

if __name__ == "__main__":
    sys.exit(main())
