"""Rule 20: GET /_xapi/requests?since=N lists every AWS request with what the
client sent and how it ended. An emulator-only endpoint: plain moto has no
such log (its recorder keeps raw bodies, without account, operation or
outcome)."""

import time

import boto3

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc

ACCOUNT = "373737373737"


def _requests(emu, since=0):
    return emu._call("GET", f"/_xapi/requests?since={since}")


def _one(emu, since, operation):
    found = [r for r in _requests(emu, since)["requests"] if r["operation"] == operation]
    assert len(found) == 1, found
    return found[0]


def test_query_parameters_are_kept_as_sent(emu):
    ec2, elbv2 = emu.client("ec2", ACCOUNT), emu.client("elbv2", ACCOUNT)
    vpc, _subnets = make_vpc(ec2, "10.37.0.0/16", [("10.37.1.0/24", "us-east-1a")])
    tg = elbv2.create_target_group(Name="log-tg", Protocol="TCP", Port=443, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    since = _requests(emu)["next"]
    started = time.time()
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.37.1.10", "Port": 443},
                                                       {"Id": "10.99.0.1", "Port": 443, "AvailabilityZone": "all"}])
    entry = _one(emu, since, "RegisterTargets")
    assert (entry["service"], entry["account"], entry["region"], entry["status"], entry["fault"]) == (
        "elasticloadbalancing", ACCOUNT, "us-east-1", 200, None)
    assert started - 1 <= entry["time"] <= time.time() + 1
    params = entry["params"]
    assert params["TargetGroupArn"] == tg
    assert (params["Targets.member.1.Id"], params["Targets.member.2.Id"]) == ("10.37.1.10", "10.99.0.1")
    assert params["Targets.member.2.AvailabilityZone"] == "all" and "Targets.member.1.AvailabilityZone" not in params

    with pytest.raises(ClientError):
        ec2.describe_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])
    failed = _one(emu, since, "DescribeVpcEndpoints")
    assert (failed["service"], failed["status"], failed["params"]["VpcEndpointId.1"]) == (
        "ec2", 400, "vpce-0123456789abcdef0")


def test_apigateway_method_path_and_body(emu):
    apigw = emu.client("apigateway", ACCOUNT)
    api = apigw.create_rest_api(name="log-api")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    since = _requests(emu)["next"]
    ops = [{"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"}]
    apigw.update_method(restApiId=api, resourceId=root, httpMethod="GET", patchOperations=ops)
    entry = _one(emu, since, "UpdateMethod")
    assert (entry["service"], entry["account"], entry["status"]) == ("apigateway", ACCOUNT, 200)
    assert entry["params"]["method"] == "PATCH"
    assert entry["params"]["path"] == f"/restapis/{api}/resources/{root}/methods/GET"
    assert entry["params"]["body"] == {"patchOperations": ops}


def test_lambda_calls_are_named_like_api_gateway_ones(emu):
    """Lambda is REST-JSON too: its operation comes from method + path (botocore's model), so a
    GetFunctionConfiguration is a read (never a crash point) and a miss is logged as such."""
    lam = emu.client("lambda", ACCOUNT)
    since = _requests(emu)["next"]
    with pytest.raises(ClientError):
        lam.get_function_configuration(FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nope")
    entry = _one(emu, since, "GetFunctionConfiguration")
    assert (entry["service"], entry["account"], entry["status"]) == ("lambda", ACCOUNT, 404)
    assert entry["params"]["method"] == "GET"


def test_faults_since_and_reset(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    ec2.describe_vpcs()
    emu._call("POST", "/_xapi/reset", {"moto": False})  # moto's state (and our credentials) stay
    cleared = _requests(emu)
    assert cleared["requests"] == []
    since = cleared["next"]
    assert since > 1  # numbering goes on after a reset

    emu.config(faults={"ec2": {"throttle_rate": 1.0, "operations": ["DescribeVpcs"]}})
    with pytest.raises(ClientError):
        ec2.describe_vpcs()
    emu.config(faults={"ec2": {"throttle_rate": 0.0, "drop_rate": 1.0}})
    with pytest.raises(Exception):
        ec2.describe_vpcs()
    emu.config(faults={"ec2": {"drop_rate": 0.0, "operations": None}})
    ec2.describe_vpcs()
    log = _requests(emu, since)
    assert [(r["operation"], r["status"], r["fault"]) for r in log["requests"]] == [
        ("DescribeVpcs", 503, "throttle"), ("DescribeVpcs", None, "drop"), ("DescribeVpcs", 200, None)]
    seqs = [r["seq"] for r in log["requests"]]
    assert seqs == list(range(since, since + 3)) and log["next"] == since + 3
    assert _requests(emu, log["next"]) == {"next": log["next"], "requests": []}
    # control calls and moto's own /moto-api/ are not AWS requests
    assert all(r["service"] == "ec2" for r in log["requests"])
    faults = emu._call("GET", "/_xapi/faults")
    assert (faults["ec2"]["throttle"], faults["ec2"]["drop"]) == (1, 1)


def test_calls_name_the_session_that_made_them(emu):
    """Each entry names the AssumeRole session (RoleSessionName) whose credentials signed it,
    as CloudTrail does; calls with long-term keys name none."""
    arn = emu.ensure_role(ACCOUNT, "log-session")
    creds = boto3.client("sts", endpoint_url=emu.url, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing").assume_role(
        RoleArn=arn, RoleSessionName="xapi-team-orders")["Credentials"]
    ec2 = boto3.client("ec2", endpoint_url=emu.url, region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    since = _requests(emu)["next"]
    ec2.describe_vpcs()
    boto3.client("ec2", endpoint_url=emu.url, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").describe_subnets()
    assert _one(emu, since, "DescribeVpcs")["session"] == "xapi-team-orders"
    assert _one(emu, since, "DescribeSubnets")["session"] is None
