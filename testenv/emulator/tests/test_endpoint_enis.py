"""Rule 4: one ENI per subnet with an IP inside it; ModifyVpcEndpoint adds and
removes ENIs; groups follow; tag filters and TagSpecifications work."""

import ipaddress

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc

ACCOUNT = "444444444444"
SERVICE = "com.amazonaws.us-east-1.execute-api"


@pytest.fixture
def net(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.4.0.0/16", [("10.4.1.0/24", "us-east-1a"), ("10.4.2.0/24", "us-east-1b"),
                                                ("10.4.3.0/24", "us-east-1c"), ("10.4.4.0/24", "us-east-1a")])
    return ec2, vpc, subnets


def _enis(ec2, endpoint_id):
    ep = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"][0]
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    return ep, {e["SubnetId"]: e for e in enis}


def _cidr(ec2, subnet_id):
    return ipaddress.ip_network(ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["CidrBlock"])


def test_one_eni_per_subnet_inside_its_cidr(net):
    ec2, vpc, subnets = net
    sg = ec2.create_security_group(GroupName="ep", Description="ep", VpcId=vpc)["GroupId"]
    ep_id = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                    SubnetIds=subnets[:2], SecurityGroupIds=[sg])["VpcEndpoint"]["VpcEndpointId"]
    ep, enis = _enis(ec2, ep_id)
    assert set(enis) == set(subnets[:2]) and len(ep["NetworkInterfaceIds"]) == 2
    for subnet_id, eni in enis.items():
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in _cidr(ec2, subnet_id)
        assert [g["GroupId"] for g in eni["Groups"]] == [sg]
        assert eni["InterfaceType"] == "vpc_endpoint" and eni["RequesterManaged"] is True


def test_modify_adds_and_removes_enis_and_groups(net):
    ec2, vpc, subnets = net
    sg1 = ec2.create_security_group(GroupName="m1", Description="m", VpcId=vpc)["GroupId"]
    sg2 = ec2.create_security_group(GroupName="m2", Description="m", VpcId=vpc)["GroupId"]
    ep_id = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                    SubnetIds=subnets[:2], SecurityGroupIds=[sg1])["VpcEndpoint"]["VpcEndpointId"]
    _ep, before = _enis(ec2, ep_id)
    kept_ip = before[subnets[0]]["PrivateIpAddress"]
    ec2.modify_vpc_endpoint(VpcEndpointId=ep_id, AddSubnetIds=[subnets[2]], RemoveSubnetIds=[subnets[1]],
                            AddSecurityGroupIds=[sg2], RemoveSecurityGroupIds=[sg1])
    ep, after = _enis(ec2, ep_id)
    assert sorted(ep["SubnetIds"]) == sorted([subnets[0], subnets[2]])
    assert set(after) == {subnets[0], subnets[2]}
    assert after[subnets[0]]["PrivateIpAddress"] == kept_ip
    assert ipaddress.ip_address(after[subnets[2]]["PrivateIpAddress"]) in _cidr(ec2, subnets[2])
    assert [g["GroupId"] for g in ep["Groups"]] == [sg2]
    assert all([g["GroupId"] for g in e["Groups"]] == [sg2] for e in after.values())
    # the removed subnet's ENI is gone
    with pytest.raises(ClientError) as err:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[before[subnets[1]]["NetworkInterfaceId"]])
    assert err.value.response["Error"]["Code"] == "InvalidNetworkInterfaceID.NotFound"


def test_one_subnet_per_zone(net):
    ec2, vpc, subnets = net
    with pytest.raises(ClientError) as err:
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                SubnetIds=[subnets[0], subnets[3]])
    assert err.value.response["Error"]["Code"] == "DuplicateSubnetsInSameZone"


def test_default_security_group_when_none_given(net):
    ec2, vpc, subnets = net
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets[:1])["VpcEndpoint"]
    assert [g["GroupId"] for g in ep["Groups"]] == [default["SecurityGroups"][0]["GroupId"]]


def test_tag_specifications_and_tag_filters(net):
    ec2, vpc, subnets = net
    tags = [{"Key": "apigw.crossaccount.io/uid", "Value": "uid-123"},
            {"Key": "apigw.crossaccount.io/owner", "Value": "ns/name"}]
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets[:1],
                                 TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}])["VpcEndpoint"]
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface", SubnetIds=subnets[1:2],
                            TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                "Tags": [{"Key": "apigw.crossaccount.io/uid", "Value": "other"}]}])
    assert sorted(ep["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    found = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "tag:apigw.crossaccount.io/uid", "Values": ["uid-123"]}])["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in found] == [ep["VpcEndpointId"]]
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "tag-key", "Values": ["apigw.crossaccount.io/owner"]}])
    assert [e["VpcEndpointId"] for e in found["VpcEndpoints"]] == [ep["VpcEndpointId"]]
