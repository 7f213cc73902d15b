"""Seed the two demo accounts and write their ids as shell exports.

    python -m xapi_emulator.seed --endpoint http://127.0.0.1:5000 --out ground.env

Expects a *fresh* emulator (just started, or after POST /_xapi/reset): it
creates, it does not look for earlier copies, so a second run against the same
emulator makes a second set of VPCs. Lines are appended to --out
(``export KEY=value``), so the file can collect other settings too; when a
key repeats, the last line wins when the file is sourced.

Each account gets its role first (POST /_xapi/iam/roles): xapi-consumer in
111111111111, xapi-provider in 222222222222, trusting the seed's own caller
account (the default access key's) for sts:AssumeRole and sts:TagSession only
with the account's external id; the seed then assumes them with that id.

consumer 111111111111: VPC 10.1.0.0/16, subnets 10.1.1.0/24 (a), 10.1.2.0/24 (b)
provider 222222222222: VPC 10.2.0.0/16, subnets 10.2.1.0/24 (a), 10.2.2.0/24 (b),
    (``--subnet-prefix 20``: the second and third /20 of each VPC instead, 10.1.16.0/20 and
    10.1.32.0/20, room for about 4000 addresses each rather than 250)
    private REST API ``orders-private`` (GET /orders, MOCK 200), a resource
    policy pinned to the foreign endpoint vpce-0123456789abcdef0, stage prod.
consumer, too: the Lambda function ``edge-authorizer`` (the authorizer example's;
    stored, never run) and its execution role ``edge-authorizer``.

The two VPCs are connected the way the operator's prerequisite asks: a VPC
peering connection requested by the consumer, accepted by the provider, and a
route to the other VPC over it in each VPC's main route table.

Last, each role gets the repository's shipped permissions policy as an inline
policy (docs/iam/provider-role-policy.json, consumer-role-policy.json; the
placeholders PROVIDER_ACCOUNT / CONSUMER_ACCOUNT / OPERATOR_ACCOUNT substituted)
and the emulator enforces it (iam_enforce.py) for every session except the
seed's own (``xapi-seed``) and the integration tests' set-up and inspection
session (``xapi-tests``, tests/support/mod.rs): the operator's calls meet the
shipped policies. The operator's own identity (the default access key, moto's
default account) is no IAM role, so operator-role-policy.json is not attached.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import itertools
import json
import os
import shlex
import urllib.request
import zipfile

import boto3
from botocore.config import Config

REGION = "us-east-1"
CONSUMER_ACCOUNT = "111111111111"
PROVIDER_ACCOUNT = "222222222222"
CONSUMER_ROLE = f"arn:aws:iam::{CONSUMER_ACCOUNT}:role/xapi-consumer"
PROVIDER_ROLE = f"arn:aws:iam::{PROVIDER_ACCOUNT}:role/xapi-provider"
CONSUMER_EXTERNAL_ID = "xapi-consumer-ext-7f3a"
PROVIDER_EXTERNAL_ID = "xapi-provider-ext-2c9d"
FOREIGN_VPCE = "vpce-0123456789abcdef0"
AUTHORIZER_FUNCTION = "edge-authorizer"
POLICY_DIR = os.environ.get("XAPI_IAM_POLICY_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "iam")
# RoleSessionNames that act unchecked: harness set-up and inspection, not the operator.
UNENFORCED_SESSIONS = ["xapi-seed", "xapi-tests"]

# Retries absorb the emulator's API Gateway quotas (429) if they are on.
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 10})


def _sts(endpoint: str):
    return boto3.client(
        "sts", endpoint_url=endpoint, region_name=REGION, config=_CONFIG,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def trust_policy(caller_account: str, external_id: str) -> dict:
    """Any principal of the caller's account, only with the external id."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{caller_account}:root"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        }],
    }


def _create_role(endpoint: str, role_arn: str, policy: dict) -> None:
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    body = json.dumps({"account": account, "name": name, "trust_policy": policy}).encode()
    req = urllib.request.Request(endpoint + "/_xapi/iam/roles", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def _session(endpoint: str, role_arn: str, external_id: str) -> boto3.Session:
    creds = _sts(endpoint).assume_role(RoleArn=role_arn, RoleSessionName="xapi-seed",
                                       ExternalId=external_id)["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=REGION)


def _network(ec2, name: str, cidr: str, subnets: list[tuple[str, str]]) -> tuple[str, list[str]]:
    tag = lambda kind, n: [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": n}]}]  # noqa: E731
    vpc_id = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=tag("vpc", name))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=c, AvailabilityZone=az,
                          TagSpecifications=tag("subnet", f"{name}-{az}"))["Subnet"]["SubnetId"]
        for c, az in subnets
    ]
    return vpc_id, subnet_ids


def _main_route_table(ec2, vpc_id: str) -> str:
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                {"Name": "association.main", "Values": ["true"]}])
    return tables["RouteTables"][0]["RouteTableId"]


def _peer(consumer_ec2, provider_ec2, cvpc: str, pvpc: str) -> tuple[str, str, str]:
    """Consumer requests, provider accepts; each main table routes the other VPC over it."""
    tag = [{"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "xapi-consumer-provider"}]}]
    pcx = consumer_ec2.create_vpc_peering_connection(
        VpcId=cvpc, PeerVpcId=pvpc, PeerOwnerId=PROVIDER_ACCOUNT, PeerRegion=REGION, TagSpecifications=tag,
    )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    provider_ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    tables = []
    for ec2, vpc_id, other in ((consumer_ec2, cvpc, "10.2.0.0/16"), (provider_ec2, pvpc, "10.1.0.0/16")):
        table = _main_route_table(ec2, vpc_id)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock=other, VpcPeeringConnectionId=pcx)
        tables.append(table)
    return pcx, tables[0], tables[1]


def private_api_policy() -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
             "Condition": {"StringNotEquals": {"aws:SourceVpce": [FOREIGN_VPCE]}}},
        ],
    })


def _private_api(apigw) -> str:
    api_id = apigw.create_rest_api(
        name="orders-private", description="seeded private API",
        endpointConfiguration={"types": ["PRIVATE"], "vpcEndpointIds": [FOREIGN_VPCE]},
        policy=private_api_policy(),
    )["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    orders = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    apigw.put_method(restApiId=api_id, resourceId=orders, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=orders, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=orders, httpMethod="GET", statusCode="200")
    apigw.put_integration_response(restApiId=api_id, resourceId=orders, httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"orders": []}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod", description="seed")
    return api_id


def _authorizer_function(session: boto3.Session, endpoint: str) -> str:
    """A function for the example's authorizer to name; the emulator never runs it."""
    iam = session.client("iam", endpoint_url=endpoint, config=_CONFIG)
    role = iam.create_role(RoleName=AUTHORIZER_FUNCTION, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return {}\n")
    lam = session.client("lambda", endpoint_url=endpoint, config=_CONFIG)
    return lam.create_function(FunctionName=AUTHORIZER_FUNCTION, Runtime="python3.12", Role=role,
                               Handler="index.handler", Code={"ZipFile": code.getvalue()})["FunctionArn"]


def shipped_policy(name: str, caller_account: str) -> str:
    with open(os.path.join(POLICY_DIR, name), encoding="utf-8") as f:
        text = f.read()
    for key, value in (("PROVIDER_ACCOUNT", PROVIDER_ACCOUNT), ("CONSUMER_ACCOUNT", CONSUMER_ACCOUNT),
                       ("OPERATOR_ACCOUNT", caller_account)):
        text = text.replace(key, value)
    json.loads(text)
    return text


def _control(endpoint: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def enforce_shipped_policy(endpoint: str, session: boto3.Session, role_arn: str, policy_file: str,
                           caller_account: str) -> None:
    """Attach the shipped policy (IAM PutRolePolicy) and have the emulator enforce it."""
    iam = session.client("iam", endpoint_url=endpoint, config=_CONFIG)
    iam.put_role_policy(RoleName=role_arn.rsplit("/", 1)[1], PolicyName=policy_file.removesuffix(".json"),
                        PolicyDocument=shipped_policy(policy_file, caller_account))
    _control(endpoint, "/_xapi/iam/enforce",
             {"role_arn": role_arn, "enforce": True, "unenforced_sessions": UNENFORCED_SESSIONS})


def subnet_cidrs(vpc_cidr: str, prefix: int) -> list[str]:
    """The second and third subnets of `prefix` bits in the VPC (for /24: x.x.1.0 and x.x.2.0)."""
    return [str(s) for s in itertools.islice(ipaddress.ip_network(vpc_cidr).subnets(new_prefix=prefix), 1, 3)]


def seed(endpoint: str, subnet_prefix: int = 24) -> dict[str, str]:
    caller_account = _sts(endpoint).get_caller_identity()["Account"]
    _create_role(endpoint, CONSUMER_ROLE, trust_policy(caller_account, CONSUMER_EXTERNAL_ID))
    _create_role(endpoint, PROVIDER_ROLE, trust_policy(caller_account, PROVIDER_EXTERNAL_ID))
    consumer = _session(endpoint, CONSUMER_ROLE, CONSUMER_EXTERNAL_ID)
    provider = _session(endpoint, PROVIDER_ROLE, PROVIDER_EXTERNAL_ID)
    cec2 = consumer.client("ec2", endpoint_url=endpoint, config=_CONFIG)
    pec2 = provider.client("ec2", endpoint_url=endpoint, config=_CONFIG)
    zones = ["us-east-1a", "us-east-1b"]
    cvpc, csubnets = _network(cec2, "xapi-consumer", "10.1.0.0/16",
                              list(zip(subnet_cidrs("10.1.0.0/16", subnet_prefix), zones)))
    pvpc, psubnets = _network(pec2, "xapi-provider", "10.2.0.0/16",
                              list(zip(subnet_cidrs("10.2.0.0/16", subnet_prefix), zones)))
    pcx, ctable, ptable = _peer(cec2, pec2, cvpc, pvpc)
    api_id = _private_api(provider.client("apigateway", endpoint_url=endpoint, config=_CONFIG))
    authorizer = _authorizer_function(consumer, endpoint)
    enforce_shipped_policy(endpoint, consumer, CONSUMER_ROLE, "consumer-role-policy.json", caller_account)
    enforce_shipped_policy(endpoint, provider, PROVIDER_ROLE, "provider-role-policy.json", caller_account)
    return {
        "XAPI_REGION": REGION,
        "XAPI_CONSUMER_ACCOUNT": CONSUMER_ACCOUNT,
        "XAPI_PROVIDER_ACCOUNT": PROVIDER_ACCOUNT,
        "XAPI_CONSUMER_ROLE_ARN": CONSUMER_ROLE,
        "XAPI_PROVIDER_ROLE_ARN": PROVIDER_ROLE,
        "XAPI_CONSUMER_EXTERNAL_ID": CONSUMER_EXTERNAL_ID,
        "XAPI_PROVIDER_EXTERNAL_ID": PROVIDER_EXTERNAL_ID,
        "XAPI_CONSUMER_VPC_ID": cvpc,
        "XAPI_CONSUMER_SUBNET_IDS": ",".join(csubnets),
        "XAPI_PROVIDER_VPC_ID": pvpc,
        "XAPI_PROVIDER_SUBNET_IDS": ",".join(psubnets),
        "XAPI_SEEDED_PRIVATE_API_ID": api_id,
        "XAPI_AUTHORIZER_FUNCTION_ARN": authorizer,
        "XAPI_PEERING_ID": pcx,
        "XAPI_CONSUMER_ROUTE_TABLE_ID": ctable,
        "XAPI_PROVIDER_ROUTE_TABLE_ID": ptable,
    }


def write_exports(values: dict[str, str], path: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write("# xapi emulator seed\n")
        for key, value in values.items():
            out.write(f"export {key}={shlex.quote(value)}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="xapi_emulator.seed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--out", required=True, help="file to append 'export KEY=value' lines to")
    parser.add_argument("--subnet-prefix", type=int, default=24, choices=range(18, 29), metavar="18..28",
                        help="prefix length of the seeded subnets (default 24)")
    args = parser.parse_args(argv)
    values = seed(args.endpoint.rstrip("/"), args.subnet_prefix)
    write_exports(values, args.out)
    for key, value in values.items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
