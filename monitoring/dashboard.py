#!/usr/bin/env python3
"""Monitoring dashboard and review queue: python monitoring/dashboard.py -> http://localhost:8050

    python monitoring/dashboard.py --help

All logic lives in ``fashion_classifier.dashboard.server``; this works from the project root
with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.dashboard.server import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from fashion_classifier.dashboard.server import main

if __name__ == "__main__":
    sys.exit(main())
