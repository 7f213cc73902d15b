"""Rule 15: EC2 eventual consistency. A new security group, VPC endpoint or
network interface is invisible to other calls for ``ec2_consistency``
seconds (AWS: "Eventual consistency in the Amazon EC2 API")."""

import sys
import time

import pytest
from botocore.exceptions import ClientError

from conftest import EMU_DIR, TIME_SCALE, make_vpc, wait_for

ACCOUNT = "313131313131"
SERVICE = "com.amazonaws.us-east-1.execute-api"
WINDOW = 50  # seconds at time scale 1: 2.5 s here, long enough for the checks below
PERMISSION = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]


def _error(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _group_ids(ec2, vpc):
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    return {g["GroupId"] for g in groups}


def _endpoint_ids(ec2, vpc):
    eps = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    return {e["VpcEndpointId"] for e in eps}


def _eni_ids(ec2, vpc):
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
    return {e["NetworkInterfaceId"] for e in enis}


@pytest.fixture
def net(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.31.0.0/16", [("10.31.1.0/24", "us-east-1a"), ("10.31.2.0/24", "us-east-1b")])
    emu.config(waits={"ec2_consistency": WINDOW})
    return ec2, vpc, subnets


def test_new_security_group_is_not_found_by_other_calls(net):
    """Plain moto: the group is visible and usable at once, every call below succeeds."""
    ec2, vpc, _subnets = net
    start = time.monotonic()
    sg = ec2.create_security_group(GroupName="fresh", Description="fresh", VpcId=vpc)["GroupId"]
    missing = ("InvalidGroup.NotFound", f"The security group '{sg}' does not exist")
    assert _error(lambda: ec2.describe_security_groups(GroupIds=[sg])) == missing
    assert sg not in _group_ids(ec2, vpc)
    assert _error(lambda: ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=PERMISSION)) == missing
    assert _error(lambda: ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=PERMISSION)) == missing
    assert _error(lambda: ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                                  SecurityGroupIds=[sg])) == missing
    assert _error(lambda: ec2.delete_security_group(GroupId=sg)) == missing
    assert time.monotonic() - start < WINDOW * TIME_SCALE, "machine too slow for this window"

    wait_for(lambda: sg in _group_ids(ec2, vpc), timeout=15)
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=PERMISSION)
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]


def test_new_endpoint_and_its_enis_are_not_found_by_other_calls(net):
    """Plain moto: the endpoint and its ENIs are visible at once; Describe by id
    succeeds, filters list them, Modify/Delete act on the endpoint."""
    ec2, vpc, subnets = net
    start = time.monotonic()
    created = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                      SubnetIds=subnets[:1])["VpcEndpoint"]
    ep = created["VpcEndpointId"]  # the creating call's own answer carries it
    assert len(created["NetworkInterfaceIds"]) == 1 and created["Groups"]
    eni = created["NetworkInterfaceIds"][0]
    assert _error(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep])) == (
        "InvalidVpcEndpointId.NotFound", f"The VpcEndPoint ID '{ep}' does not exist")
    assert ep not in _endpoint_ids(ec2, vpc)
    assert _error(lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])) == (
        "InvalidNetworkInterfaceID.NotFound", f"The networkInterface ID '{eni}' does not exist")
    assert eni not in _eni_ids(ec2, vpc)
    assert _error(lambda: ec2.modify_vpc_endpoint(VpcEndpointId=ep, AddSubnetIds=subnets[1:]))[0] == \
        "InvalidVpcEndpointId.NotFound"
    unsuccessful = ec2.delete_vpc_endpoints(VpcEndpointIds=[ep])["Unsuccessful"]
    assert [u["ResourceId"] for u in unsuccessful] == [ep]
    assert time.monotonic() - start < WINDOW * TIME_SCALE, "machine too slow for this window"

    wait_for(lambda: ep in _endpoint_ids(ec2, vpc) and eni in _eni_ids(ec2, vpc), timeout=15)
    # an ENI added later by ModifyVpcEndpoint is new, so invisible again; so is a new group
    sg = ec2.create_security_group(GroupName="later", Description="later", VpcId=vpc)["GroupId"]
    assert _error(lambda: ec2.modify_vpc_endpoint(VpcEndpointId=ep, AddSecurityGroupIds=[sg]))[0] == \
        "InvalidGroup.NotFound"
    ec2.modify_vpc_endpoint(VpcEndpointId=ep, AddSubnetIds=subnets[1:])
    eni_ids = ec2.describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["NetworkInterfaceIds"]
    added = next(i for i in eni_ids if i != eni)
    assert _error(lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=[eni, added])) == (
        "InvalidNetworkInterfaceID.NotFound", f"The networkInterface ID '{added}' does not exist")
    assert _eni_ids(ec2, vpc) == {eni}
    wait_for(lambda: _eni_ids(ec2, vpc) == {eni, added}, timeout=15)
    assert len(ec2.describe_network_interfaces(NetworkInterfaceIds=[eni, added])["NetworkInterfaces"]) == 2


def test_wait_setting(emu):
    """The wait is a normal setting: default 2 s at time scale 1, set here by
    XAPI_EMU_WAIT_EC2_CONSISTENCY=0 (conftest), 0 makes everything visible at once.
    Plain moto has no such setting."""
    sys.path.insert(0, str(EMU_DIR))
    try:
        from xapi_emulator.settings import DEFAULT_WAITS
    finally:
        sys.path.remove(str(EMU_DIR))
    assert DEFAULT_WAITS["ec2_consistency"] == 2.0
    assert emu.config()["waits"]["ec2_consistency"] == 0
    ec2 = emu.client("ec2", ACCOUNT)
    vpc = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    emu.config(waits={"ec2_consistency": 10_000})
    sg = ec2.create_security_group(GroupName="zero", Description="zero", VpcId=vpc)["GroupId"]
    assert sg not in _group_ids(ec2, vpc)
    emu.config(waits={"ec2_consistency": 0})
    assert sg in _group_ids(ec2, vpc)
