"""Seeding a fresh emulator: two accounts, their roles (rule 12), networks
and the private API."""

import json
import os
import subprocess
import sys
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import EMU_DIR, REGION, start_emulator, stop_emulator


@pytest.fixture(scope="module")
def fresh():
    # Quotas on, as in the demo: the seed must cope with them.
    proc, url = start_emulator("--time-scale", "0.05", log_name="seed-emulator")
    try:
        yield url
    finally:
        stop_emulator(proc)


def _read_env(path):
    values = {}
    for line in open(path):
        if line.startswith("export "):
            key, _, value = line[len("export "):].strip().partition("=")
            values[key] = value.strip("'")
    return values


def _sts(url):
    return boto3.client("sts", endpoint_url=url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _client(url, role, service, external_id):
    c = _sts(url).assume_role(RoleArn=role, RoleSessionName="xapi-tests", ExternalId=external_id)["Credentials"]
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])


@pytest.fixture(scope="module")
def seeded(fresh, tmp_path_factory):
    out = tmp_path_factory.mktemp("seed") / "ground.env"
    out.write_text("export EXISTING=1\n")
    subprocess.run([sys.executable, "-m", "xapi_emulator.seed", "--endpoint", fresh, "--out", str(out)],
                   cwd=EMU_DIR, check=True, capture_output=True, timeout=60,
                   env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    return _read_env(out)


def test_seed(fresh, seeded):
    env = seeded
    assert env["EXISTING"] == "1"  # appended, not overwritten
    assert env["XAPI_REGION"] == "us-east-1"
    assert (env["XAPI_CONSUMER_ACCOUNT"], env["XAPI_PROVIDER_ACCOUNT"]) == ("111111111111", "222222222222")
    assert env["XAPI_CONSUMER_ROLE_ARN"] == "arn:aws:iam::111111111111:role/xapi-consumer"
    assert env["XAPI_PROVIDER_ROLE_ARN"] == "arn:aws:iam::222222222222:role/xapi-provider"
    assert env["XAPI_CONSUMER_EXTERNAL_ID"] == "xapi-consumer-ext-7f3a"
    assert env["XAPI_PROVIDER_EXTERNAL_ID"] == "xapi-provider-ext-2c9d"
    ext = {side: env[f"XAPI_{side}_EXTERNAL_ID"] for side in ("CONSUMER", "PROVIDER")}

    for side, cidr, subnet_cidrs in (("CONSUMER", "10.1.0.0/16", ["10.1.1.0/24", "10.1.2.0/24"]),
                                     ("PROVIDER", "10.2.0.0/16", ["10.2.1.0/24", "10.2.2.0/24"])):
        ec2 = _client(fresh, env[f"XAPI_{side}_ROLE_ARN"], "ec2", ext[side])
        vpc = ec2.describe_vpcs(VpcIds=[env[f"XAPI_{side}_VPC_ID"]])["Vpcs"][0]
        assert vpc["CidrBlock"] == cidr
        subnets = ec2.describe_subnets(SubnetIds=env[f"XAPI_{side}_SUBNET_IDS"].split(","))["Subnets"]
        assert sorted((s["CidrBlock"], s["AvailabilityZone"]) for s in subnets) == list(
            zip(subnet_cidrs, ["us-east-1a", "us-east-1b"]))
        assert all(s["VpcId"] == vpc["VpcId"] for s in subnets)

    # rule 22: peered and routed both ways over the peering connection
    cec2 = _client(fresh, env["XAPI_CONSUMER_ROLE_ARN"], "ec2", ext["CONSUMER"])
    pec2 = _client(fresh, env["XAPI_PROVIDER_ROLE_ARN"], "ec2", ext["PROVIDER"])
    pcx = pec2.describe_vpc_peering_connections(
        VpcPeeringConnectionIds=[env["XAPI_PEERING_ID"]])["VpcPeeringConnections"][0]
    assert pcx["Status"]["Code"] == "active"
    assert (pcx["RequesterVpcInfo"]["VpcId"], pcx["RequesterVpcInfo"]["OwnerId"]) == (
        env["XAPI_CONSUMER_VPC_ID"], "111111111111")
    assert (pcx["AccepterVpcInfo"]["VpcId"], pcx["AccepterVpcInfo"]["OwnerId"]) == (
        env["XAPI_PROVIDER_VPC_ID"], "222222222222")
    for ec2, side, cidr in ((cec2, "CONSUMER", "10.2.0.0/16"), (pec2, "PROVIDER", "10.1.0.0/16")):
        table = ec2.describe_route_tables(RouteTableIds=[env[f"XAPI_{side}_ROUTE_TABLE_ID"]])["RouteTables"][0]
        assert table["VpcId"] == env[f"XAPI_{side}_VPC_ID"]
        assert any(a.get("Main") for a in table["Associations"])
        assert {"DestinationCidrBlock": cidr, "VpcPeeringConnectionId": env["XAPI_PEERING_ID"]}.items() <= next(
            r for r in table["Routes"] if r.get("DestinationCidrBlock") == cidr).items()

    apigw = _client(fresh, env["XAPI_PROVIDER_ROLE_ARN"], "apigateway", ext["PROVIDER"])
    api = apigw.get_rest_api(restApiId=env["XAPI_SEEDED_PRIVATE_API_ID"])
    assert api["name"] == "orders-private"
    assert api["endpointConfiguration"]["types"] == ["PRIVATE"]
    policy = json.loads(api["policy"].replace('\\"', '"').replace("\\/", "/"))
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"][0]
    assert deny["Condition"]["StringNotEquals"]["aws:SourceVpce"] == ["vpce-0123456789abcdef0"]
    orders = [r for r in apigw.get_resources(restApiId=api["id"])["items"] if r.get("path") == "/orders"][0]
    assert apigw.get_integration(restApiId=api["id"], resourceId=orders["id"], httpMethod="GET")["type"] == "MOCK"
    assert apigw.get_stage(restApiId=api["id"], stageName="prod")["deploymentId"]
    # the consumer account does not see the provider's API
    assert _client(fresh, env["XAPI_CONSUMER_ROLE_ARN"], "apigateway", ext["CONSUMER"]).get_rest_apis()["items"] == []


def test_seeded_roles_need_their_external_id(fresh, seeded):
    """Rule 12: the seeded roles trust the default caller only with their own
    external id, with or without session tags; each role refuses the other
    role's id. (Plain moto: any AssumeRole succeeds.)"""
    with urllib.request.urlopen(fresh + "/_xapi/sts/sessions", timeout=10) as resp:
        seeded = json.loads(resp.read())
    assert {(s["role_arn"], s["external_id"], s["outcome"]) for s in seeded} >= {
        ("arn:aws:iam::111111111111:role/xapi-consumer", "xapi-consumer-ext-7f3a", "ok"),
        ("arn:aws:iam::222222222222:role/xapi-provider", "xapi-provider-ext-2c9d", "ok")}
    sts = _sts(fresh)
    for role, good, other in (
            ("arn:aws:iam::111111111111:role/xapi-consumer", "xapi-consumer-ext-7f3a", "xapi-provider-ext-2c9d"),
            ("arn:aws:iam::222222222222:role/xapi-provider", "xapi-provider-ext-2c9d", "xapi-consumer-ext-7f3a")):
        for kwargs in ({}, {"ExternalId": other}, {"ExternalId": "xapi-demo"}):
            with pytest.raises(ClientError) as err:
                sts.assume_role(RoleArn=role, RoleSessionName="check", **kwargs)
            assert err.value.response["Error"]["Code"] == "AccessDenied"
        sts.assume_role(RoleArn=role, RoleSessionName="check", ExternalId=good,
                        Tags=[{"Key": "owner", "Value": "operator"}], TransitiveTagKeys=["owner"])


def test_seeded_roles_enforce_the_shipped_policies(fresh, seeded):
    """Rule 25: the seeded roles carry docs/iam/*-role-policy.json, enforced for sessions other
    than the seed's and the tests' own (an operator-named session here)."""
    env = seeded
    for side, allowed, refused in (("PROVIDER", "describe_vpc_endpoints", "describe_vpcs"),
                                   ("CONSUMER", "describe_subnets", "describe_vpc_endpoints")):
        c = _sts(fresh).assume_role(RoleArn=env[f"XAPI_{side}_ROLE_ARN"], RoleSessionName="xapi-ns-obj",
                                    ExternalId=env[f"XAPI_{side}_EXTERNAL_ID"])["Credentials"]
        ec2 = boto3.client("ec2", endpoint_url=fresh, region_name=REGION, aws_access_key_id=c["AccessKeyId"],
                           aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
        getattr(ec2, allowed)()
        with pytest.raises(ClientError) as e:
            getattr(ec2, refused)()
        assert e.value.response["Error"]["Code"] == "UnauthorizedOperation"


def test_subnet_prefix():
    # The default subnets, and the bench's larger ones: the VPC's second and third of that size.
    from xapi_emulator.seed import subnet_cidrs
    assert subnet_cidrs("10.1.0.0/16", 24) == ["10.1.1.0/24", "10.1.2.0/24"]
    assert subnet_cidrs("10.2.0.0/16", 20) == ["10.2.16.0/20", "10.2.32.0/20"]
