"""Fault injection on demand, per service.

For each request to a service with non-zero rates one random draw decides:
drop the connection (no response at all), answer a server error (500/503) or
answer the service's own throttling error. Each service gets the error code
its real API uses, so SDK retry logic is exercised the way AWS exercises it.
"""

from __future__ import annotations

import random
import socket
from typing import Callable, Iterable

from .errors import error_response
from .request_info import RequestInfo
from .settings import SETTINGS

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

_rng = random.Random()


class DropConnection(ConnectionResetError):
    """Raised after closing the socket; werkzeug treats it as a dropped
    connection and writes nothing."""


def maybe_inject(info: RequestInfo, environ: dict, start_response: Callable) -> Iterable[bytes] | None:
    rates = SETTINGS.faults.get(info.service)
    if not rates or not any(rates.values()):
        return None
    draw = _rng.random()
    if draw < rates["drop_rate"]:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise DropConnection("xapi fault injection: connection dropped")
    draw -= rates["drop_rate"]
    if draw < rates["error_rate"]:
        status, code = _rng.choice(_SERVER_ERRORS[info.service])
        return error_response(start_response, info.service, status, code,
                              "xapi fault injection: internal error")
    draw -= rates["error_rate"]
    if draw < rates["throttle_rate"]:
        status, code, message = _THROTTLE[info.service]
        return error_response(start_response, info.service, status, code, message)
    return None
