#!/usr/bin/env python3
"""Alert self-test (the reference system's command): ``python monitoring/alerting.py --test``.

Sends an INFO, WARNING, ERROR and CRITICAL test alert through every configured channel and
says which worked; ``--help`` for the settings and exit codes. All logic lives in
``fashion_classifier.alerts.selftest``; this works from the project root with or without the
package installed (``_bootstrap``).
"""

import sys

import _bootstrap  # noqa: F401  (src/ on the path when not installed)
from fashion_classifier.alerts.selftest import main

if __name__ == "__main__":
    sys.exit(main())
