"""Fault injection for the crash tests: ``kill -9`` of this process at a named point.

``FASHION_BATCH_CRASH_AT=after_plan:3`` kills the run (SIGKILL, no cleanup at
all) the 3rd time it reaches ``crash_point("after_plan")``. Unset (always, in
production) it costs one dictionary lookup. The points sit in the windows
that matter for recovery: between a journal commit and the file moves, in the
middle of the moves, between moves and the next commit, and around outputs.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("FASHION_BATCH_CRASH_AT", "")
_NAME, _, _COUNT = _SPEC.partition(":")
_hits = {"n": 0}


def crash_point(name: str) -> None:
    if not _SPEC or name != _NAME:
        return
    _hits["n"] += 1
    if _hits["n"] >= int(_COUNT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
