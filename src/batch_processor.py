#!/usr/bin/env python3
"""Nightly batch processor (the spec's ``src/batch_processor.py``): a thin entry point.

    python src/batch_processor.py            # the nightly run with the defaults
    python src/batch_processor.py --help

All logic lives in ``fashion_classifier.batch``; this works from the project
root with or without the package installed, and runs itself in the project's
.venv when started with another Python (``fashion_classifier.entry``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path, the project's .venv)
from fashion_classifier.batch.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
