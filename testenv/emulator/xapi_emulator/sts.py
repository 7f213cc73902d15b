"""sts:AssumeRole decided the way IAM decides it.

moto hands out credentials for any role ARN. AWS refuses unless the role
exists in the target account and its trust policy allows the caller:

* the role must exist (moto's IAM of that account), else AccessDenied;
* some Allow statement must cover the action, the caller and the request's
  condition keys, and no Deny statement may match (an explicit Deny wins);
* with session tags (``Tags.member.N``) the trust policy must also allow
  ``sts:TagSession``.

Refusals are IAM's 403 AccessDenied "User: <caller> is not authorized to
perform: <action> on resource: <role arn>". Every AssumeRole is recorded for
``GET /_xapi/sts/sessions`` (and the request log names the session of each call made
with its credentials); roles are made with ``POST /_xapi/iam/roles``
(nobody can assume a role in an account before one exists there).

Trust-policy evaluation covers what trust policies use in practice; anything
it cannot evaluate (an unknown condition operator or key, policy variables,
NotPrincipal) fails closed: an Allow does not apply, a Deny does.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import urllib.parse
import uuid
from typing import Any, Callable
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException

from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse
from moto.utilities.utils import get_partition

_installed = False

ASSUME_ROLE = "sts:AssumeRole"
TAG_SESSION = "sts:TagSession"

_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_ROLE_PATH = re.compile(r"^/(?:[\x21-\x7e]*/)?$")
_ACCOUNT = re.compile(r"^\d{12}$")

_sessions: list[dict[str, Any]] = []
# access key id of an issued session -> its RoleSessionName, so the request log can say which
# session made each call (a harness record; AWS's CloudTrail says the same).
_session_names: dict[str, str] = {}
_lock = threading.Lock()
_ACCESS_KEY_ID = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")


class AccessDenied(HTTPException):
    """STS's query-protocol error document, HTTP 403."""

    code = 403

    def __init__(self, caller_arn: str, action: str, role_arn: str) -> None:
        super().__init__()
        self.message = f"User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(self.message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", "AccessDenied")]


# --- trust policy evaluation ----------------------------------------------------

class Request:
    """What a trust policy is evaluated against."""

    def __init__(self, caller_account: str, caller_arns: set[str], external_id: str | None,
                 session_name: str | None, tags: dict[str, str], transitive_tag_keys: list[str]) -> None:
        self.caller_account = caller_account
        self.caller_arns = caller_arns
        # Condition keys are case-insensitive; session tag keys are too (STS
        # refuses two tags that differ only in case).
        self.single: dict[str, str] = {"aws:principalaccount": caller_account}
        if external_id is not None:
            self.single["sts:externalid"] = external_id
        if session_name is not None:
            self.single["sts:rolesessionname"] = session_name
        for key, value in tags.items():
            self.single["aws:requesttag/" + key.lower()] = value
        self.multi: dict[str, list[str]] = {}
        if tags:
            self.multi["aws:tagkeys"] = list(tags)
        if transitive_tag_keys:
            self.multi["sts:transitivetagkeys"] = list(transitive_tag_keys)

    def known(self, key: str) -> bool:
        k = key.lower()
        return k in ("aws:principalaccount", "sts:externalid", "sts:rolesessionname", "aws:tagkeys",
                     "sts:transitivetagkeys") or k.startswith("aws:requesttag/")


class Unsupported(Exception):
    """A policy element the emulator cannot evaluate."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(_wildcard(str(p), True).match(action) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(_wildcard(str(p), True).match(action) for p in _as_list(statement["NotAction"]))
    return False


def _principal_matches(statement: dict[str, Any], req: Request) -> bool:
    if "NotPrincipal" in statement:
        raise Unsupported("NotPrincipal")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    # Service, Federated and CanonicalUser principals never name an IAM caller.
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry == "*":
            return True
        root = re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):root$", entry)
        account = entry if _ACCOUNT.match(entry) else root.group(1) if root else None
        if account is not None:
            if account == req.caller_account:
                return True
        elif entry in req.caller_arns:
            return True
    return False


_STRING_OPS: dict[str, tuple[bool, Callable[[str, str], bool]]] = {
    # name -> (negated, match(request value, policy value))
    "StringEquals": (False, lambda v, p: v == p),
    "StringNotEquals": (True, lambda v, p: v == p),
    "StringEqualsIgnoreCase": (False, lambda v, p: v.lower() == p.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda v, p: v.lower() == p.lower()),
    "StringLike": (False, lambda v, p: bool(_wildcard(p, False).match(v))),
    "StringNotLike": (True, lambda v, p: bool(_wildcard(p, False).match(v))),
}


def _policy_values(raw: Any) -> list[str]:
    values = []
    for v in _as_list(raw):
        s = ("true" if v else "false") if isinstance(v, bool) else str(v)
        if "${" in s:
            raise Unsupported("policy variables")
        values.append(s)
    return values


def _condition_holds(operator: str, key: str, raw: Any, req: Request) -> bool:
    if not req.known(key):
        raise Unsupported(f"condition key {key}")
    k = key.lower()
    multi_key = k in ("aws:tagkeys", "sts:transitivetagkeys")
    if operator == "Null":
        present = k in req.multi if multi_key else k in req.single
        wanted = _policy_values(raw)
        if len(wanted) != 1 or wanted[0].lower() not in ("true", "false"):
            raise Unsupported("Null value")
        return (not present) if wanted[0].lower() == "true" else present
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in _STRING_OPS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise Unsupported(f"condition operator {operator}")
    negated, match = _STRING_OPS[base]
    wanted = _policy_values(raw)

    def one(value: str) -> bool:
        hit = any(match(value, p) for p in wanted)
        return not hit if negated else hit

    if qualifier:
        values = req.multi.get(k) if multi_key else ([req.single[k]] if k in req.single else None)
        if not values:
            # ForAllValues holds for a missing or empty set, ForAnyValue does not.
            return qualifier == "ForAllValues" or if_exists
        return all(map(one, values)) if qualifier == "ForAllValues" else any(map(one, values))
    if multi_key:
        raise Unsupported(f"{operator} on multivalued key {key} without ForAllValues/ForAnyValue")
    if k not in req.single:
        return True if if_exists else negated
    return one(req.single[k])


def _conditions_hold(statement: dict[str, Any], req: Request) -> bool:
    condition = statement.get("Condition") or {}
    if not isinstance(condition, dict):
        raise Unsupported("Condition is not an object")
    for operator, block in condition.items():
        if not isinstance(block, dict):
            raise Unsupported(f"{operator} is not an object")
        for key, raw in block.items():
            if not _condition_holds(operator, key, raw, req):
                return False
    return True


def _statement_applies(statement: dict[str, Any], action: str, req: Request, fail: bool) -> bool:
    """Whether the statement covers this request; ``fail`` is the answer for
    anything that cannot be evaluated (False for Allow, True for Deny)."""
    if not _action_matches(statement, action):
        return False
    try:
        return _principal_matches(statement, req) and _conditions_hold(statement, req)
    except Unsupported:
        return fail


def allows(policy: dict[str, Any], action: str, req: Request) -> bool:
    statements = [s for s in _as_list(policy.get("Statement")) if isinstance(s, dict)]
    if any(s.get("Effect") == "Deny" and _statement_applies(s, action, req, True) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _statement_applies(s, action, req, False) for s in statements)


def parse_trust_policy(document: Any) -> dict[str, Any] | None:
    """IAM keeps the document as given; GetRole returns it URL-encoded."""
    if isinstance(document, dict):
        return document
    for text in (document, urllib.parse.unquote(str(document or ""))):
        try:
            doc = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(doc, dict):
            return doc
    return None


# --- the AssumeRole call --------------------------------------------------------

def _find_role(role_arn: str, region: str) -> Any | None:
    match = _ROLE_ARN.match(role_arn or "")
    if not match:
        return None
    backend = iam_backends[match.group(2)][get_partition(region)]
    for role in backend.roles.values():
        if role.arn == role_arn:
            return role
    return None


def _caller(resp: TokenResponse) -> tuple[str, str, set[str]]:
    """(ARN as GetCallerIdentity reports it, account, ARNs a Principal may name)."""
    access_key = resp.get_access_key()
    _user_id, arn, account = resp.backend.get_caller_identity(access_key, resp.region)
    arns = {arn}
    session = resp.backend.get_assumed_role_from_access_key(access_key)
    if session is not None:
        # A role session is named in a Principal by its role's ARN.
        arns.add(session.role_arn)
    user = re.match(r"^arn:(aws[a-z-]*):sts::(\d{12}):user/(.+)$", arn)
    if user:
        # moto reports unknown keys as an sts "user"; IAM names users arn:…:iam::…:user/….
        arns.add(f"arn:{user.group(1)}:iam::{user.group(2)}:user/{user.group(3)}")
    return arn, account, arns


def _session_tags(resp: TokenResponse) -> tuple[dict[str, str], list[str]]:
    tags: dict[str, str] = {}
    for tag in _as_list(resp._get_param("Tags")):
        if isinstance(tag, dict) and "Key" in tag:
            tags[str(tag["Key"])] = str(tag.get("Value", ""))
    transitive = [str(k) for k in _as_list(resp._get_param("TransitiveTagKeys"))]
    return tags, transitive


def _denied_action(role: Any, req: Request, tagged: bool) -> str | None:
    if role is None:
        return ASSUME_ROLE
    policy = parse_trust_policy(role.assume_role_policy_document)
    if policy is None or not allows(policy, ASSUME_ROLE, req):
        return ASSUME_ROLE
    if tagged and not allows(policy, TAG_SESSION, req):
        return TAG_SESSION
    return None


def _issued_access_key(answer: Any) -> str | None:
    """The access key id in AssumeRole's answer (moto's result object, or rendered XML)."""
    result = getattr(answer, "result", None)
    credentials = result.get("Credentials") if isinstance(result, dict) else None
    key = getattr(credentials, "access_key_id", None)
    if isinstance(key, str):
        return key
    found = _ACCESS_KEY_ID.search(answer if isinstance(answer, str) else "")
    return found.group(1) if found else None


def _assume_role(orig: Callable) -> Callable:
    def assume_role(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        session_name = self._get_param("RoleSessionName")
        external_id = self._get_param("ExternalId")
        tags, transitive = _session_tags(self)
        caller_arn, caller_account, caller_arns = _caller(self)
        now = datetime.datetime.now(datetime.timezone.utc)
        record = {
            "time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "role_arn": role_arn,
            "role_session_name": session_name,
            "external_id": external_id,
            "tags": tags,
            "transitive_tag_keys": transitive,
            "caller_arn": caller_arn,
            "outcome": "ok",
        }
        req = Request(caller_account, caller_arns, external_id, session_name, tags, transitive)
        denied = _denied_action(_find_role(role_arn, self.region), req, bool(tags))
        try:
            if denied:
                raise AccessDenied(caller_arn, denied, role_arn)
            answer = orig(self)
            key = _issued_access_key(answer)
            if key and session_name:
                with _lock:
                    _session_names[key] = session_name
            return answer
        except AccessDenied:
            record["outcome"] = "AccessDenied"
            raise
        except Exception as exc:
            record["outcome"] = str(getattr(exc, "code", None) or type(exc).__name__)
            raise
        finally:
            with _lock:
                _sessions.append(record)
    return assume_role


# --- control endpoint -------------------------------------------------------------

def sessions() -> list[dict[str, Any]]:
    with _lock:
        return json.loads(json.dumps(_sessions))


def session_of(access_key: str) -> str | None:
    """The RoleSessionName of the session that `access_key` belongs to, if one was issued."""
    with _lock:
        return _session_names.get(access_key)


def reset() -> None:
    with _lock:
        _sessions.clear()


def put_role(body: Any) -> dict[str, Any]:
    """Create the role, or replace its trust policy if it exists."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    account, name = str(body.get("account", "")), str(body.get("name", ""))
    path = str(body.get("path") or "/")
    trust = body.get("trust_policy")
    if not _ACCOUNT.match(account):
        raise ValueError("account must be 12 digits")
    if not _ROLE_NAME.match(name):
        raise ValueError("name must match [\\w+=,.@-]{1,64}")
    if not _ROLE_PATH.match(path):
        raise ValueError("path must start and end with '/'")
    doc = parse_trust_policy(trust)
    if doc is None or "Statement" not in doc:
        raise ValueError("trust_policy must be a policy document (object or JSON string) with a Statement")
    document = trust if isinstance(trust, str) else json.dumps(trust)
    backend = iam_backends[account]["aws"]
    existing = next((r for r in backend.roles.values() if r.name == name), None)
    if existing is not None:
        existing.assume_role_policy_document = document
        return {"arn": existing.arn, "created": False}
    role = backend.create_role(role_name=name, assume_role_policy_document=document, path=path,
                               permissions_boundary=None, description="", tags=[],
                               max_session_duration=int(body.get("max_session_duration") or 3600))
    return {"arn": role.arn, "created": True}


def control_route(method: str, path: str, read_body: Callable[[], Any]) -> tuple[str, Any] | None:
    """``(status, payload)`` for the routes this module serves, else None."""
    if path == "/_xapi/sts/sessions" and method == "GET":
        return "200 OK", sessions()
    if path == "/_xapi/iam/roles" and method == "POST":
        return "200 OK", put_role(read_body())
    return None


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    TokenResponse.assume_role = _assume_role(TokenResponse.assume_role)
