"""Fault injection on demand, per service.

For each request to a service with non-zero rates one random draw decides:
drop the connection before AWS acts (no response at all), answer a server
error (500/503), answer the service's own throttling error, or let the
request take effect and then drop the connection (the response is lost after
AWS acted, so a retry meets the result of the first attempt). Each service
gets the error code its real API uses, so SDK retry logic is exercised the
way AWS exercises it.

Per service, ``operations`` restricts faults to the named operations and
``limit`` caps how many faults are injected from the moment it is set.
Injected faults are counted per service and per operation.
"""

from __future__ import annotations

import random
import socket
import threading
from collections import Counter
from typing import Any, Callable, Iterable

from .errors import error_response
from .request_info import RequestInfo
from .settings import FAULT_SERVICES, SETTINGS

# service -> [(status, code) for server errors], (status, code) for throttling
_SERVER_ERRORS = {
    "ec2": [(500, "InternalError"), (503, "ServiceUnavailable")],
    "elasticloadbalancing": [(500, "InternalFailure"), (503, "ServiceUnavailable")],
    "sts": [(500, "InternalFailure"), (503, "ServiceUnavailable")],
    "apigateway": [(500, "InternalFailure"), (503, "ServiceUnavailableException")],
}
_THROTTLE = {
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "elasticloadbalancing": (400, "Throttling", "Rate exceeded"),
    "sts": (400, "Throttling", "Rate exceeded"),
    "apigateway": (429, "TooManyRequestsException", "Too Many Requests"),
}

# fault name (as counted and logged) -> rate setting, in draw order
KINDS = {"drop": "drop_rate", "error": "error_rate", "throttle": "throttle_rate", "drop_after": "drop_after_rate"}

_rng = random.Random()
_lock = threading.Lock()
_counts: Counter[tuple[str, str]] = Counter()  # (service, kind)
_by_operation: Counter[str] = Counter()  # "service:Operation:kind"
_budget: dict[str, tuple[int, int]] = {}  # service -> (limit generation, faults injected since)


class DropConnection(ConnectionResetError):
    """Raised after closing the socket; werkzeug treats it as a dropped
    connection and writes nothing."""


def draw(service: str, operation: str) -> str | None:
    """The fault to inject into this request, if any (and count it)."""
    rates = SETTINGS.faults.get(service)
    if not rates or not any(rates[k] for k in KINDS.values()):
        return None
    if rates["operations"] is not None and operation not in rates["operations"]:
        return None
    value = _rng.random()
    kind = None
    for name, setting in KINDS.items():
        if value < rates[setting]:
            kind = name
            break
        value -= rates[setting]
    if kind is None:
        return None
    with _lock:
        generation = SETTINGS.fault_limit_generation[service]
        if rates["limit"] is not None:
            seen_generation, used = _budget.get(service, (generation, 0))
            if seen_generation != generation:
                used = 0
            if used >= rates["limit"]:
                return None
            _budget[service] = (generation, used + 1)
        _counts[(service, kind)] += 1
        _by_operation[f"{service}:{operation or '?'}:{kind}"] += 1
    return kind


def refund(service: str, operation: str, kind: str) -> None:
    """Take back a drawn fault that never happened (a ``drop_after`` whose
    request the API Gateway quota refused before it reached moto)."""
    with _lock:
        _counts[(service, kind)] -= 1
        _by_operation[f"{service}:{operation or '?'}:{kind}"] -= 1
        if service in _budget:
            generation, used = _budget[service]
            _budget[service] = (generation, max(0, used - 1))


def drop(environ: dict) -> None:
    """Close the client's connection without an answer."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise DropConnection("xapi fault injection: connection dropped")


def answer(kind: str | None, info: RequestInfo, environ: dict,
           start_response: Callable) -> Iterable[bytes] | None:
    """Act on a drawn fault that replaces moto's answer; None lets the
    request through (no fault, or ``drop_after``, handled after moto)."""
    if kind == "drop":
        drop(environ)
    if kind == "error":
        status, code = _rng.choice(_SERVER_ERRORS[info.service])
        return error_response(start_response, info.service, status, code,
                              "xapi fault injection: internal error")
    if kind == "throttle":
        status, code, message = _THROTTLE[info.service]
        return error_response(start_response, info.service, status, code, message)
    return None


def counts() -> dict[str, Any]:
    with _lock:
        out: dict[str, Any] = {svc: {kind: _counts[(svc, kind)] for kind in KINDS} for svc in FAULT_SERVICES}
        out["by_operation"] = {key: n for key, n in sorted(_by_operation.items()) if n}
    return out


def reset() -> None:
    with _lock:
        _counts.clear()
        _by_operation.clear()
        _budget.clear()
