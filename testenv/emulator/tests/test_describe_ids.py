"""Rule 18: a Describe* call naming ids fails as a whole when one of them does
not exist, with the service's NotFound error naming that id (EC2 API
reference, "Error codes for the Amazon EC2 API": InvalidGroup.NotFound,
InvalidNetworkInterfaceID.NotFound, InvalidVpcEndpointId.NotFound)."""

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc

ACCOUNT = "353535353535"
SERVICE = "com.amazonaws.us-east-1.execute-api"


def _error(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


@pytest.fixture
def ec2(emu):
    return emu.client("ec2", ACCOUNT)


def test_network_interfaces_with_one_removed_id(ec2):
    """Plain moto already does exactly this (the test documents the rule the
    operator relies on after ModifyVpcEndpoint RemoveSubnetIds)."""
    vpc, subnets = make_vpc(ec2, "10.35.0.0/16", [("10.35.1.0/24", "us-east-1a"), ("10.35.2.0/24", "us-east-1b")])
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets)["VpcEndpoint"]
    enis = ep["NetworkInterfaceIds"]
    removed = next(e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces(NetworkInterfaceIds=enis)[
        "NetworkInterfaces"] if e["SubnetId"] == subnets[1])
    ec2.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], RemoveSubnetIds=subnets[1:])
    assert _error(lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=enis)) == (
        "InvalidNetworkInterfaceID.NotFound", f"The networkInterface ID '{removed}' does not exist")


def test_security_groups_with_one_unknown_id(ec2):
    """Plain moto answers InvalidGroup.NotFound too, but its message names a
    Python set of every requested id ("The security group '{'sg-…', 'sg-…'}'
    does not exist"); AWS names the missing group."""
    vpc = ec2.create_vpc(CidrBlock="10.35.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="known", Description="k", VpcId=vpc)["GroupId"]
    missing = "sg-0123456789abcdef0"
    assert _error(lambda: ec2.describe_security_groups(GroupIds=[sg, missing])) == (
        "InvalidGroup.NotFound", f"The security group '{missing}' does not exist")
    assert _error(lambda: ec2.describe_security_groups(GroupNames=["known", "unknown"])) == (
        "InvalidGroup.NotFound", "The security group 'unknown' does not exist")


def test_vpc_endpoints_with_one_unknown_id(ec2):
    """Plain moto already does this; documented and kept by the emulator's own
    DescribeVpcEndpoints (which hides deleted and new endpoints)."""
    vpc, subnets = make_vpc(ec2, "10.35.0.0/16", [("10.35.1.0/24", "us-east-1a")])
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets)["VpcEndpoint"]["VpcEndpointId"]
    missing = "vpce-0123456789abcdef0"
    assert _error(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep, missing])) == (
        "InvalidVpcEndpointId.NotFound", f"The VpcEndPoint ID '{missing}' does not exist")
