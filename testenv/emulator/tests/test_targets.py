"""Rule 5: IP targets and AvailabilityZone=all; draining; the zone is
returned by DescribeTargetHealth. (Reachability and timing: rule 21,
test_target_health.py.)"""

import pytest
from botocore.exceptions import ClientError

from conftest import make_nlb, make_vpc, wait_for

ACCOUNT = "555555555555"


@pytest.fixture
def tg(emu, request):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.5.0.0/16", [("10.5.1.0/24", "us-east-1a"), ("10.5.2.0/24", "us-east-1b")])
    elbv2 = emu.client("elbv2", ACCOUNT)
    name = request.node.name.replace("_", "-")[:32].strip("-")
    arn = elbv2.create_target_group(Name=name, Protocol="TCP", Port=443, VpcId=vpc, TargetType="ip",
                                    HealthCheckProtocol="TCP")["TargetGroups"][0]["TargetGroupArn"]
    return elbv2, arn, subnets


def _error(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]


def test_outside_vpc_requires_zone(tg):
    elbv2, arn, _ = tg
    err = _error(lambda: elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.2.1.5", "Port": 443}]))
    assert err["Code"] == "ValidationError"
    assert err["Message"] == "The Availability Zone is required for IP address '10.2.1.5' because it is not in the VPC"
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.2.1.5", "Port": 443, "AvailabilityZone": "all"}])


def test_inside_vpc_refuses_all(tg):
    elbv2, arn, _ = tg
    err = _error(lambda: elbv2.register_targets(
        TargetGroupArn=arn, Targets=[{"Id": "10.5.2.9", "Port": 443, "AvailabilityZone": "all"}]))
    assert err["Code"] == "ValidationError"
    assert err["Message"] == ("The IP address '10.5.2.9' is within the VPC, and cannot have its Availability Zone "
                              "overridden to 'all' from 'us-east-1b'")
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.5.2.9", "Port": 443}])


def test_vpc_is_judged_by_subnets(tg):
    """10.5.200.1 is inside the VPC's CIDR but in none of its subnets: AWS treats it as outside."""
    elbv2, arn, _ = tg
    err = _error(lambda: elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.5.200.1", "Port": 443}]))
    assert "not in the VPC" in err["Message"]


def _health(elbv2, arn):
    return {d["Target"]["Id"]: d for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}


def test_zone_returned_and_draining(emu, tg):
    emu.config(waits={"target_draining": 30, "target_initial": 0})
    elbv2, arn, subnets = tg
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.2.1.5", "Port": 443, "AvailabilityZone": "all"},
                                                        {"Id": "10.2.2.7", "Port": 443, "AvailabilityZone": "all"}])
    health = _health(elbv2, arn)
    assert health["10.2.1.5"]["Target"] == {"Id": "10.2.1.5", "Port": 443, "AvailabilityZone": "all"}
    # no listener forwards to the group yet
    assert health["10.2.1.5"]["TargetHealth"]["State"] == "unused"

    lb = make_nlb(elbv2, "targets-nlb", subnets)
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=443,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    # health checks have started (rule 21 decides what comes after initial)
    assert _health(elbv2, arn)["10.2.1.5"]["TargetHealth"]["State"] == "initial"

    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.2.1.5", "Port": 443}])
    health = _health(elbv2, arn)
    assert health["10.2.1.5"]["TargetHealth"] == {
        "State": "draining", "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress"}
    assert health["10.2.1.5"]["Target"]["AvailabilityZone"] == "all"
    wait_for(lambda: "10.2.1.5" not in _health(elbv2, arn), timeout=10)
    assert set(_health(elbv2, arn)) == {"10.2.2.7"}


def test_initial_then_healthy(emu, tg):
    emu.config(waits={"target_initial": 30})
    elbv2, arn, subnets = tg
    # A reachable target (rule 21): an ENI holds the address and lets the NLB's subnets in.
    ec2 = emu.client("ec2", ACCOUNT)
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    sg = ec2.create_security_group(GroupName="initial-target", Description="t", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.5.0.0/16"}]}])
    ec2.create_network_interface(SubnetId=subnets[0], PrivateIpAddress="10.5.1.10", Groups=[sg])
    elbv2.modify_target_group(TargetGroupArn=arn, HealthCheckIntervalSeconds=5, HealthyThresholdCount=2)
    lb = make_nlb(elbv2, "initial-nlb", subnets)
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=443,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.5.1.10", "Port": 443}])
    health = _health(elbv2, arn)["10.5.1.10"]
    assert health["TargetHealth"]["State"] == "initial"
    assert "AvailabilityZone" not in health["Target"]
    wait_for(lambda: _health(elbv2, arn)["10.5.1.10"]["TargetHealth"]["State"] == "healthy", timeout=10)
