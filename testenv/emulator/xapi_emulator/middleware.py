"""WSGI middleware in front of moto's dispatcher.

Order per request: control endpoint (/_xapi/) -> fault injection -> API
Gateway quotas -> moto. moto's own /moto-api/ routes pass straight through;
a moto reset also empties the quota buckets.

moto's models are not thread-safe and the patches read-modify-write them
(purging deleted resources, syncing ENIs), so calls into moto run one at a
time; faults, quotas and the control endpoint do not wait for them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from . import control, faults, quotas
from .request_info import identify


class XapiMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._moto_lock = threading.Lock()

    def _moto(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self._moto_lock:
            # Flask builds the whole body before returning: materialise it
            # under the lock anyway, in case a handler streams.
            return list(self.app(environ, start_response))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_xapi/"):
            with self._moto_lock:  # /_xapi/reset also wipes moto
                return control.handle(environ, start_response)
        if path.startswith("/moto-api/reset"):
            quotas.reset()
            return self._moto(environ, start_response)
        info = identify(environ)
        if info is not None:
            answer = faults.maybe_inject(info, environ, start_response)
            if answer is None:
                answer = quotas.check(info, start_response)
            if answer is not None:
                return answer
        return self._moto(environ, start_response)
