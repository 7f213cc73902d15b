"""Eventual consistency of the EC2 API.

AWS: a resource just created may not be visible to the calls that follow for
a short while ("Eventual consistency in the Amazon EC2 API"), e.g. a
DescribeSecurityGroups or AuthorizeSecurityGroupIngress right after
CreateSecurityGroup can fail with InvalidGroup.NotFound.

A resource is marked with the time and the call that created it. For
``ec2_consistency`` seconds (scaled like every wait) it is hidden from every
other call; the creating call itself (and so its own answer) sees it. Calls
into moto run one at a time (see middleware.py), each numbered by
:func:`begin_call` in the thread that runs it.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from . import clock

_calls = itertools.count(1)
_current = threading.local()


def begin_call() -> None:
    """Start a new call into moto in this thread."""
    _current.call = next(_calls)


def mark(obj: Any) -> None:
    """Remember that ``obj`` was created by the running call, now."""
    obj.__dict__["xapi_born"] = (clock.now(), getattr(_current, "call", None))


def hidden(obj: Any) -> bool:
    """True while ``obj`` is still invisible to the running call."""
    born = obj.__dict__.get("xapi_born") if obj is not None else None
    if born is None:
        return False
    created, call = born
    if call is not None and call == getattr(_current, "call", None):
        return False
    return not clock.elapsed(created, "ec2_consistency")
