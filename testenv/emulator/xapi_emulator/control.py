"""HTTP control endpoint under /_xapi/ (JSON), on the emulator's own port.

GET  /_xapi/config   current settings
POST /_xapi/config   merge a partial settings object, answer the result
POST /_xapi/reset    settings back to startup values, quota buckets emptied,
                     and (unless the body says {"moto": false}) moto's own
                     state wiped like POST /moto-api/reset
GET  /_xapi/health   {"ok": true}
"""

from __future__ import annotations

import json
from typing import Callable, Iterable

from . import quotas
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
            if not (isinstance(body, dict) and body.get("moto") is False):
                reset_moto()
            return _json(start_response, "200 OK", SETTINGS.to_dict())
    except (ConfigError, ValueError) as exc:
        return _json(start_response, "400 Bad Request", {"error": str(exc)})
    return _json(start_response, "404 Not Found", {"error": f"no such control route: {method} {path}"})
