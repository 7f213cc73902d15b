"""WSGI middleware in front of moto's dispatcher.

Order per request: control endpoint (/_xapi/) -> fault injection -> API
Gateway quotas -> moto. moto's own /moto-api/ routes pass straight through;
a moto reset also empties the quota buckets.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from . import control, faults, quotas
from .request_info import identify


class XapiMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_xapi/"):
            return control.handle(environ, start_response)
        if path.startswith("/moto-api/reset"):
            quotas.reset()
            return self.app(environ, start_response)
        info = identify(environ)
        if info is not None:
            answer = faults.maybe_inject(info, environ, start_response)
            if answer is None:
                answer = quotas.check(info, start_response)
            if answer is not None:
                return answer
        return self.app(environ, start_response)
