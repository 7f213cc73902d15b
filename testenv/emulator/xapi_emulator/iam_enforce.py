"""Identity-policy authorization of calls made with an assumed role's credentials.

moto answers every signed call. AWS first evaluates the caller's identity-based
policies: an explicit Deny wins, else some Allow must cover the action, the
resource and the request's condition keys, else the call is refused (IAM User
Guide, "Policy evaluation logic"). Here, for requests signed with the
credentials of an AssumeRole session of an *enforced* role (harness knob,
below), to ``ec2``, ``elasticloadbalancing``, ``apigateway`` and ``lambda``:

* the role's inline and attached managed policies (moto's IAM of the role's
  account) are evaluated for the action (``ec2:CreateVpcEndpoint``;
  API Gateway: ``apigateway:<HTTP verb>`` on ``arn:aws:apigateway:<region>::<path>``);
* each resource of the request must be allowed (EC2 and ELB calls touching
  several resources: every one of them), with ``aws:ResourceTag/*`` read from
  moto; resources not derived here are ``*``;
* tag-on-create also needs ``ec2:CreateTags`` / ``elasticloadbalancing:AddTags``
  with ``ec2:CreateAction`` / ``elasticloadbalancing:CreateAction``;
* a refusal is the service's own error: EC2 ``UnauthorizedOperation``, ELB
  ``AccessDenied``, API Gateway and Lambda ``AccessDeniedException``, all 403.

Condition keys evaluated: ``aws:RequestTag/*``, ``aws:TagKeys``,
``aws:ResourceTag/*`` (existing resources), ``aws:RequestedRegion``,
``aws:PrincipalAccount``, ``ec2:VpceServiceName``, ``ec2:CreateAction``,
``elasticloadbalancing:CreateAction``; operators String*, ForAllValues/ForAnyValue,
Null, …IfExists (sts.py's evaluator). A statement whose conditions use
anything else is taken as matching (an Allow applies, a Deny does not): more
permissive than AWS, never stricter (README "known gaps").

Harness knob (not AWS): enforcement is per role, switched on with
``POST /_xapi/iam/enforce {"role_arn": …, "enforce": true, "unenforced_sessions": [...]}``.
Sessions whose RoleSessionName is listed act unchecked (the seed's and the
integration tests' own set-up and inspection sessions); roles made by tests
without permission policies stay unchecked unless a test opts in.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from . import sts

_lock = threading.Lock()
# role arn -> (moto role id, RoleSessionNames left unchecked)
_enforced: dict[str, tuple[str, frozenset[str]]] = {}

SERVICES = ("ec2", "elasticloadbalancing", "apigateway", "lambda")
_PLACEHOLDER_ID = "0000000000000000"


class _Context:
    """Condition keys of one (action, resource) pair, in the shape sts._condition_holds reads."""

    def __init__(self, keys: dict[str, str], multi: dict[str, list[str]]) -> None:
        self.single = {k.lower(): v for k, v in keys.items()}
        self.multi = {k.lower(): v for k, v in multi.items()}
        self._known = set(self.single) | set(self.multi)
        self._prefixes: list[str] = []

    def know(self, key: str) -> None:
        self._known.add(key.lower())

    def know_prefix(self, prefix: str) -> None:
        self._prefixes.append(prefix.lower())

    def known(self, key: str) -> bool:
        k = key.lower()
        return k in self._known or any(k.startswith(p) for p in self._prefixes)


def _multi_aware_condition(statement: dict[str, Any], ctx: _Context) -> bool:
    """Conditions of one statement; anything unevaluable counts as holding."""
    condition = statement.get("Condition") or {}
    if not isinstance(condition, dict):
        return True
    for operator, block in condition.items():
        if not isinstance(block, dict):
            continue
        for key, raw in block.items():
            try:
                holds = sts._condition_holds(operator, key, raw, ctx)
            except sts.Unsupported:
                holds = True  # README known gaps: more permissive than AWS
            if not holds:
                return False
    return True


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return any(sts._wildcard(str(p), False).match(resource) for p in sts._as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(sts._wildcard(str(p), False).match(resource) for p in sts._as_list(statement["NotResource"]))
    return False


def decide(policies: list[dict[str, Any]], action: str, resource: str, ctx: _Context) -> str:
    """"Deny" (explicit), "Allow", or "ImplicitDeny"."""
    statements = [s for p in policies for s in sts._as_list(p.get("Statement")) if isinstance(s, dict)]

    def applies(s: dict[str, Any]) -> bool:
        return sts._action_matches(s, action) and _resource_matches(s, resource) and _multi_aware_condition(s, ctx)

    if any(s.get("Effect") == "Deny" and applies(s) for s in statements):
        return "Deny"
    if any(s.get("Effect") == "Allow" and applies(s) for s in statements):
        return "Allow"
    return "ImplicitDeny"


# --- who is calling ---------------------------------------------------------------------------

def _role_policies(role: Any) -> list[dict[str, Any]]:
    docs = []
    for text in list(getattr(role, "policies", {}).values()):
        doc = sts.parse_trust_policy(text)
        if doc:
            docs.append(doc)
    for managed in list(getattr(role, "managed_policies", {}).values()):
        text = next((v.document for v in getattr(managed, "versions", []) if getattr(v, "is_default", False)),
                    getattr(managed, "document", None))
        doc = sts.parse_trust_policy(text)
        if doc:
            docs.append(doc)
    return docs


def _session_of(access_key: str, account: str) -> tuple[Any, str, str] | None:
    """(role, role arn, session name) of an enforced role's session, else None."""
    from moto.iam.models import iam_backends

    key = iam_backends[account]["aws"].access_keys.get(access_key)
    role_arn = getattr(key, "role_arn", None)
    if not role_arn:
        return None
    with _lock:
        entry = _enforced.get(role_arn)
    if entry is None:
        return None
    role = sts._find_role(role_arn, "us-east-1")
    if role is None or role.id != entry[0]:
        return None  # deleted or recreated since it was enforced
    session = sts.session_of(access_key) or ""
    if session in entry[1]:
        return None
    return role, role_arn, session


# --- what is asked ----------------------------------------------------------------------------

def _numbered(params: dict[str, Any], prefix: str) -> list[str]:
    """Values of ``Prefix.1``, ``Prefix.2``, … (query protocol lists)."""
    out = []
    i = 1
    while f"{prefix}.{i}" in params:
        out.append(str(params[f"{prefix}.{i}"]))
        i += 1
    return out


def _ec2_request_tags(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    """ResourceType -> tags of the TagSpecification.N."""
    out: dict[str, dict[str, str]] = {}
    i = 1
    while f"TagSpecification.{i}.ResourceType" in params:
        tags = out.setdefault(str(params[f"TagSpecification.{i}.ResourceType"]), {})
        j = 1
        while f"TagSpecification.{i}.Tag.{j}.Key" in params:
            tags[str(params[f"TagSpecification.{i}.Tag.{j}.Key"])] = str(params.get(f"TagSpecification.{i}.Tag.{j}.Value", ""))
            j += 1
        i += 1
    return out


def _ec2_tags(account: str, region: str, resource_id: str) -> dict[str, str] | None:
    try:
        from moto.ec2.models import ec2_backends

        return dict(ec2_backends[account][region].tags.get(resource_id, {}))
    except Exception:
        return None


def _elb_tags(account: str, region: str, arn: str) -> dict[str, str] | None:
    try:
        from moto.elbv2.models import elbv2_backends

        return dict(elbv2_backends[account][region].tagging_service.get_tag_dict_for_resource(arn))
    except Exception:
        return None


Check = tuple[str, str, dict[str, str], dict[str, str] | None, dict[str, str]]
# (action, resource arn, request tags, resource tags (None: unknown), other condition keys)


def _ec2_checks(op: str, p: dict[str, Any], account: str, region: str) -> list[Check]:
    arn = lambda kind, rid: f"arn:aws:ec2:{region}:{account}:{kind}/{rid}"  # noqa: E731
    action = f"ec2:{op}"
    req_tags = _ec2_request_tags(p)
    existing = lambda kind, rid: (action, arn(kind, rid), {}, _ec2_tags(account, region, rid), {})  # noqa: E731
    checks: list[Check] = []
    if op == "CreateVpcEndpoint":
        checks.append((action, arn("vpc-endpoint", "*"), req_tags.get("vpc-endpoint", {}), None,
                       {"ec2:VpceServiceName": str(p.get("ServiceName", ""))}))
        if p.get("VpcId"):
            checks.append(existing("vpc", p["VpcId"]))
        checks += [existing("subnet", s) for s in _numbered(p, "SubnetId")]
        checks += [existing("security-group", g) for g in _numbered(p, "SecurityGroupId")]
    elif op == "ModifyVpcEndpoint":
        checks.append(existing("vpc-endpoint", p.get("VpcEndpointId", "")))
        for f, kind in (("AddSubnetId", "subnet"), ("RemoveSubnetId", "subnet"),
                        ("AddSecurityGroupId", "security-group"), ("RemoveSecurityGroupId", "security-group")):
            checks += [existing(kind, x) for x in _numbered(p, f)]
    elif op == "DeleteVpcEndpoints":
        checks += [existing("vpc-endpoint", e) for e in _numbered(p, "VpcEndpointId")]
    elif op == "CreateSecurityGroup":
        checks.append((action, arn("security-group", "*"), req_tags.get("security-group", {}), None, {}))
        if p.get("VpcId"):
            checks.append(existing("vpc", p["VpcId"]))
    elif op in ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "DeleteSecurityGroup"):
        checks.append(existing("security-group", p.get("GroupId", "")))
        if op != "DeleteSecurityGroup":
            checks.append((action, arn("security-group-rule", "*"), {}, None, {}))
    else:
        checks.append((action, "*", {}, None, {}))
    # Tag-on-create: ec2:CreateTags on each tagged new resource, with ec2:CreateAction.
    if op.startswith("Create") and op != "CreateTags":
        for kind, tags in req_tags.items():
            if tags:
                checks.append(("ec2:CreateTags", arn(kind, "*"), tags, None, {"ec2:CreateAction": op}))
    return checks


def _elb_request_tags(p: dict[str, Any]) -> dict[str, str]:
    tags, i = {}, 1
    while f"Tags.member.{i}.Key" in p:
        tags[str(p[f"Tags.member.{i}.Key"])] = str(p.get(f"Tags.member.{i}.Value", ""))
        i += 1
    return tags


def _elb_checks(op: str, p: dict[str, Any], account: str, region: str) -> list[Check]:
    base = f"arn:aws:elasticloadbalancing:{region}:{account}"
    action = f"elasticloadbalancing:{op}"
    tags = _elb_request_tags(p)
    existing = lambda a: (action, a, {}, _elb_tags(account, region, a), {})  # noqa: E731
    if op == "CreateLoadBalancer":
        kind = {"network": "net", "gateway": "gwy"}.get(str(p.get("Type", "application")), "app")
        new = f"{base}:loadbalancer/{kind}/{p.get('Name', '')}/{_PLACEHOLDER_ID}"
    elif op == "CreateTargetGroup":
        new = f"{base}:targetgroup/{p.get('Name', '')}/{_PLACEHOLDER_ID}"
    elif op == "CreateListener":
        lb = str(p.get("LoadBalancerArn", ""))
        checks = [existing(lb)]
        new = lb.replace(":loadbalancer/", ":listener/", 1) + f"/{_PLACEHOLDER_ID}"
        if tags:
            checks.append(("elasticloadbalancing:AddTags", new, tags, None,
                           {"elasticloadbalancing:CreateAction": op}))
        return checks
    else:
        for field in ("ListenerArn", "LoadBalancerArn", "TargetGroupArn"):
            if p.get(field) and op.startswith(("Delete", "Modify", "Register", "Deregister", "Set")):
                return [existing(str(p[field]))]
        if op in ("AddTags", "RemoveTags"):
            return [existing(a) for a in _numbered(p, "ResourceArns.member")]
        return [(action, "*", {}, None, {})]
    checks = [(action, new, tags, None, {})]
    if tags:
        checks.append(("elasticloadbalancing:AddTags", new, tags, None, {"elasticloadbalancing:CreateAction": op}))
    return checks


def _rest_checks(service: str, op: str, params: dict[str, Any], account: str, region: str) -> list[Check]:
    body = params.get("body") if isinstance(params.get("body"), dict) else {}
    tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()} if isinstance(body.get("tags"), dict) else {}
    if service == "apigateway":
        path = params.get("path", "")
        return [(f"apigateway:{params.get('method', 'GET')}", f"arn:aws:apigateway:{region}::{path}", tags, None, {})]
    # lambda: /2015-03-31/functions/{FunctionName}/…
    parts = str(params.get("path", "")).strip("/").split("/")
    resource = "*"
    if len(parts) >= 3 and parts[1] == "functions":
        name = urllib.parse.unquote(parts[2])
        resource = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        resource = ":".join(resource.split(":")[:7])  # without a :qualifier
    return [(f"lambda:{op}", resource, tags, None, {})]


def _context(account: str, region: str, req_tags: dict[str, str], res_tags: dict[str, str] | None,
             extra: dict[str, str]) -> _Context:
    keys = {"aws:RequestedRegion": region, "aws:PrincipalAccount": account, **extra}
    keys.update({f"aws:RequestTag/{k}": v for k, v in req_tags.items()})
    multi = {"aws:TagKeys": list(req_tags)} if req_tags else {}
    ctx = _Context(keys, multi)
    ctx.know_prefix("aws:requesttag/")
    ctx.know("aws:tagkeys")
    for k in extra:
        ctx.know(k)
    if res_tags is not None:
        ctx.single.update({f"aws:resourcetag/{k.lower()}": v for k, v in res_tags.items()})
        ctx.know_prefix("aws:resourcetag/")
    return ctx


# --- the answer -------------------------------------------------------------------------------

_CODES = {
    "ec2": "UnauthorizedOperation",
    "elasticloadbalancing": "AccessDenied",
    "apigateway": "AccessDeniedException",
    "lambda": "AccessDeniedException",
}


def _refuse(start_response: Callable, service: str, message: str) -> Iterable[bytes]:
    rid = str(uuid.uuid4())
    code = _CODES[service]
    headers = {"x-amzn-RequestId": rid}
    if service in ("apigateway", "lambda"):
        body = json.dumps({"Message": message, "message": message, "Type": "User"}).encode()
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
    elif service == "ec2":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Response><Errors><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>").encode()
        headers["Content-Type"] = "text/xml;charset=UTF-8"
    else:
        body = ('<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
                f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers["Content-Type"] = "text/xml"
    headers["Content-Length"] = str(len(body))
    start_response("403 Forbidden", list(headers.items()))
    return [body]


def check(info: Any, call: Any, start_response: Callable) -> Iterable[bytes] | None:
    """The refusal for a call the caller's role may not make, else None (call moto). Runs under
    the emulator's moto lock (reads moto's IAM, EC2 and ELB models)."""
    if info is None or info.service not in SERVICES or not _enforced:
        return None
    account = call.account
    if not account or not call.operation:
        return None
    found = _session_of(info.access_key, account)
    if found is None:
        return None
    role, role_arn, session = found
    op, params, region = call.operation, call.params or {}, info.region
    if info.service == "ec2":
        checks = _ec2_checks(op, params, account, region)
    elif info.service == "elasticloadbalancing":
        checks = _elb_checks(op, params, account, region)
    else:
        checks = _rest_checks(info.service, op, params, account, region)
    policies = _role_policies(role)
    caller = f"arn:aws:sts::{account}:assumed-role/{role.name}/{session}"
    for action, resource, req_tags, res_tags, extra in checks:
        verdict = decide(policies, action, resource, _context(account, region, req_tags, res_tags, extra))
        if verdict != "Allow":
            why = ("with an explicit deny in an identity-based policy" if verdict == "Deny"
                   else "because no identity-based policy allows the " + action + " action")
            message = f"User: {caller} is not authorized to perform: {action} on resource: {resource} {why}"
            if info.service == "ec2":
                message = "You are not authorized to perform this operation. " + message
            return _refuse(start_response, info.service, message)
    return None


# --- control endpoint -------------------------------------------------------------------------

def put(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("role_arn"), str):
        raise ValueError("body must be a JSON object with role_arn")
    role_arn = body["role_arn"]
    role = sts._find_role(role_arn, "us-east-1")
    if role is None:
        raise ValueError(f"no role {role_arn}")
    sessions = body.get("unenforced_sessions") or []
    if not isinstance(sessions, list) or not all(isinstance(s, str) for s in sessions):
        raise ValueError("unenforced_sessions must be a list of RoleSessionNames")
    with _lock:
        if body.get("enforce", True):
            _enforced[role_arn] = (role.id, frozenset(sessions))
        else:
            _enforced.pop(role_arn, None)
    return listing()


def listing() -> dict[str, Any]:
    with _lock:
        return {"roles": [{"role_arn": a, "unenforced_sessions": sorted(s)} for a, (_i, s) in sorted(_enforced.items())]}


def reset() -> None:
    with _lock:
        _enforced.clear()


def control_route(method: str, path: str, read_body: Callable[[], Any]) -> tuple[str, Any] | None:
    if path == "/_xapi/iam/enforce" and method == "POST":
        return "200 OK", put(read_body())
    if path == "/_xapi/iam/enforce" and method == "GET":
        return "200 OK", listing()
    return None
