"""Rule 11: sts:AssumeRole is decided by the role's trust policy, as IAM does.

Plain moto issues credentials for any RoleArn (the role need not exist, the
trust policy and ExternalId are never read, session tags are ignored), so
every refusal below would be a success there, and it keeps no session log.
"""

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import DEFAULT_CALLER_ACCOUNT, REGION

TARGET = "202020202020"
OTHER = "212121212121"
CALLER_ARN = f"arn:aws:sts::{DEFAULT_CALLER_ACCOUNT}:user/moto"  # what GetCallerIdentity says for "testing"


def _sts(emu, creds=None):
    creds = creds or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("sts", endpoint_url=emu.url, region_name=REGION, **creds)


def _trust(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(principal=None, action="sts:AssumeRole", condition=None, effect="Allow"):
    statement = {"Effect": effect, "Principal": principal if principal is not None else
                 {"AWS": f"arn:aws:iam::{DEFAULT_CALLER_ACCOUNT}:root"}, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement


def _assume(emu, role_arn, creds=None, **kwargs):
    return _sts(emu, creds).assume_role(RoleArn=role_arn, RoleSessionName="trust-test", **kwargs)


def _denied(emu, role_arn, action="sts:AssumeRole", caller=CALLER_ARN, creds=None, **kwargs):
    with pytest.raises(ClientError) as err:
        _assume(emu, role_arn, creds, **kwargs)
    resp = err.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert resp["Error"]["Code"] == "AccessDenied"
    assert resp["Error"]["Message"] == (
        f"User: {caller} is not authorized to perform: {action} on resource: {role_arn}")


def test_caller_identity_of_default_keys(emu):
    """The caller ARN the rules use is the one GetCallerIdentity reports."""
    assert _sts(emu).get_caller_identity()["Arn"] == CALLER_ARN


def test_missing_role_is_access_denied(emu):
    """Plain moto: AssumeRole of a role that does not exist succeeds."""
    _denied(emu, f"arn:aws:iam::{TARGET}:role/does-not-exist")
    # a role of that name in another account does not help
    emu.ensure_role(OTHER, "only-in-other")
    _denied(emu, f"arn:aws:iam::{TARGET}:role/only-in-other")


@pytest.mark.parametrize("principal", [
    "*",
    {"AWS": "*"},
    {"AWS": DEFAULT_CALLER_ACCOUNT},
    {"AWS": f"arn:aws:iam::{DEFAULT_CALLER_ACCOUNT}:root"},
    {"AWS": ["arn:aws:iam::999999999999:root", DEFAULT_CALLER_ACCOUNT]},
    {"AWS": f"arn:aws:iam::{DEFAULT_CALLER_ACCOUNT}:user/moto"},
    {"AWS": CALLER_ARN},
])
def test_principal_that_covers_the_caller(emu, principal):
    """Plain moto never reads the Principal."""
    arn = emu.ensure_role(TARGET, "principal-ok", _trust(_allow(principal)))
    assert _assume(emu, arn)["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{TARGET}:assumed-role/principal-ok/trust-test"


@pytest.mark.parametrize("principal", [
    {"AWS": "arn:aws:iam::999999999999:root"},
    {"AWS": "999999999999"},
    {"AWS": f"arn:aws:iam::{DEFAULT_CALLER_ACCOUNT}:user/someone-else"},
    {"Service": "ec2.amazonaws.com"},
    {"Federated": "cognito-identity.amazonaws.com"},
])
def test_principal_that_does_not_cover_the_caller(emu, principal):
    """Plain moto: succeeds whatever the Principal says."""
    arn = emu.ensure_role(TARGET, "principal-no", _trust(_allow(principal)))
    _denied(emu, arn)


@pytest.mark.parametrize("action,ok", [
    ("sts:AssumeRole", True), ("sts:*", True), ("*", True), ("sts:Assume*", True),
    (["sts:TagSession", "sts:AssumeRole"], True),
    ("sts:AssumeRoleWithWebIdentity", False), (["sts:TagSession"], False),
])
def test_action_must_cover_assume_role(emu, action, ok):
    """Plain moto: any Action (or none) lets the call through."""
    arn = emu.ensure_role(TARGET, "actions", _trust(_allow(action=action)))
    if ok:
        _assume(emu, arn)
    else:
        _denied(emu, arn)


def test_external_id(emu):
    """IAM User Guide, external ID for third parties: StringEquals on
    sts:ExternalId. Plain moto ignores ExternalId."""
    arn = emu.ensure_role(TARGET, "ext", _trust(_allow(condition={"StringEquals": {"sts:ExternalId": "ext-123"}})))
    _denied(emu, arn)  # no ExternalId: the key is absent, StringEquals is false
    _denied(emu, arn, ExternalId="ext-999")
    _assume(emu, arn, ExternalId="ext-123")

    arn = emu.ensure_role(TARGET, "ext-like", _trust(_allow(condition={"StringLike": {"sts:ExternalId": "team-?-*"}})))
    _assume(emu, arn, ExternalId="team-a-42")
    _denied(emu, arn, ExternalId="team-ab-42")

    # a list of values is an OR
    arn = emu.ensure_role(TARGET, "ext-list", _trust(_allow(
        condition={"StringEquals": {"sts:ExternalId": ["one-111", "two-222"]}})))
    _assume(emu, arn, ExternalId="two-222")

    # Null "false": the key must be present, any value
    arn = emu.ensure_role(TARGET, "ext-null", _trust(_allow(condition={"Null": {"sts:ExternalId": "false"}})))
    _denied(emu, arn)
    _assume(emu, arn, ExternalId="whatever")


def test_string_not_equals_and_absent_key(emu):
    """IAM: a negated operator is true when the key is absent. Plain moto
    ignores conditions."""
    arn = emu.ensure_role(TARGET, "not-eq",
                          _trust(_allow(condition={"StringNotEquals": {"sts:ExternalId": "bad-id1"}})))
    _assume(emu, arn)
    _assume(emu, arn, ExternalId="good-id1")
    _denied(emu, arn, ExternalId="bad-id1")


def test_deny_wins(emu):
    """An explicit Deny that matches overrides any Allow. Plain moto: allowed."""
    arn = emu.ensure_role(TARGET, "deny", _trust(
        _allow(),
        _allow(principal="*", condition={"StringNotEquals": {"sts:ExternalId": "only-this"}}, effect="Deny"),
    ))
    _denied(emu, arn)
    _denied(emu, arn, ExternalId="other-id")
    _assume(emu, arn, ExternalId="only-this")


def test_session_tags_need_tag_session(emu):
    """Session tags: the trust policy must allow sts:TagSession too. Plain moto
    ignores Tags."""
    arn = emu.ensure_role(TARGET, "no-tags", _trust(_allow(action="sts:AssumeRole")))
    _assume(emu, arn)
    _denied(emu, arn, action="sts:TagSession", Tags=[{"Key": "team", "Value": "blue"}])

    arn = emu.ensure_role(TARGET, "tags", _trust(_allow(action=["sts:AssumeRole", "sts:TagSession"])))
    _assume(emu, arn, Tags=[{"Key": "team", "Value": "blue"}])


def test_request_tag_and_tag_keys_conditions(emu):
    """aws:RequestTag/<key> and ForAllValues:StringEquals on aws:TagKeys, in
    the statement that allows sts:TagSession. Plain moto ignores both."""
    arn = emu.ensure_role(TARGET, "tag-cond", _trust(_allow(
        action=["sts:AssumeRole", "sts:TagSession"],
        condition={"StringEquals": {"aws:RequestTag/team": "blue"},
                   "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}},
    )))
    _assume(emu, arn, Tags=[{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": "dev"}])
    _denied(emu, arn, Tags=[{"Key": "team", "Value": "red"}])
    _denied(emu, arn, Tags=[{"Key": "team", "Value": "blue"}, {"Key": "owner", "Value": "x"}])
    _denied(emu, arn)  # no tags: aws:RequestTag/team is absent

    # ForAllValues holds for an empty set: untagged calls pass the key-set check
    arn = emu.ensure_role(TARGET, "tag-keys", _trust(_allow(
        action=["sts:AssumeRole", "sts:TagSession"],
        condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}})))
    _assume(emu, arn)
    _assume(emu, arn, Tags=[{"Key": "team", "Value": "any"}])
    _denied(emu, arn, Tags=[{"Key": "cost", "Value": "1"}])


def test_unsupported_condition_fails_closed(emu):
    """An operator the emulator does not evaluate never allows, and a Deny
    using one always applies. Plain moto: allowed."""
    arn = emu.ensure_role(TARGET, "unsupported", _trust(_allow(
        condition={"StringEquals": {"sts:ExternalId": "e-1234"}, "IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})))
    _denied(emu, arn, ExternalId="e-1234")

    arn = emu.ensure_role(TARGET, "unsupported-key", _trust(_allow(
        condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-123"}})))
    _denied(emu, arn)

    arn = emu.ensure_role(TARGET, "unsupported-deny", _trust(
        _allow(), _allow(principal="*", condition={"DateGreaterThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}},
                         effect="Deny")))
    _denied(emu, arn)


def test_role_chaining_by_role_arn(emu):
    """A role session is covered by its role's ARN in the next role's trust
    policy. Plain moto: any chain works."""
    first = emu.ensure_role(OTHER, "hop-1")
    creds = _assume(emu, first)["Credentials"]
    creds = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
             "aws_session_token": creds["SessionToken"]}
    second = emu.ensure_role(TARGET, "hop-2", _trust(_allow({"AWS": first})))
    chained = _assume(emu, second, creds)["AssumedRoleUser"]["Arn"]
    assert chained == f"arn:aws:sts::{TARGET}:assumed-role/hop-2/trust-test"
    # the default caller is not that role
    _denied(emu, second)
    # and a role trusting only the default caller's account refuses the session
    third = emu.ensure_role(TARGET, "hop-3")
    _denied(emu, third, caller=f"arn:aws:sts::{OTHER}:assumed-role/hop-1/trust-test", creds=creds)


def test_sessions_are_recorded_and_reset(emu):
    """GET /_xapi/sts/sessions lists every AssumeRole with its outcome; POST
    /_xapi/reset (moto kept) empties it. Plain moto has no such log."""
    emu._call("POST", "/_xapi/reset", {"moto": False})
    assert emu.sessions() == []
    arn = emu.ensure_role(TARGET, "logged", _trust(_allow(action=["sts:AssumeRole", "sts:TagSession"],
                                                         condition={"StringEquals": {"sts:ExternalId": "log-1"}})))
    _assume(emu, arn, ExternalId="log-1", Tags=[{"Key": "team", "Value": "blue"}, {"Key": "env", "Value": "dev"}],
            TransitiveTagKeys=["team"])
    _denied(emu, arn)
    ok, denied = emu.sessions()
    assert {k: v for k, v in ok.items() if k != "time"} == {
        "role_arn": arn, "role_session_name": "trust-test", "external_id": "log-1",
        "tags": {"team": "blue", "env": "dev"}, "transitive_tag_keys": ["team"],
        "caller_arn": CALLER_ARN, "outcome": "ok"}
    assert ok["time"].endswith("Z") and ok["time"] <= denied["time"]
    assert denied["outcome"] == "AccessDenied" and denied["external_id"] is None and denied["tags"] == {}
    emu._call("POST", "/_xapi/reset", {"moto": False})
    assert emu.sessions() == []


def test_role_control_endpoint(emu):
    """POST /_xapi/iam/roles creates the role in that account's IAM, or replaces
    its trust policy; bad input is HTTP 400."""
    arn = emu.ensure_role(TARGET, "controlled", _trust(_allow({"AWS": "999999999999"})))
    assert arn == f"arn:aws:iam::{TARGET}:role/controlled"
    _denied(emu, arn)
    assert emu.ensure_role(TARGET, "controlled") == arn
    _assume(emu, arn)
    # the role is a real IAM role of that account
    iam = emu.client("iam", TARGET)
    doc = iam.get_role(RoleName="controlled")["Role"]["AssumeRolePolicyDocument"]
    assert "sts:AssumeRole" in json.dumps(doc)
    for bad in ({"account": "12", "name": "r", "trust_policy": _trust(_allow())},
                {"account": TARGET, "name": "bad name", "trust_policy": _trust(_allow())},
                {"account": TARGET, "name": "r", "trust_policy": {"no": "statement"}}):
        req = urllib.request.Request(emu.url + "/_xapi/iam/roles", data=json.dumps(bad).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
