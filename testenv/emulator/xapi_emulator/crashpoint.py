"""Crash points: stop a client right after its k-th AWS write, or lose that write's answer.

A test enumerates the writes of an undisturbed run (every successful request
that is not a read), then replays the run once per write. Armed with
``{"after_write": k, "mode": "freeze"}``, the emulator answers the k-th
successful write and then holds every later request at the door until
released: the test kills the client while nothing else of it can reach AWS,
so "AWS acted, the client died before it could record it" is exact, not a
race. ``"mode": "drop"`` instead lets AWS act on the k-th write and drops its
connection (the client never hears of it). Requests already past the door
when the k-th write finished (the client's other chain, running side by side)
complete.

POST /_xapi/crashpoint {"after_write": k, "mode": "freeze" | "drop"}   arm (k >= 1);
                       {"after_write": 0}   count writes only; {"release": true}
GET  /_xapi/crashpoint {"armed", "mode", "after_write", "frozen", "writes": [op, ...]}
"""

from __future__ import annotations

import threading
from typing import Any

_READ_PREFIXES = ("Get", "Describe", "List")
_READS = {"TestInvokeMethod", "AssumeRole", "AssumeRoleWithWebIdentity"}

_lock = threading.Lock()
_open = threading.Event()
_open.set()
_state: dict[str, Any] = {"after_write": 0, "mode": "freeze", "writes": []}


def is_write(operation: str) -> bool:
    return not (operation.startswith(_READ_PREFIXES) or operation in _READS)


def configure(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("crashpoint: a JSON object expected")
    if body.get("release"):
        _open.set()
        return status()
    k = body.get("after_write", 0)
    mode = body.get("mode", "freeze")
    if not isinstance(k, int) or k < 0:
        raise ValueError("crashpoint.after_write: a whole number >= 0")
    if mode not in ("freeze", "drop"):
        raise ValueError("crashpoint.mode: freeze or drop")
    with _lock:
        _state.update({"after_write": k, "mode": mode, "writes": []})
    _open.set()
    return status()


def status() -> dict[str, Any]:
    with _lock:
        return {
            "armed": _state["after_write"] > 0 and len(_state["writes"]) < _state["after_write"],
            "after_write": _state["after_write"],
            "mode": _state["mode"],
            "frozen": not _open.is_set(),
            "writes": list(_state["writes"]),
        }


def door() -> None:
    """Called as a request arrives: held while frozen."""
    _open.wait()


def answered(service: str, operation: str, status_code: int | None) -> str | None:
    """Called once moto answered; "drop" when this answer is to be lost."""
    if status_code is None or status_code >= 300 or not is_write(operation):
        return None
    with _lock:
        _state["writes"].append(f"{service}:{operation}")
        hit = _state["after_write"] > 0 and len(_state["writes"]) == _state["after_write"]
        mode = _state["mode"]
    if not hit:
        return None
    if mode == "freeze":
        _open.clear()
        return None
    return "drop"


def reset() -> None:
    configure({"after_write": 0})
