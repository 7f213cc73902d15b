"""HTTP control endpoint under /_xapi/ (JSON), on the emulator's own port.

GET  /_xapi/config   current settings
POST /_xapi/config   merge a partial settings object, answer the result
POST /_xapi/reset    settings back to startup values, quota buckets emptied,
                     fault counts and request log cleared, and (unless the
                     body says {"moto": false}) moto's own state wiped like
                     POST /moto-api/reset
GET  /_xapi/health   {"ok": true}
GET  /_xapi/faults   injected faults since start/reset, per service and kind,
                     and per "service:Operation:kind" under "by_operation"
GET  /_xapi/requests?since=N   logged AWS requests with seq >= N, and "next"
GET  /_xapi/sts/sessions, POST /_xapi/iam/roles   see sts.py
GET|POST /_xapi/crashpoint   see crashpoint.py
POST /_xapi/vpclink/fail-next   see vpclink.py
"""

from __future__ import annotations

import json
from typing import Callable, Iterable
from urllib.parse import parse_qs

from . import crashpoint, faults, iam_enforce, quotas, requestlog, sts, vpclink
from .settings import SETTINGS, ConfigError


def _json(start_response: Callable, status: str, payload: object) -> Iterable[bytes]:
    body = json.dumps(payload, indent=1, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _read_json(environ: dict) -> object:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    return json.loads(raw) if raw.strip() else {}


def reset_moto() -> None:
    from moto.moto_api import _internal

    _internal.moto_api_backend.reset()


def handle(environ: dict, start_response: Callable) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "").rstrip("/")
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        if path == "/_xapi/health" and method == "GET":
            return _json(start_response, "200 OK", {"ok": True})
        if path == "/_xapi/config" and method == "GET":
            return _json(start_response, "200 OK", SETTINGS.to_dict())
        if path == "/_xapi/config" and method == "POST":
            return _json(start_response, "200 OK", SETTINGS.merge(_read_json(environ)))
        if path == "/_xapi/reset" and method == "POST":
            body = _read_json(environ)
            SETTINGS.reset()
            quotas.reset()
            sts.reset()
            faults.reset()
            crashpoint.reset()
            vpclink.reset()
            requestlog.reset()
            if not (isinstance(body, dict) and body.get("moto") is False):
                iam_enforce.reset()
                reset_moto()
            return _json(start_response, "200 OK", SETTINGS.to_dict())
        if path == "/_xapi/faults" and method == "GET":
            return _json(start_response, "200 OK", faults.counts())
        if path == "/_xapi/requests" and method == "GET":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            return _json(start_response, "200 OK", requestlog.since(int(query.get("since", ["0"])[0])))
        if path == "/_xapi/vpclink/fail-next" and method == "POST":
            return _json(start_response, "200 OK", vpclink.fail_next(_read_json(environ)))
        if path == "/_xapi/crashpoint" and method == "GET":
            return _json(start_response, "200 OK", crashpoint.status())
        if path == "/_xapi/crashpoint" and method == "POST":
            return _json(start_response, "200 OK", crashpoint.configure(_read_json(environ)))
        routed = sts.control_route(method, path, lambda: _read_json(environ))
        if routed is None:
            routed = iam_enforce.control_route(method, path, lambda: _read_json(environ))
        if routed is not None:
            return _json(start_response, *routed)
    except (ConfigError, ValueError) as exc:
        return _json(start_response, "400 Bad Request", {"error": str(exc)})
    return _json(start_response, "404 Not Found", {"error": f"no such control route: {method} {path}"})
