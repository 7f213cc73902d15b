"""Rule 17: CreateVpcEndpoint with a ClientToken is idempotent the way "Ensuring
idempotency in Amazon EC2 API requests" describes: a retry with the same token
and parameters returns the first endpoint with its current state and creates
nothing (even after the endpoint was deleted); the same token with any other
parameter is IdempotentParameterMismatch."""

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc, wait_for

ACCOUNT = "343434343434"
SERVICE = "com.amazonaws.us-east-1.execute-api"


@pytest.fixture
def net(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.34.0.0/16", [("10.34.1.0/24", "us-east-1a"), ("10.34.2.0/24", "us-east-1b")])
    sg = ec2.create_security_group(GroupName=f"tok-{vpc}", Description="tok", VpcId=vpc)["GroupId"]
    return ec2, vpc, subnets, sg


def _endpoints(ec2, vpc):
    return ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]


def test_same_token_other_parameters_is_a_mismatch(emu, net):
    """Plain moto ignores ClientToken: every call below creates another endpoint."""
    ec2, vpc, subnets, sg = net
    other_vpc = ec2.create_vpc(CidrBlock="10.35.0.0/16")["Vpc"]["VpcId"]
    other_sg = ec2.create_security_group(GroupName="tok-other", Description="o", VpcId=vpc)["GroupId"]
    params = dict(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface", SubnetIds=subnets[:1],
                  SecurityGroupIds=[sg], PrivateDnsEnabled=False, ClientToken="tok-mismatch")
    first = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"]
    # same parameters: the first endpoint
    assert ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["VpcEndpointId"] == first
    changes = [
        {"VpcId": other_vpc},
        {"ServiceName": "com.amazonaws.us-east-1.s3"},
        {"SubnetIds": subnets},
        {"SubnetIds": subnets[1:]},
        {"SecurityGroupIds": [sg, other_sg]},
        {"SecurityGroupIds": [other_sg]},
        {"PrivateDnsEnabled": True},
        {"VpcEndpointType": "Gateway"},
    ]
    for change in changes:
        with pytest.raises(ClientError) as err:
            ec2.create_vpc_endpoint(**{**params, **change})
        assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatch", change
    assert [e["VpcEndpointId"] for e in _endpoints(ec2, vpc)] == [first]


def test_token_after_modify_and_delete_returns_the_first_endpoint(emu, net):
    """The retry is compared with the first request (not the endpoint's current
    subnets) and, once the endpoint is deleted, returns it deleted instead of
    creating a new one. Plain moto creates a new endpoint for every call."""
    ec2, vpc, subnets, sg = net
    emu.config(waits={"vpc_endpoint_deleting": 2})  # 0.1 s here
    params = dict(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface", SubnetIds=subnets[:1],
                  SecurityGroupIds=[sg], ClientToken="tok-deleted")
    first = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]
    ec2.modify_vpc_endpoint(VpcEndpointId=first["VpcEndpointId"], AddSubnetIds=subnets[1:])
    again = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]
    assert again["VpcEndpointId"] == first["VpcEndpointId"]
    assert sorted(again["SubnetIds"]) == sorted(subnets)  # current information

    ec2.delete_vpc_endpoints(VpcEndpointIds=[first["VpcEndpointId"]])
    assert ec2.create_vpc_endpoint(**params)["VpcEndpoint"]["State"] in ("deleting", "deleted")
    wait_for(lambda: not _endpoints(ec2, vpc))
    ec2.delete_security_group(GroupId=sg)  # even its group may be gone
    late = ec2.create_vpc_endpoint(**params)["VpcEndpoint"]
    assert (late["VpcEndpointId"], late["State"]) == (first["VpcEndpointId"], "deleted")
    assert [g["GroupId"] for g in late["Groups"]] == [sg]
    assert _endpoints(ec2, vpc) == []  # nothing new was created
    # a new token creates a new endpoint
    fresh_sg = ec2.create_security_group(GroupName="tok-fresh", Description="f", VpcId=vpc)["GroupId"]
    fresh = ec2.create_vpc_endpoint(**{**params, "SecurityGroupIds": [fresh_sg], "ClientToken": "tok-new"})
    assert fresh["VpcEndpoint"]["VpcEndpointId"] != first["VpcEndpointId"]
