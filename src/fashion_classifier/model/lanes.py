"""How busy the whole API server is, so the Predictor can pick its threads per request.

A request that has the server to itself runs the model on every core (the *solo* lane: one
client waits least); while others are in flight each runs on its share of the cores (the
*shared* lane: many clients never oversubscribe them). docs/benchmarks/threads.md has the
numbers behind the choice.

"In flight" counts the API's prediction requests across every worker of one gunicorn master,
in a small shared-memory array made in the master before the first fork (``for_server``):
one slot per worker, written only by that worker's threads (under a lock of its own), so no
lock is ever shared between processes and a worker killed mid-request cannot leave one held.
The master gives each new worker a free slot (``claim``, gunicorn's ``pre_fork``) and zeroes
a dead worker's slot (``release``, ``child_exit``): a request that died with its worker is not
counted for ever. Outside gunicorn (the development server, tests) everything is slot 0.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

SLOTS = 256  # workers one master may have at once; more share the last slot (counted, never lost)


class InFlight:
    def __init__(self, slots: int = SLOTS):
        # anonymous shared memory: a forked worker sees the master's array, not a copy
        self._counts = multiprocessing.RawArray(ctypes.c_int, slots)
        self._used = multiprocessing.RawValue(ctypes.c_int, 1)  # slots [0, used) may be non-zero
        self._slot = 0  # this process's slot; set in the master just before a fork, so the child inherits it
        self._lock = threading.Lock()

    # --- the master (gunicorn hooks) ----------------------------------------
    def claim(self, taken: Iterable[int | None]) -> int:
        """Before forking a worker: the lowest free slot (not 0, not ``taken``), zeroed, for the child."""
        busy = set(taken)
        slot = next((s for s in range(1, len(self._counts)) if s not in busy), len(self._counts) - 1)
        self._counts[slot] = 0
        self._used.value = max(self._used.value, slot + 1)
        self._slot = slot
        return slot

    def release(self, slot: int | None) -> None:
        """After a worker exited: whatever its requests left counted is gone with them."""
        if slot is not None and 0 < slot < len(self._counts):
            self._counts[slot] = 0

    # --- every process -------------------------------------------------------
    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request in flight for as long as the block runs."""
        with self._lock:
            self._counts[self._slot] += 1
        try:
            yield
        finally:
            with self._lock:
                self._counts[self._slot] -= 1

    def total(self) -> int:
        """Requests in flight in the whole server now (this one included)."""
        return sum(self._counts[:self._used.value])


_SERVER: InFlight | None = None


def for_server() -> InFlight:
    """This server's counter: made at first use in the master (preloaded app or the first
    ``pre_fork``), so every worker forked after it shares it."""
    global _SERVER
    if _SERVER is None:
        _SERVER = InFlight()
    return _SERVER
