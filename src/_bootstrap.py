"""Lets the thin scripts here (``src/*.py``) run from a checkout: this folder on the path when
the package is not installed, and the project's .venv used when they are started with another
Python (``fashion_classifier.entry``)."""

import sys
from pathlib import Path

try:
    import fashion_classifier  # noqa: F401
except ImportError:  # not installed: use the checkout's src/
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from fashion_classifier.entry import use_project_venv  # noqa: E402

use_project_venv(sys.argv[0])
