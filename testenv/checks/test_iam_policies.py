"""docs/iam/*-role-policy.json against the AWS calls of src/ (see iam_model.py for the derivation).

- every action a side's code calls is allowed by that side's policy, and nothing else is
  (except the few extras below, each with the AWS document that requires it);
- API Gateway: `apigateway:<VERB>` on `arn:aws:apigateway:REGION::<path>` from botocore's
  http method and requestUri, and every verb and resource of a statement is needed;
- wildcard actions are refused (stricter than expanding `ec2:Describe*` against botocore:
  an expansion would never be fully used);
- EC2 and ELB writes are scoped by the owner tag, the `xapi-*` name, or a listed exemption.
"""

from __future__ import annotations

import re

import pytest

import iam_model as m

REGION = "us-east-1"
OWNER_TAG = "apigw.crossaccount.io/owner"
POLICIES = {
    "provider": "provider-role-policy.json",
    "consumer": "consumer-role-policy.json",
    "operator": "operator-role-policy.json",
}

# Actions no SDK call of ours makes but AWS requires of the caller, with the document saying so.
JUSTIFIED_EXTRAS = {
    "consumer": {
        # CreateVpcLink/DeleteVpcLink: API Gateway creates the NLB's endpoint service with the
        # caller's permissions. AWS: API Gateway Developer Guide, "Set up IAM permissions to
        # create a VPC link (REST APIs)" (grant-permissions-to-create-vpclink).
        "ec2:CreateVpcEndpointServiceConfiguration",
        "ec2:DeleteVpcEndpointServiceConfigurations",
        "ec2:DescribeVpcEndpointServiceConfigurations",
        "ec2:ModifyVpcEndpointServicePermissions",
        # First NLB / first VPC link of an account create the service-linked roles.
        # AWS: ELB User Guide "Service-linked role for Elastic Load Balancing"; API Gateway
        # Developer Guide "Using service-linked roles for API Gateway".
        "iam:CreateServiceLinkedRole",
    },
    "provider": set(),
    "operator": set(),
}

# Called, but AWS authorizes it for every identity: no statement wanted.
# AWS: STS API Reference, GetCallerIdentity ("No permissions are required").
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}

# Tag-on-create needs the tagging action too. AWS: EC2 User Guide "Grant permission to tag
# Amazon EC2 resources during creation" (ec2:CreateTags); ELB User Guide "Tag on create"
# (elasticloadbalancing:AddTags); API Gateway "Tagging permissions" (apigateway:PUT on /tags/*);
# STS "Passing session tags" (sts:TagSession); API Gateway "Setting up a resource policy"
# (apigateway:UpdateRestApiPolicy when CreateRestApi/UpdateRestApi set a policy).
TAG_ACTION = {"ec2": "ec2:CreateTags", "elbv2": "elasticloadbalancing:AddTags"}

# Write actions on a resource pattern neither tag- nor name-scoped, and why.
SCOPE_EXEMPT = {
    # CreateSecurityGroup is also authorized against the VPC it is made in: a customer's VPC,
    # never tagged by us. AWS: Service Authorization Reference, EC2, CreateSecurityGroup
    # (resource types security-group*, vpc).
    ("ec2:CreateSecurityGroup", "arn:aws:ec2:*:*:vpc/*"),
    # The rules an ingress call creates/removes are their own resource type, created by the
    # call. AWS: Service Authorization Reference, EC2, AuthorizeSecurityGroupIngress
    # (security-group*, security-group-rule).
    ("ec2:AuthorizeSecurityGroupIngress", "arn:aws:ec2:*:*:security-group-rule/*"),
    ("ec2:RevokeSecurityGroupIngress", "arn:aws:ec2:*:*:security-group-rule/*"),
    # The subnets / security groups / VPC named in the endpoint calls (NotResource vpc-endpoint):
    # adopted groups and the customer's subnets carry no tag of ours. AWS: Service
    # Authorization Reference, EC2, CreateVpcEndpoint / ModifyVpcEndpoint.
    ("ec2:CreateVpcEndpoint", "NotResource:arn:aws:ec2:*:*:vpc-endpoint/*"),
    ("ec2:ModifyVpcEndpoint", "NotResource:arn:aws:ec2:*:*:vpc-endpoint/*"),
    # The VPC link's endpoint service: created by API Gateway, not tagged by us; AWS's VPC
    # link permission page grants these on "*" (grant-permissions-to-create-vpclink).
    ("ec2:CreateVpcEndpointServiceConfiguration", "*"),
    ("ec2:DeleteVpcEndpointServiceConfigurations", "*"),
    ("ec2:ModifyVpcEndpointServicePermissions", "*"),
}

# Each write on the operator's own resource type must carry this owner-tag condition (what the
# policies do now, docs/iam/README.md "How the policies are scoped"): a statement granting the
# action on a resource covering the type without it fails.
OWNED = {
    "ec2:CreateSecurityGroup": ("arn:aws:ec2:us-east-1:1:security-group/sg-1", "aws:RequestTag"),
    "ec2:AuthorizeSecurityGroupIngress": ("arn:aws:ec2:us-east-1:1:security-group/sg-1", "aws:ResourceTag"),
    "ec2:RevokeSecurityGroupIngress": ("arn:aws:ec2:us-east-1:1:security-group/sg-1", "aws:ResourceTag"),
    "ec2:DeleteSecurityGroup": ("arn:aws:ec2:us-east-1:1:security-group/sg-1", "aws:ResourceTag"),
    "ec2:CreateVpcEndpoint": ("arn:aws:ec2:us-east-1:1:vpc-endpoint/vpce-1", "aws:RequestTag"),
    "ec2:ModifyVpcEndpoint": ("arn:aws:ec2:us-east-1:1:vpc-endpoint/vpce-1", "aws:ResourceTag"),
    "ec2:DeleteVpcEndpoints": ("arn:aws:ec2:us-east-1:1:vpc-endpoint/vpce-1", "aws:ResourceTag"),
    "elasticloadbalancing:CreateLoadBalancer": ("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/xapi-a/1", "aws:RequestTag"),
    "elasticloadbalancing:CreateTargetGroup": ("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/xapi-a/1", "aws:RequestTag"),
    "elasticloadbalancing:ModifyListener": ("arn:aws:elasticloadbalancing:us-east-1:1:listener/net/xapi-a/1/2", "aws:ResourceTag"),
    "elasticloadbalancing:DeleteListener": ("arn:aws:elasticloadbalancing:us-east-1:1:listener/net/xapi-a/1/2", "aws:ResourceTag"),
    "elasticloadbalancing:DeleteLoadBalancer": ("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/xapi-a/1", "aws:ResourceTag"),
    "elasticloadbalancing:RegisterTargets": ("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/xapi-a/1", "aws:ResourceTag"),
    "elasticloadbalancing:DeregisterTargets": ("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/xapi-a/1", "aws:ResourceTag"),
    "elasticloadbalancing:DeleteTargetGroup": ("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/xapi-a/1", "aws:ResourceTag"),
}
# Extra conditions pinned on one action (README: "CreateVpcEndpoint is limited to
# com.amazonaws.*.execute-api"); tag-on-create only through the creating call.
PINNED_CONDITIONS = {
    "ec2:CreateVpcEndpoint@vpc-endpoint": ("StringLike", "ec2:VpceServiceName", "com.amazonaws.*.execute-api"),
    "ec2:CreateTags": ("StringEquals", "ec2:CreateAction", None),
    "elasticloadbalancing:AddTags": ("StringEquals", "elasticloadbalancing:CreateAction", None),
}


# --- what the code needs ------------------------------------------------------------------


def required(side: str) -> tuple[set[str], set[tuple[str, str]]]:
    """(IAM actions, API Gateway (verb, sample path)) one side's code needs."""
    actions: set[str] = set()
    apigw: set[tuple[str, str]] = set()
    if side == "operator":
        for c in m.operator_calls():
            actions.add(f"sts:{c.op}")
            if c.sends_tags:
                actions.add("sts:TagSession")
        return actions - NO_PERMISSION_NEEDED, apigw
    for c, _where in m.side_calls()[side]:
        service, prefix = m.SERVICES[c.service]
        if c.service == "apigateway":
            verb, uri = m.http_of(service, c.op)
            path = m.apigateway_path(uri)
            apigw.add((verb, path))
            if c.sends_tags:
                apigw.add(("PUT", "/tags/ID"))
            if c.sends_policy:
                actions.add("apigateway:UpdateRestApiPolicy@" + path)
            continue
        actions.add(f"{prefix}:{c.op}")
        if c.sends_tags:
            actions.add(TAG_ACTION[c.service])
    if side in m.patches_policy():
        actions.add("apigateway:UpdateRestApiPolicy@/restapis/ID")
    return actions, apigw


def statements(policy: dict) -> list[dict]:
    return [s for s in m.as_list(policy["Statement"])]


def arn(path: str) -> str:
    return f"arn:aws:apigateway:{REGION}::{path}"


def resources_of(stmt: dict) -> list[str]:
    if "NotResource" in stmt:
        return ["NotResource:" + r for r in m.as_list(stmt["NotResource"])]
    return m.as_list(stmt.get("Resource", []))


def allows(stmt: dict, action: str) -> bool:
    return stmt["Effect"] == "Allow" and any(
        m.glob_match(a, action, case=False) for a in m.as_list(stmt.get("Action", []))
    )


def covers(pattern: str, resource: str) -> bool:
    if pattern.startswith("NotResource:"):
        return not m.glob_match(pattern[len("NotResource:") :], resource)
    return m.glob_match(pattern, resource)


def granted(policy: dict) -> set[str]:
    out = set()
    for s in statements(policy):
        if s["Effect"] == "Allow":
            assert "NotAction" not in s, f"{s.get('Sid')}: NotAction refused"
            out |= set(m.as_list(s["Action"]))
    return out


@pytest.fixture(params=sorted(POLICIES))
def side(request):
    return request.param


def policy_of(side: str) -> dict:
    return m.load_policy(POLICIES[side])


# --- 1. the derivation itself ----------------------------------------------------------------


def test_every_reconcile_module_side_matches_its_callers():
    """MODULE_SIDE (explicit) agrees with how mod.rs/cleanup.rs pass `sides.provider/consumer`."""
    seen = m.module_side_callers()
    assert seen, "no `module::f(&sides.X` calls found: the derivation lost track of the code"
    for module, sides in seen.items():
        assert sides <= m.MODULE_SIDE[module], (module, sides, m.MODULE_SIDE[module])


def test_code_calls_are_found():
    p, _ = required("provider")
    c, capi = required("consumer")
    # Anchors: if parsing silently found nothing, every other check would pass vacuously.
    assert {"ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints"} <= p
    assert {"elasticloadbalancing:CreateLoadBalancer", "lambda:GetFunctionConfiguration"} <= c
    assert ("POST", "/vpclinks") in capi
    assert required("operator")[0] == {"sts:AssumeRole", "sts:TagSession"}


def test_unknown_sdk_call_fails(tmp_path, monkeypatch):
    """A snake_case call botocore does not know (typo) is an error, not a silent skip."""
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "ec2.rs").write_text("impl Ec2 {\n    pub async fn f(&self) { self.client.create_vpc_endpiont().send().await; }\n}\n")
    with pytest.raises(AssertionError, match="create_vpc_endpiont"):
        m.parse_wrapper(aws / "ec2.rs", "ec2")


# --- 2./3. actions: nothing missing, nothing extra ----------------------------------------------


def test_no_wildcard_actions(side):
    for a in granted(policy_of(side)):
        service, _, op = a.partition(":")
        if service == "apigateway" and op in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            continue
        assert "*" not in a and "?" not in a, f"{POLICIES[side]}: wildcard action {a} refused"


def test_policy_allows_every_called_action(side):
    policy = policy_of(side)
    actions, _ = required(side)
    missing = []
    for a in sorted(actions):
        action, _, path = a.partition("@")
        res = arn(path) if path else None
        ok = any(
            allows(s, action) and (res is None or any(covers(r, res) for r in resources_of(s)))
            for s in statements(policy)
        )
        if not ok:
            missing.append(a)
    assert not missing, f"{POLICIES[side]} lacks {missing}"


def test_policy_allows_every_apigateway_call(side):
    policy = policy_of(side)
    _, apigw = required(side)
    missing = [
        (verb, path)
        for verb, path in sorted(apigw)
        if not any(
            allows(s, f"apigateway:{verb}") and any(covers(r, arn(path)) for r in resources_of(s))
            for s in statements(policy)
        )
    ]
    assert not missing, f"{POLICIES[side]} lacks apigateway verb/path {missing}"


def test_policy_grants_nothing_the_code_does_not_call(side):
    actions, _ = required(side)
    needed = {a.partition("@")[0] for a in actions}
    extra = set()
    for a in granted(policy_of(side)):
        if a.startswith("apigateway:") and a.split(":")[1] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            continue  # verbs: next test
        if a not in needed and a not in JUSTIFIED_EXTRAS[side]:
            extra.add(a)
    assert not extra, f"{POLICIES[side]} grants {sorted(extra)}, which src/ does not call"


def test_apigateway_statements_grant_only_needed_verbs_and_paths(side):
    """Each verb of a statement is used on one of its resources, and each resource by one of
    its verbs (a statement is verbs x resources: finer than this needs split statements)."""
    _, apigw = required(side)
    for s in statements(policy_of(side)):
        verbs = [a.split(":")[1] for a in m.as_list(s.get("Action", [])) if a.startswith("apigateway:")]
        verbs = [v for v in verbs if v in {"GET", "POST", "PUT", "PATCH", "DELETE"}]
        if not verbs:
            continue
        res = resources_of(s)
        for v in verbs:
            assert any(v == cv and any(covers(r, arn(p)) for r in res) for cv, p in apigw), (
                f"{POLICIES[side]} {s.get('Sid')}: apigateway:{v} not needed on {res}"
            )
        for r in res:
            assert any(cv in verbs and covers(r, arn(p)) for cv, p in apigw), (
                f"{POLICIES[side]} {s.get('Sid')}: resource {r} not needed by {verbs}"
            )


def test_operator_policy_names_only_the_two_roles():
    for s in statements(policy_of("operator")):
        for r in resources_of(s):
            assert re.fullmatch(r"arn:aws:iam::\d{12}:role/xapi-(provider|consumer)", r), r


# --- 4. scoping ---------------------------------------------------------------------------------

READ = re.compile(r"^(Describe|Get|List)")


def owner_conditions(stmt: dict) -> set[str]:
    """`aws:RequestTag` / `aws:ResourceTag` of the owner tag that the statement's conditions test."""
    out = set()
    for op, kv in stmt.get("Condition", {}).items():
        for key, val in kv.items():
            base, _, tag = key.partition("/")
            if tag != OWNER_TAG or base not in ("aws:RequestTag", "aws:ResourceTag"):
                continue
            if op == "Null" and m.as_list(val) == ["false"]:
                out.add(base)
            elif op.startswith(("StringEquals", "StringLike")):
                out.add(base)
    return out


def test_writes_are_scoped(side):
    problems = []
    for s in statements(policy_of(side)):
        if s["Effect"] != "Allow":
            continue
        tags = owner_conditions(s)
        for a in m.as_list(s["Action"]):
            service, _, op = a.partition(":")
            if service not in ("ec2", "elasticloadbalancing") or READ.match(op):
                continue
            pinned = PINNED_CONDITIONS.get(a)
            create_action = pinned and pinned[1].endswith(":CreateAction") and pinned[1] in s.get(
                "Condition", {}
            ).get(pinned[0], {})
            for r in resources_of(s):
                if tags or "xapi-" in r or (a, r) in SCOPE_EXEMPT or create_action:
                    continue
                problems.append(f"{s.get('Sid')}: {a} on {r}")
    assert not problems, f"{POLICIES[side]}: unscoped writes {problems}"


def test_owned_resource_writes_carry_the_owner_tag_condition(side):
    problems = []
    for s in statements(policy_of(side)):
        for action, (resource, key) in OWNED.items():
            if allows(s, action) and any(covers(r, resource) for r in resources_of(s)):
                if key not in owner_conditions(s):
                    problems.append(f"{s.get('Sid')}: {action} without {key}/{OWNER_TAG}")
    assert not problems, f"{POLICIES[side]}: {problems}"


def test_pinned_conditions(side):
    problems = []
    for s in statements(policy_of(side)):
        for key, (op, cond, value) in PINNED_CONDITIONS.items():
            action, _, rtype = key.partition("@")
            if not allows(s, action):
                continue
            if rtype and not any(f":{rtype}/" in r and not r.startswith("NotResource:") for r in resources_of(s)):
                continue
            got = s.get("Condition", {}).get(op, {}).get(cond)
            if got is None or (value is not None and m.as_list(got) != [value]):
                problems.append(f"{s.get('Sid')}: {action} needs {op} {cond} {value or ''}")
    assert not problems, f"{POLICIES[side]}: {problems}"
