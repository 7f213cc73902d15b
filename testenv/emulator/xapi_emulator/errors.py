"""AWS-shaped error responses per wire protocol, for answers the middleware
gives without reaching moto (faults, throttling)."""

from __future__ import annotations

import json
import uuid
from typing import Callable, Iterable

_XMLNS = {
    "elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

_REASONS = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_response(
    start_response: Callable,
    service: str,
    status: int,
    code: str,
    message: str,
    extra_headers: dict[str, str] | None = None,
) -> Iterable[bytes]:
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if service == "apigateway":
        # REST-JSON: botocore reads the code from x-amzn-ErrorType.
        body = json.dumps({"message": message}).encode()
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
    elif service == "ec2":
        body = (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    else:
        kind = "Sender" if status < 500 else "Receiver"
        xmlns = _XMLNS.get(service, "")
        body = (
            f"<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    headers.update(extra_headers or {})
    headers["Content-Length"] = str(len(body))
    start_response(f"{status} {_REASONS.get(status, '')}", list(headers.items()))
    return [body]
