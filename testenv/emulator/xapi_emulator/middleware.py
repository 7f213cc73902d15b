"""WSGI middleware in front of moto's dispatcher.

Order per request: control endpoint (/_xapi/) -> crash-point door (held
while frozen) -> fault injection -> API Gateway quotas -> identity-policy
authorization of enforced roles (iam_enforce.py) -> moto (-> a
``drop_after`` fault or a crash point drops the finished response). moto's own /moto-api/ routes pass straight through; a moto reset
also empties the quota buckets. Every other request is recorded in the
request log (requestlog.py) once it has been answered or dropped.

moto's models are not thread-safe and the patches read-modify-write them
(purging deleted resources, syncing ENIs), so calls into moto run one at a
time; faults, quotas and the control endpoint do not wait for them.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

from . import consistency, control, crashpoint, faults, iam_enforce, quotas, requestlog
from .request_info import identify
from .settings import SETTINGS


class XapiMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._moto_lock = threading.Lock()

    def _moto(self, environ: dict, start_response: Callable, info: Any = None,
              call: Any = None) -> Iterable[bytes]:
        with self._moto_lock:
            if call is not None:
                refused = iam_enforce.check(info, call, start_response)
                if refused is not None:
                    return list(refused)
            consistency.begin_call()
            # Flask builds the whole body before returning: materialise it
            # under the lock anyway, in case a handler streams.
            return list(self.app(environ, start_response))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_xapi/"):
            with self._moto_lock:  # /_xapi/reset also wipes moto
                return control.handle(environ, start_response)
        if path.startswith("/moto-api/"):
            if path.startswith("/moto-api/reset"):
                quotas.reset()
                iam_enforce.reset()
            return self._moto(environ, start_response)
        info = identify(environ)
        call = requestlog.begin(environ, info)
        status: list[int | None] = [None]

        def recording_start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        fault = None
        try:
            if info is not None:
                crashpoint.door()
                fault = faults.draw(info.service, call.operation)
                answer = faults.answer(fault, info, environ, recording_start_response)
                if answer is None:
                    answer = quotas.check(info, recording_start_response)
                    if answer is not None:
                        if fault == "drop_after":
                            faults.refund(info.service, call.operation, fault)
                        fault = "quota"
                if answer is not None:
                    return answer
            answer = self._moto(environ, recording_start_response, info, call)
            if info is not None:
                held = SETTINGS.latency.get(f"{info.service}:{call.operation}", 0.0)
                if held:
                    time.sleep(held * SETTINGS.time_scale)
            if fault == "drop_after":
                faults.drop(environ)  # AWS acted; the client never hears of it
            if info is not None and crashpoint.answered(info.service, call.operation, status[0]) == "drop":
                fault = "crashpoint"
                faults.drop(environ)
            return answer
        except faults.DropConnection:
            status[0] = None
            raise
        finally:
            requestlog.finish(call, status[0], fault)
