"""Size limits API Gateway enforces on what a client sends.

* Resource policy: at most 8192 characters ("Quotas for configuring and
  running a REST API in API Gateway": "Length, in characters, of API Gateway
  resource policy"). Counted on the document as the client sent it; AWS does
  not say whether it counts before or after its own rewriting.
* Tags (CreateRestApi, CreateVpcLink, TagResource ``tags``): key up to 128
  characters and not starting with ``aws:``, value up to 256 characters.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.exceptions import BadRequestException

MAX_POLICY_LENGTH = 8192
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256


def check_policy_length(policy: Any) -> None:
    if isinstance(policy, str) and len(policy) > MAX_POLICY_LENGTH:
        raise BadRequestException(
            f"Resource policy is {len(policy)} characters long; the maximum is {MAX_POLICY_LENGTH}."
        )


def check_tags(tags: Any) -> None:
    for key, value in (tags or {}).items() if isinstance(tags, dict) else []:
        key, value = str(key), "" if value is None else str(value)
        if len(key) > MAX_TAG_KEY_LENGTH:
            raise BadRequestException(f"Tag key '{key[:32]}…' is longer than {MAX_TAG_KEY_LENGTH} characters.")
        if key.lower().startswith("aws:"):
            raise BadRequestException(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            raise BadRequestException(
                f"Tag value of key '{key}' is longer than {MAX_TAG_VALUE_LENGTH} characters."
            )
