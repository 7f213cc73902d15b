"""What a REST API deployment serves.

AWS ("Deploy REST APIs in API Gateway"): changes to resources, methods,
integrations and the resource policy take effect only when the API is
deployed; a stage keeps serving its deployment. CreateDeployment therefore
records a copy of the API as it is at that moment, and invocations through a
stage use that copy, never the working API. (TestInvokeMethod runs the working
API; see testinvoke.py.)
"""

from __future__ import annotations

import copy
import re
from typing import Any

from moto.apigateway import models as m


def resource_path(api: m.RestAPI, resource: m.Resource) -> str:
    parts: list[str] = []
    seen: set[str] = set()
    while resource is not None and resource.parent_id and resource.id not in seen:
        seen.add(resource.id)
        parts.append(resource.path_part)
        resource = api.resources.get(resource.parent_id)
    return "/" + "/".join(reversed(parts))


def integration_view(integration: m.Integration | None) -> dict[str, Any] | None:
    if integration is None:
        return None
    responses = {
        str(code): {
            "statusCode": str(resp.status_code),
            "selectionPattern": resp.selection_pattern,
            "responseTemplates": copy.deepcopy(resp.response_templates),
            "responseParameters": copy.deepcopy(resp.response_parameters),
        }
        for code, resp in (integration.integration_responses or {}).items()
    }
    return {
        "type": integration.integration_type,
        "uri": integration.uri,
        "httpMethod": integration.http_method,
        "connectionType": integration.connection_type,
        "connectionId": getattr(integration, "connection_id", None),
        "requestParameters": copy.deepcopy(integration.request_parameters),
        "requestTemplates": copy.deepcopy(integration.request_templates),
        "integrationResponses": responses,
    }


def method_view(method: m.Method) -> dict[str, Any]:
    return {
        "httpMethod": method.http_method,
        "authorizationType": method.authorization_type,
        "authorizerId": method.authorizer_id,
        "apiKeyRequired": method.api_key_required,
        "requestParameters": copy.deepcopy(method.request_parameters),
        "integration": integration_view(method.method_integration),
    }


def take(api: m.RestAPI) -> dict[str, Any]:
    """The API as CreateDeployment sees it."""
    return {
        "policy": api.policy,
        "resources": [
            {"id": r.id, "path": resource_path(api, r),
             "methods": {verb: method_view(meth) for verb, meth in r.resource_methods.items()}}
            for r in api.resources.values()
        ],
    }


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def match_path(template: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match a request path against a resource path; returns (rank, path params).

    Literal segments beat ``{param}``, which beats a greedy ``{proxy+}``, the
    way API Gateway chooses the most specific resource."""
    wanted, got = _segments(template), _segments(path)
    params: dict[str, str] = {}
    rank: list[int] = []
    for i, seg in enumerate(wanted):
        greedy = re.fullmatch(r"\{(.+)\+\}", seg)
        if greedy:
            rest = got[i:]
            if not rest or i != len(wanted) - 1:
                return None
            params[greedy.group(1)] = "/".join(rest)
            rank.append(0)
            return tuple(rank), params
        if i >= len(got):
            return None
        named = re.fullmatch(r"\{(.+)\}", seg)
        if named:
            params[named.group(1)] = got[i]
            rank.append(1)
        elif seg == got[i]:
            rank.append(2)
        else:
            return None
    if len(got) != len(wanted):
        return None
    return tuple(rank), params


def find_method(snapshot: dict[str, Any], path: str, verb: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The deployed method serving ``verb path`` (ANY serves every verb)."""
    best = None
    for resource in snapshot.get("resources") or []:
        found = match_path(resource["path"], path)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], resource, found[1])
    if best is None:
        return None
    methods = best[1]["methods"]
    method = methods.get(verb) or methods.get("ANY")
    return (method, best[2]) if method is not None else None
