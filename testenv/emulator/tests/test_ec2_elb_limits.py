"""Rule 19: documented limits of EC2 and ELB: IP targets outside the VPC only
from private ranges, tag keys <= 128 and values <= 256 characters, security
group descriptions <= 255 characters."""

import pytest
from botocore.exceptions import ClientError

from conftest import make_nlb, make_vpc

ACCOUNT = "363636363636"


def _code(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"]


@pytest.fixture
def net(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.36.0.0/16", [("10.36.1.0/24", "us-east-1a"), ("10.36.2.0/24", "us-east-1b")])
    return ec2, emu.client("elbv2", ACCOUNT), vpc, subnets


def test_ip_targets_outside_the_vpc_must_be_private(net):
    """"Target groups for your Network Load Balancers", IP addresses: subnets of
    the VPC, RFC 1918 ranges or 100.64.0.0/10. Plain moto registers any address."""
    _ec2, elbv2, vpc, _subnets = net
    tg = elbv2.create_target_group(Name="lim-ip", Protocol="TCP", Port=443, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    for ip in ("10.200.0.5", "172.31.255.254", "192.168.7.7", "100.64.0.1", "100.127.255.254"):
        elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 443, "AvailabilityZone": "all"}])
    for ip in ("8.8.8.8", "100.128.0.1", "172.32.0.1", "192.0.2.10", "11.0.0.1"):
        with pytest.raises(ClientError) as err:
            elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 443, "AvailabilityZone": "all"}])
        assert err.value.response["Error"]["Code"] == "ValidationError", ip
        assert ip in err.value.response["Error"]["Message"]
    registered = {h["Target"]["Id"] for h in elbv2.describe_target_health(TargetGroupArn=tg)[
        "TargetHealthDescriptions"]}
    assert "8.8.8.8" not in registered and "100.64.0.1" in registered


def test_ec2_tag_lengths(net):
    """"Tag restrictions": key up to 128, value up to 256 Unicode characters,
    refused with InvalidParameterValue. Plain moto stores any length."""
    ec2, _elbv2, vpc, _subnets = net
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k" * 128, "Value": "é" * 256}])
    assert _code(lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v" * 257}])) == \
        "InvalidParameterValue"
    assert _code(lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k" * 129, "Value": "v"}])) == \
        "InvalidParameterValue"
    spec = [{"ResourceType": "security-group", "Tags": [{"Key": "k", "Value": "v" * 257}]}]
    assert _code(lambda: ec2.create_security_group(GroupName="lim-tags", Description="d", VpcId=vpc,
                                                   TagSpecifications=spec)) == "InvalidParameterValue"
    # refused before anything was created
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["lim-tags"]}])
    assert groups["SecurityGroups"] == []


def test_elb_tag_lengths(net):
    """ELB answers ValidationError for every call that takes Tags. Plain moto
    stores any length."""
    _ec2, elbv2, vpc, subnets = net
    long_value = [{"Key": "k", "Value": "v" * 257}]
    long_key = [{"Key": "k" * 129, "Value": "v"}]
    for tags in (long_value, long_key):
        assert _code(lambda: elbv2.create_target_group(Name="lim-tg", Protocol="TCP", Port=443, VpcId=vpc,
                                                       TargetType="ip", Tags=tags)) == "ValidationError"
        assert _code(lambda: elbv2.create_load_balancer(Name="lim-nlb", Subnets=subnets, Scheme="internal",
                                                        Type="network", Tags=tags)) == "ValidationError"
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    tg = elbv2.create_target_group(Name="lim-tg", Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip",
                                   Tags=[{"Key": "k" * 128, "Value": "v" * 256}])["TargetGroups"][0]["TargetGroupArn"]
    assert _code(lambda: elbv2.add_tags(ResourceArns=[tg], Tags=long_value)) == "ValidationError"
    nlb = make_nlb(elbv2, "lim-nlb", subnets)
    assert _code(lambda: elbv2.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=443, Tags=long_value,
                                               DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])) == \
        "ValidationError"
    assert elbv2.describe_listeners(LoadBalancerArn=nlb)["Listeners"] == []


def test_security_group_description_length(net):
    """CreateSecurityGroup API reference: "Constraints: Up to 255 characters in
    length". Plain moto accepts any length."""
    ec2, _elbv2, vpc, _subnets = net
    ec2.create_security_group(GroupName="lim-255", Description="d" * 255, VpcId=vpc)
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="lim-256", Description="d" * 256, VpcId=vpc)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "less than 256 characters" in err.value.response["Error"]["Message"]
