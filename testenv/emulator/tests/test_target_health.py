"""Rule 21: NLB IP-target health follows the group's health-check settings
and whether the NLB can reach the target (ENI, peering routes both ways,
security groups). Plain moto reports every registered IP target ``healthy``
at once, whether or not anything holds the address."""

import time

import pytest

from conftest import TIME_SCALE, main_route_table, make_nlb, make_vpc, peer_vpcs, wait_for

CONSUMER, PROVIDER = "616161616161", "626262626262"
# interval 5 s, 3 passes to be healthy, 2 failures to be unhealthy (x time scale)
INTERVAL, UP, DOWN = 5, 3, 2


def _state(elbv2, tg, ip):
    for d in elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]:
        if d["Target"]["Id"] == ip:
            return d["TargetHealth"]
    raise AssertionError(f"{ip} not listed")


def _until(elbv2, tg, ip, wanted, timeout=10):
    start = time.monotonic()
    wait_for(lambda: _state(elbv2, tg, ip)["State"] == wanted, timeout=timeout, interval=0.02)
    return time.monotonic() - start


def _world(emu, n, *, peer=True, routes=True, sg_cidr=None, sg_port=443, eni=True):
    """Consumer VPC 10.(60+2n).0.0/16 with an NLB; provider VPC 10.(61+2n).0.0/16 with an
    ENI at .1.20; the consumer's target group holds that address."""
    cec2, pec2 = emu.client("ec2", CONSUMER), emu.client("ec2", PROVIDER)
    c, p = 60 + 2 * n, 61 + 2 * n
    cvpc, csubnets = make_vpc(cec2, f"10.{c}.0.0/16", [(f"10.{c}.1.0/24", "us-east-1a"),
                                                       (f"10.{c}.2.0/24", "us-east-1b")])
    pvpc, psubnets = make_vpc(pec2, f"10.{p}.0.0/16", [(f"10.{p}.1.0/24", "us-east-1a")])
    pcx = None
    if peer:
        pcx = peer_vpcs(cec2, pec2, cvpc, pvpc, PROVIDER,
                        routes=(f"10.{p}.0.0/16", f"10.{c}.0.0/16") if routes else None)
    sg = pec2.create_security_group(GroupName=f"health-{n}", Description="t", VpcId=pvpc)["GroupId"]
    pec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": sg_port, "ToPort": sg_port,
         "IpRanges": [{"CidrIp": sg_cidr or f"10.{c}.0.0/16"}]}])
    ip = f"10.{p}.1.20"
    if eni:
        pec2.create_network_interface(SubnetId=psubnets[0], PrivateIpAddress=ip, Groups=[sg])
    elbv2 = emu.client("elbv2", CONSUMER)
    tg = elbv2.create_target_group(Name=f"health-{n}", Protocol="TCP", Port=443, VpcId=cvpc, TargetType="ip",
                                   HealthCheckProtocol="TCP", HealthCheckIntervalSeconds=INTERVAL, HealthCheckTimeoutSeconds=5,
                                   HealthyThresholdCount=UP, UnhealthyThresholdCount=DOWN,
                                   )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 443, "AvailabilityZone": "all"}])
    lb = make_nlb(elbv2, f"health-{n}", csubnets)
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=443,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return {"cec2": cec2, "pec2": pec2, "elbv2": elbv2, "tg": tg, "ip": ip, "sg": sg, "pcx": pcx,
            "ctable": main_route_table(cec2, cvpc), "ptable": main_route_table(pec2, pvpc),
            "ccidr": f"10.{c}.0.0/16", "pcidr": f"10.{p}.0.0/16"}


def test_reachable_target_initial_then_healthy(emu):
    """initial for interval x healthy threshold (scaled), then healthy."""
    emu.config(waits={"target_initial": 0})
    w = _world(emu, 0)
    assert _state(w["elbv2"], w["tg"], w["ip"]) == {
        "State": "initial", "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress"}
    took = _until(w["elbv2"], w["tg"], w["ip"], "healthy")
    assert took <= INTERVAL * UP * TIME_SCALE + 1
    assert _state(w["elbv2"], w["tg"], w["ip"]) == {"State": "healthy"}


def test_target_initial_is_a_lower_bound(emu):
    """The target_initial wait, when longer, keeps a target initial (compatibility)."""
    emu.config(waits={"target_initial": 40})  # 2 s, more than 5 x 3 x 0.05 = 0.75 s
    w = _world(emu, 1)
    time.sleep(INTERVAL * UP * TIME_SCALE + 0.3)
    assert _state(w["elbv2"], w["tg"], w["ip"])["State"] == "initial"
    _until(w["elbv2"], w["tg"], w["ip"], "healthy")


@pytest.mark.parametrize("case", ["no-eni", "not-peered", "no-routes", "sg-other-cidr", "sg-other-port"])
def test_unreachable_target_is_unhealthy(emu, case):
    """No ENI with the address, VPCs not peered, peered without routes, or a
    security group that does not let the NLB's subnets in on 443:
    unhealthy after the initial checks."""
    emu.config(waits={"target_initial": 0})
    n = 2 + ["no-eni", "not-peered", "no-routes", "sg-other-cidr", "sg-other-port"].index(case)
    w = _world(emu, n, eni=case != "no-eni", peer=case != "not-peered", routes=case != "no-routes",
               sg_cidr="10.200.0.0/16" if case == "sg-other-cidr" else None,
               sg_port=8443 if case == "sg-other-port" else 443)
    assert _state(w["elbv2"], w["tg"], w["ip"])["State"] == "initial"
    _until(w["elbv2"], w["tg"], w["ip"], "unhealthy")
    assert _state(w["elbv2"], w["tg"], w["ip"]) == {
        "State": "unhealthy", "Reason": "Target.FailedHealthChecks", "Description": "Health checks failed"}


def test_route_and_security_group_changes(emu):
    """A removed return route or revoked rule turns a healthy target unhealthy
    after unhealthy threshold x interval; restoring it brings it back after
    healthy threshold x interval (both scaled)."""
    emu.config(waits={"target_initial": 0})
    w = _world(emu, 7)
    elbv2, tg, ip = w["elbv2"], w["tg"], w["ip"]
    _until(elbv2, tg, ip, "healthy")
    down, up = INTERVAL * DOWN * TIME_SCALE, INTERVAL * UP * TIME_SCALE

    w["pec2"].delete_route(RouteTableId=w["ptable"], DestinationCidrBlock=w["ccidr"])
    assert _state(elbv2, tg, ip)["State"] == "healthy"  # not yet: the failures must add up
    took = _until(elbv2, tg, ip, "unhealthy")
    assert down - 0.3 <= took <= down + 1
    w["pec2"].create_route(RouteTableId=w["ptable"], DestinationCidrBlock=w["ccidr"],
                           VpcPeeringConnectionId=w["pcx"])
    assert _state(elbv2, tg, ip)["State"] == "unhealthy"
    took = _until(elbv2, tg, ip, "healthy")
    assert up - 0.3 <= took <= up + 1

    rule = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": w["ccidr"]}]}]
    w["pec2"].revoke_security_group_ingress(GroupId=w["sg"], IpPermissions=rule)
    _until(elbv2, tg, ip, "unhealthy")
    w["pec2"].authorize_security_group_ingress(GroupId=w["sg"], IpPermissions=rule)
    _until(elbv2, tg, ip, "healthy")

    # the consumer side's route counts as much as the provider's
    w["cec2"].delete_route(RouteTableId=w["ctable"], DestinationCidrBlock=w["pcidr"])
    _until(elbv2, tg, ip, "unhealthy")


def test_change_between_reads_is_dated_from_the_change(emu):
    """Health is computed when read, from when the network changed: a read long
    after a route was removed already shows unhealthy."""
    emu.config(waits={"target_initial": 0})
    w = _world(emu, 8)
    elbv2, tg, ip = w["elbv2"], w["tg"], w["ip"]
    _until(elbv2, tg, ip, "healthy")
    w["pec2"].delete_route(RouteTableId=w["ptable"], DestinationCidrBlock=w["ccidr"])
    time.sleep(INTERVAL * DOWN * TIME_SCALE + 0.2)
    assert _state(elbv2, tg, ip)["State"] == "unhealthy"


def test_deleted_peering_makes_targets_unhealthy(emu):
    """Routes over a deleted peering connection carry nothing."""
    emu.config(waits={"target_initial": 0})
    w = _world(emu, 9)
    _until(w["elbv2"], w["tg"], w["ip"], "healthy")
    w["cec2"].delete_vpc_peering_connection(VpcPeeringConnectionId=w["pcx"])
    _until(w["elbv2"], w["tg"], w["ip"], "unhealthy")
