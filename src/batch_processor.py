#!/usr/bin/env python3
"""Nightly batch processor (the spec's ``src/batch_processor.py``): a thin entry point.

    python src/batch_processor.py            # the nightly run with the defaults
    python src/batch_processor.py --help

All logic lives in ``fashion_classifier.batch``; this works from the project
root with or without the package installed.
"""

import sys
from pathlib import Path

try:
    from fashion_classifier.batch.cli import main
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fashion_classifier.batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
