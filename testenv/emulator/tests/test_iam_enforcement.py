"""Identity-policy authorization of an enforced role's sessions (rule 25, iam_enforce.py).

Plain moto answers all of these calls."""

import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, make_vpc

ACCOUNT = "444444444425"
OWNER = "apigw.crossaccount.io/owner"


def _post(emu, path, body):
    req = urllib.request.Request(emu.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _session(emu, role_arn, name):
    sts = boto3.client("sts", endpoint_url=emu.url, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
    return boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                         aws_session_token=c["SessionToken"], region_name=REGION)


def _client(session, emu, service):
    return session.client(service, endpoint_url=emu.url, config=Config(retries={"total_max_attempts": 1}))


def _role(emu, name, policy):
    """An enforced role with ``policy`` inline; ``admin`` (its unenforced session) set things up."""
    arn = emu.ensure_role(ACCOUNT, name)
    admin = _session(emu, arn, "admin")
    _client(admin, emu, "iam").put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    _post(emu, "/_xapi/iam/enforce", {"role_arn": arn, "enforce": True, "unenforced_sessions": ["admin"]})
    return arn, admin, _session(emu, arn, "operator")


def _code(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def network(emu):
    admin = _session(emu, emu.ensure_role(ACCOUNT, "net-admin"), "admin")
    ec2 = _client(admin, emu, "ec2")
    vpc, subnets = make_vpc(ec2, "10.25.0.0/16", [("10.25.1.0/24", "us-east-1a")])
    return vpc, subnets


ENDPOINT_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcEndpoints"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:CreateVpcEndpoint", "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"Null": {f"aws:RequestTag/{OWNER}": "false"},
                       "StringLike": {"ec2:VpceServiceName": "com.amazonaws.*.execute-api"}}},
        {"Effect": "Allow", "Action": "ec2:CreateVpcEndpoint", "NotResource": "arn:aws:ec2:*:*:vpc-endpoint/*"},
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateVpcEndpoint"}}},
        {"Effect": "Allow", "Action": "ec2:DeleteVpcEndpoints", "Resource": "arn:aws:ec2:*:*:vpc-endpoint/*",
         "Condition": {"Null": {f"aws:ResourceTag/{OWNER}": "false"}}},
    ],
}


def _create_endpoint(ec2, vpc, subnets, tags=True, service="com.amazonaws.us-east-1.execute-api"):
    kwargs = {"TagSpecifications": [{"ResourceType": "vpc-endpoint", "Tags": [{"Key": OWNER, "Value": "ns/a"}]}]} \
        if tags else {}
    return ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc, ServiceName=service,
                                   SubnetIds=subnets, **kwargs)["VpcEndpoint"]["VpcEndpointId"]


def test_action_no_policy_allows_is_unauthorized_operation(emu, network):
    _arn, _admin, op = _role(emu, "no-ec2", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DescribeVpcEndpoints", "Resource": "*"}]})
    ec2 = _client(op, emu, "ec2")
    ec2.describe_vpc_endpoints()  # allowed
    with pytest.raises(ClientError) as e:
        _create_endpoint(ec2, *network)
    assert _code(e) == ("UnauthorizedOperation", 403)
    assert "ec2:CreateVpcEndpoint" in e.value.response["Error"]["Message"]


def test_allowed_create_with_owner_tag_passes_without_it_refused(emu, network):
    _arn, _admin, op = _role(emu, "endpoints", ENDPOINT_POLICY)
    ec2 = _client(op, emu, "ec2")
    vpce = _create_endpoint(ec2, *network)
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"][0]["VpcEndpointId"] == vpce
    with pytest.raises(ClientError) as e:  # Null aws:RequestTag/owner = false does not hold
        _create_endpoint(ec2, *network, tags=False)
    assert _code(e) == ("UnauthorizedOperation", 403)
    with pytest.raises(ClientError) as e:  # ec2:VpceServiceName
        _create_endpoint(ec2, *network, service="com.amazonaws.us-east-1.s3")
    assert _code(e)[0] == "UnauthorizedOperation"
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])


def test_resource_tag_condition_on_existing_resource(emu, network):
    _arn, admin, op = _role(emu, "endpoints-rt", ENDPOINT_POLICY)
    untagged = _create_endpoint(_client(admin, emu, "ec2"), *network, tags=False)
    with pytest.raises(ClientError) as e:
        _client(op, emu, "ec2").delete_vpc_endpoints(VpcEndpointIds=[untagged])
    assert _code(e)[0] == "UnauthorizedOperation"
    assert untagged in e.value.response["Error"]["Message"]


def test_tag_on_create_needs_create_tags(emu, network):
    policy = json.loads(json.dumps(ENDPOINT_POLICY))
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"] != "ec2:CreateTags"]
    _arn, _admin, op = _role(emu, "no-create-tags", policy)
    with pytest.raises(ClientError) as e:
        _create_endpoint(_client(op, emu, "ec2"), *network)
    assert _code(e)[0] == "UnauthorizedOperation"
    assert "ec2:CreateTags" in e.value.response["Error"]["Message"]


def test_explicit_deny_wins(emu, network):
    policy = json.loads(json.dumps(ENDPOINT_POLICY))
    policy["Statement"].append({"Effect": "Deny", "Action": "ec2:Describe*", "Resource": "*"})
    _arn, _admin, op = _role(emu, "denied", policy)
    with pytest.raises(ClientError) as e:
        _client(op, emu, "ec2").describe_vpc_endpoints()
    assert _code(e) == ("UnauthorizedOperation", 403)
    assert "explicit deny" in e.value.response["Error"]["Message"]


def test_apigateway_verb_and_path(emu):
    _arn, _admin, op = _role(emu, "apis", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["apigateway:GET", "apigateway:POST"],
         "Resource": ["arn:aws:apigateway:*::/restapis", "arn:aws:apigateway:*::/restapis/*"]},
        {"Effect": "Allow", "Action": "apigateway:PUT", "Resource": "arn:aws:apigateway:*::/tags/*"}]})
    apigw = _client(op, emu, "apigateway")
    api = apigw.create_rest_api(name="enforced", tags={OWNER: "ns/a"})["id"]
    apigw.get_rest_api(restApiId=api)
    with pytest.raises(ClientError) as e:  # DELETE not granted
        apigw.delete_rest_api(restApiId=api)
    assert _code(e) == ("AccessDeniedException", 403)
    with pytest.raises(ClientError) as e:  # path not granted
        apigw.get_vpc_links()
    assert _code(e)[0] == "AccessDeniedException"


def test_elb_and_lambda_refusals(emu, network):
    _arn, _admin, op = _role(emu, "elb", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "elasticloadbalancing:CreateTargetGroup",
         "Resource": "arn:aws:elasticloadbalancing:*:*:targetgroup/xapi-*/*",
         "Condition": {"Null": {f"aws:RequestTag/{OWNER}": "false"}}},
        {"Effect": "Allow", "Action": "elasticloadbalancing:AddTags", "Resource": "*",
         "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}}}]})
    elb = _client(op, emu, "elbv2")
    vpc = network[0]
    tags = [{"Key": OWNER, "Value": "ns/a"}]
    elb.create_target_group(Name="xapi-ok", Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip", Tags=tags)
    with pytest.raises(ClientError) as e:  # name outside xapi-*
        elb.create_target_group(Name="other", Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip", Tags=tags)
    assert _code(e) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:  # no owner tag
        elb.create_target_group(Name="xapi-untagged", Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip")
    assert _code(e)[0] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        _client(op, emu, "lambda").get_function_configuration(FunctionName="nope")
    assert _code(e) == ("AccessDeniedException", 403)


def test_unenforced_roles_and_sessions_stay_unchecked(emu, network):
    """Harness knob: a role not switched on (tests' roles without permission policies), and a
    listed session of an enforced one, are answered as plain moto would."""
    arn, admin, _op = _role(emu, "knob", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})
    _client(admin, emu, "ec2").describe_vpc_endpoints()
    plain = _session(emu, emu.ensure_role(ACCOUNT, "plain"), "operator")
    _client(plain, emu, "ec2").describe_vpc_endpoints()
    listed = json.loads(urllib.request.urlopen(emu.url + "/_xapi/iam/enforce", timeout=10).read())
    assert {"role_arn": arn, "unenforced_sessions": ["admin"]} in listed["roles"]
