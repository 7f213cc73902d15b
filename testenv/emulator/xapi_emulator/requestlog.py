"""Log of every AWS request the emulator answered (or dropped).

Tests read it over ``GET /_xapi/requests?since=N`` to see what a client really
sent: which operations, in which account, with which parameters, and how each
ended (HTTP status, injected fault), and by which AssumeRole session (its
RoleSessionName, for credentials the emulator's STS issued). Entries are appended when a request
completes; ``seq`` grows by one per entry and never restarts (not even on
reset), so ``since`` from an earlier answer stays meaningful. Only the last
``MAX_ENTRIES`` are kept.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import sts
from .operations import REST_SERVICES, rest_operation
from .request_info import RequestInfo

MAX_ENTRIES = 20000
MAX_BODY = 256 * 1024  # larger bodies are logged by size only

# API version of a query-protocol request -> signing name, for unsigned calls
_QUERY_VERSIONS = {
    "2016-11-15": "ec2",
    "2015-12-01": "elasticloadbalancing",
    "2012-06-01": "elasticloadbalancing",
    "2011-06-15": "sts",
}


@dataclass
class Call:
    time: float
    service: str | None
    operation: str
    account: str | None
    region: str | None
    params: dict[str, Any] = field(default_factory=dict)
    # RoleSessionName of the credentials, when an AssumeRole issued them.
    session: str | None = None


_entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)
_next_seq = [1]
_lock = threading.Lock()


def _read_body(environ: dict) -> bytes:
    """Read the request body and put it back for moto."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length:
        raw = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        raw = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            return gzip.decompress(raw)
        except OSError:
            return raw
    return raw


def _flat(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as given; a key sent more than once keeps every value."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[key] = value
    return out


def begin(environ: dict, info: RequestInfo | None) -> Call:
    raw = _read_body(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    query = environ.get("QUERY_STRING", "")
    service = info.service if info is not None else None
    if service in REST_SERVICES:
        raw_path = urlsplit(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").path
        raw_path = raw_path or environ.get("PATH_INFO", "")
        query_params = _flat(parse_qsl(query, keep_blank_values=True))
        if len(raw) > MAX_BODY:
            body: Any = f"<{len(raw)} bytes>"
        elif not raw.strip():
            body = None
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        params: dict[str, Any] = {"method": method, "path": environ.get("PATH_INFO", ""),
                                  "query": query_params, "body": body}
        operation = rest_operation(service, method, raw_path, query_params)
    else:
        text = raw.decode("utf-8", "replace") if len(raw) <= MAX_BODY else ""
        params = _flat(parse_qsl(query, keep_blank_values=True) + parse_qsl(text, keep_blank_values=True))
        operation = params.get("Action") if isinstance(params.get("Action"), str) else ""
        if service is None and operation:
            service = _QUERY_VERSIONS.get(params.get("Version"))
    account = None
    if info is not None:
        try:
            account = info.account
        except Exception:  # an access key moto cannot place: leave it open
            account = None
    return Call(time=time.time(), service=service, operation=operation or "", account=account,
                region=info.region if info is not None else None, params=params,
                session=sts.session_of(info.access_key) if info is not None else None)


def finish(call: Call, status: int | None, fault: str | None) -> None:
    with _lock:
        seq = _next_seq[0]
        _next_seq[0] += 1
        _entries.append({
            "seq": seq, "time": call.time, "service": call.service, "operation": call.operation,
            "account": call.account, "region": call.region, "status": status, "fault": fault,
            "params": call.params, "session": call.session,
        })


def since(seq: int) -> dict[str, Any]:
    with _lock:
        return {"next": _next_seq[0], "requests": [e for e in _entries if e["seq"] >= seq]}


def reset() -> None:
    with _lock:
        _entries.clear()
