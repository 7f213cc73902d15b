"""Time for lazy state machines.

AWS resources move through states on their own (pending -> available). The
emulator never runs timers: it stores when something started and computes the
state whenever it is read, comparing the elapsed time with the configured
wait times the global time scale (see settings.py). Monotonic time, so a wall
clock jump cannot revive or expire anything.
"""

from __future__ import annotations

import time

from .settings import SETTINGS


def now() -> float:
    return time.monotonic()


def elapsed(since: float | None, wait_name: str) -> bool:
    """True once ``wait_name`` (scaled) has passed since ``since``."""
    if since is None:
        return True
    return now() - since >= SETTINGS.wait(wait_name)
