"""REST API resource policies stored the way API Gateway stores them.

API Gateway does not return the policy document it was given: it expands
``execute-api:/...`` resources to full ARNs
(``arn:aws:execute-api:<region>:<account>:<apiId>/...``), serialises it
compactly and returns it as a string with every ``"`` and ``/`` backslash-
escaped (``{\\"Version\\":...\\/*``). Clients must compare by meaning.
"""

from __future__ import annotations

import json
from typing import Any

from moto.apigateway.exceptions import BadRequestException

INVALID_POLICY = "Invalid policy document. Please check the policy syntax and try again."


def parse(policy: str) -> dict[str, Any]:
    """Accept a plain JSON policy or one in API Gateway's escaped form."""
    for candidate in (policy, policy.replace('\\"', '"').replace("\\/", "/")):
        try:
            doc = json.loads(candidate)
        except (TypeError, ValueError):
            continue
        if isinstance(doc, dict) and "Statement" in doc:
            return doc
    raise BadRequestException(INVALID_POLICY)


def _expand(resource: Any, prefix: str) -> Any:
    if isinstance(resource, list):
        return [_expand(r, prefix) for r in resource]
    if isinstance(resource, str) and resource.startswith("execute-api:/"):
        return prefix + resource[len("execute-api:"):]
    return resource


def store_form(policy: str | None, account: str, region: str, api_id: str) -> str | None:
    """The string GetRestApi returns for ``policy``."""
    if policy is None or policy == "":
        return None
    doc = parse(policy)
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    prefix = f"arn:aws:execute-api:{region}:{account}:{api_id}"
    for statement in statements or []:
        for key in ("Resource", "NotResource"):
            if key in statement:
                statement[key] = _expand(statement[key], prefix)
    doc["Statement"] = statements
    compact = json.dumps(doc, separators=(",", ":"))
    return compact.replace('"', '\\"').replace("/", "\\/")
