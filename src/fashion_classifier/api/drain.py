"""Waiting for a lingering writer thread's queue to empty (``recorder``, ``logqueue``).

Both writers wait a little after an item arrives, so one wake-up writes many; ``hurry`` cuts
that wait short while someone waits for the queue to be written.
"""

from __future__ import annotations

import queue
import threading
import time


def drain(q: queue.Queue, hurry: threading.Event, timeout: float) -> bool:
    """True once every item put on ``q`` is done; False if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    hurry.set()
    try:
        with q.all_tasks_done:
            while q.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                q.all_tasks_done.wait(remaining)
        return True
    finally:
        hurry.clear()
