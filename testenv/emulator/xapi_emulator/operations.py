"""Operation names of AWS requests, for fault filters and the request log.

The query protocols (EC2, ELB, STS) name the operation in the ``Action``
form field. API Gateway and Lambda (REST-JSON) name it by method + path, so the
routes are taken from botocore's own models (the tables the SDK builds its
requests from) rather than kept by hand.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

# signing name -> botocore model names
_MODELS = {
    "ec2": ("ec2",),
    "elasticloadbalancing": ("elbv2", "elb"),  # both sign as elasticloadbalancing
    "apigateway": ("apigateway",),
    "sts": ("sts",),
}

_lock = threading.Lock()


def _load(model: str) -> dict[str, Any]:
    from botocore.loaders import Loader

    return Loader().load_service_model(model, "service-2")


@functools.lru_cache(maxsize=None)
def _known(service: str) -> frozenset[str]:
    names: set[str] = set()
    for model in _MODELS.get(service, ()):
        names.update(_load(model)["operations"])
    return frozenset(names)


def known_operations(service: str) -> frozenset[str]:
    with _lock:
        return _known(service)


class _Route:
    __slots__ = ("method", "pattern", "query", "literals", "name")

    def __init__(self, method: str, uri: str, name: str) -> None:
        path, _, query = uri.partition("?")
        parts = []
        literals = 0
        for segment in path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append(".+")
            elif segment.startswith("{"):
                parts.append("[^/]+")
            else:
                parts.append(re.escape(segment))
                literals += 1
        self.method = method
        self.pattern = re.compile("^/" + "/".join(parts) + "/?$")
        self.query = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        self.literals = literals
        self.name = name


@functools.lru_cache(maxsize=None)
def _routes(model: str) -> tuple[_Route, ...]:
    ops = _load(model)["operations"]
    routes = [_Route(op["http"]["method"], op["http"]["requestUri"], name) for name, op in ops.items()]
    # most specific first: a fixed query (?mode=import), then more literal segments
    routes.sort(key=lambda r: (-len(r.query), -r.literals))
    return tuple(routes)


# REST-JSON services (the operation is named by method + path), by signing name
REST_SERVICES = ("apigateway", "lambda")


def rest_operation(service: str, method: str, raw_path: str, query: dict[str, Any]) -> str:
    """Operation name of a request to a REST-JSON service ('' when no route matches).

    ``raw_path`` is still percent-encoded, so an ARN or domain name in a path
    segment stays one segment."""
    with _lock:
        routes = _routes(service)
    for route in routes:
        if route.method != method or not route.pattern.match(raw_path):
            continue
        if all(query.get(k) in (v, [v]) for k, v in route.query.items()):
            return route.name
    return ""


def apigateway_operation(method: str, raw_path: str, query: dict[str, Any]) -> str:
    """Operation name of an API Gateway request ('' when no route matches)."""
    return rest_operation("apigateway", method, raw_path, query)
