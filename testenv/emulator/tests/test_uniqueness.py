"""Rule 7: names unique per account+region with AWS's idempotency; a repeated
ClientToken returns the first endpoint (more in rule 17, test_client_token.py)."""

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc

ACCOUNT = "777777777777"
OTHER = "888888888888"


def _net(emu, account):
    ec2 = emu.client("ec2", account)
    return ec2, *make_vpc(ec2, "10.7.0.0/16", [("10.7.1.0/24", "us-east-1a"), ("10.7.2.0/24", "us-east-1b")])


def test_load_balancer_name(emu):
    _ec2, _vpc, subnets = _net(emu, ACCOUNT)
    elbv2 = emu.client("elbv2", ACCOUNT)
    params = dict(Name="uniq-nlb", Subnets=subnets, Scheme="internal", Type="network")
    first = elbv2.create_load_balancer(**params)["LoadBalancers"][0]
    assert first["LoadBalancerArn"].split(":")[-1].startswith("loadbalancer/net/uniq-nlb/")
    again = elbv2.create_load_balancer(**params)["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    assert len(elbv2.describe_load_balancers(Names=["uniq-nlb"])["LoadBalancers"]) == 1
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(**{**params, "Subnets": subnets[:1]})
    assert err.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"
    # another account may use the name
    _e, _v, other_subnets = _net(emu, OTHER)
    other = emu.client("elbv2", OTHER).create_load_balancer(**{**params, "Subnets": other_subnets})
    assert other["LoadBalancers"][0]["LoadBalancerArn"] != first["LoadBalancerArn"]


def test_target_group_name(emu):
    _ec2, vpc, _subnets = _net(emu, ACCOUNT)
    elbv2 = emu.client("elbv2", ACCOUNT)
    params = dict(Name="uniq-tg", Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip")
    first = elbv2.create_target_group(**params)["TargetGroups"][0]["TargetGroupArn"]
    assert elbv2.create_target_group(**params)["TargetGroups"][0]["TargetGroupArn"] == first
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(**{**params, "Port": 8443})
    assert err.value.response["Error"]["Code"] == "DuplicateTargetGroupName"
    assert len(elbv2.describe_target_groups(Names=["uniq-tg"])["TargetGroups"]) == 1


def test_vpc_endpoint_client_token(emu):
    ec2, vpc, subnets = _net(emu, ACCOUNT)
    params = dict(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.execute-api", VpcEndpointType="Interface",
                  SubnetIds=subnets, ClientToken="token-1")
    first = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    assert ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"] == first
    all_eps = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in all_eps] == [first]
    assert len(ec2.describe_network_interfaces(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]) == 2
    other = ec2.create_vpc_endpoint(**{**params, "ClientToken": "token-2"})["VpcEndpoint"]["VpcEndpointId"]
    assert other != first
