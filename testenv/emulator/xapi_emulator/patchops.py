"""JSON-patch operations as API Gateway's Update* calls apply them.

API Gateway takes ``patchOperations`` of ``{op, path, value}`` where path is a
top-level field (``/uri``), a key of a map field (``/requestParameters/
integration.request.header.x-apigw-api-id``, JSON-pointer escaped: ``~1`` is
``/``), or a member of a list field. Unknown paths are refused with
BadRequestException naming the allowed ones, as AWS does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

from moto.apigateway.exceptions import BadRequestException


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


@dataclass
class Field:
    attr: str
    kind: str = "scalar"  # scalar | map | list
    convert: Callable[[Any], Any] | None = None  # scalar value / map value
    read_only: str | None = None  # refusal message, when AWS refuses changing it


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)

    def allowed(self) -> str:
        return ", ".join("/" + k for k in self.fields)


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def apply(obj: Any, ops: list[dict[str, Any]] | None, schema: Schema) -> Any:
    """Apply ``ops`` to a shallow copy of ``obj`` and return the copy.

    The caller validates the copy and then commits it with
    ``obj.__dict__.update(copy.__dict__)``, so a refused patch changes nothing.
    """
    new = copy.copy(obj)
    for op in ops or []:
        verb = op.get("op")
        path = op.get("path") or ""
        value = op.get("value")
        if verb not in ("add", "replace", "remove"):
            raise BadRequestException(
                f"Invalid patch operation specified. Must be one of: [add, remove, replace] (got '{verb}')"
            )
        parts = path.lstrip("/").split("/", 1)
        head = parts[0]
        key = _unescape(parts[1]) if len(parts) > 1 else None
        spec = schema.fields.get(head)
        if spec is None or (spec.kind == "scalar" and key is not None):
            raise BadRequestException(
                f"Invalid patch path '{path}' specified for op '{verb}'. Must be one of: [{schema.allowed()}]"
            )
        if spec.read_only:
            raise BadRequestException(spec.read_only)
        if spec.kind == "map":
            if key is None:
                raise BadRequestException(
                    f"Invalid patch path '{path}' specified for op '{verb}'. A key is required, e.g. '/{head}/<key>'"
                )
            current = dict(getattr(new, spec.attr) or {})
            if verb == "remove":
                current.pop(key, None)
            else:
                current[key] = spec.convert(value) if spec.convert else value
            setattr(new, spec.attr, current or None)
        elif spec.kind == "list":
            current_list = list(getattr(new, spec.attr) or [])
            item = key if key is not None else value
            if verb == "remove":
                if item in current_list:
                    current_list.remove(item)
            elif verb == "add":
                if item not in current_list:
                    current_list.append(item)
            else:  # replace
                if key is not None and key in current_list:
                    current_list[current_list.index(key)] = value
                else:
                    current_list = [v for v in str(value).split(",") if v] if value else []
            setattr(new, spec.attr, current_list)
        else:
            if verb == "remove":
                setattr(new, spec.attr, None)
            else:
                setattr(new, spec.attr, spec.convert(value) if spec.convert and value is not None else value)
    return new


def commit(obj: Any, new: Any) -> Any:
    obj.__dict__.update(new.__dict__)
    return obj
