"""Rule 3: endpoint pending -> available, NLB provisioning -> active, VPC
link PENDING -> AVAILABLE or FAILED with a statusMessage."""

import pytest

from conftest import CONSUMER, PROVIDER, TIME_SCALE, make_nlb, make_vpc, wait_for

ACCOUNT = "333333333333"


def _net(emu, account=ACCOUNT, second_octet=3):
    ec2 = emu.client("ec2", account)
    return ec2, make_vpc(ec2, f"10.{second_octet}.0.0/16", [(f"10.{second_octet}.1.0/24", "us-east-1a"),
                                                            (f"10.{second_octet}.2.0/24", "us-east-1b")])


def test_vpc_endpoint_pending_then_available(emu):
    emu.config(waits={"vpc_endpoint_pending": 40})  # 2 s at the test time scale
    ec2, (vpc, subnets) = _net(emu)
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.execute-api",
                                 VpcEndpointType="Interface", SubnetIds=subnets)["VpcEndpoint"]
    assert ep["State"] == "pending"
    describe = lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]["State"]
    assert describe() == "pending"
    wait_for(lambda: describe() == "available", timeout=10)


def test_nlb_provisioning_then_active(emu):
    emu.config(waits={"nlb_provisioning": 40})
    _ec2, (_vpc, subnets) = _net(emu)
    elbv2 = emu.client("elbv2", ACCOUNT)
    lb = elbv2.create_load_balancer(Name="waits-nlb", Subnets=subnets, Scheme="internal",
                                    Type="network")["LoadBalancers"][0]
    assert lb["State"]["Code"] == "provisioning"
    state = lambda: elbv2.describe_load_balancers(
        LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]["State"]["Code"]
    assert state() == "provisioning"
    wait_for(lambda: state() == "active", timeout=10)


def test_vpc_link_pending_then_available(emu):
    emu.config(waits={"nlb_provisioning": 0, "vpc_link_pending": 40})
    _ec2, (_vpc, subnets) = _net(emu)
    nlb = make_nlb(emu.client("elbv2", ACCOUNT), "waits-link-nlb", subnets)
    apigw = emu.client("apigateway", ACCOUNT)
    link = apigw.create_vpc_link(name="link", targetArns=[nlb])
    assert link["status"] == "PENDING"
    assert apigw.get_vpc_link(vpcLinkId=link["id"])["status"] == "PENDING"
    done = wait_for(lambda: (lambda l: l if l["status"] != "PENDING" else None)(
        apigw.get_vpc_link(vpcLinkId=link["id"])), timeout=10)
    assert done["status"] == "AVAILABLE"
    assert done["statusMessage"] == "Your vpc link is ready for use"


@pytest.mark.parametrize("case", ["other-account", "not-nlb", "still-provisioning"])
def test_vpc_link_failed(emu, case):
    emu.config(waits={"vpc_link_pending": 4, "nlb_provisioning": 0 if case != "still-provisioning" else 200})
    _ec2, (_vpc, subnets) = _net(emu, CONSUMER, 11)
    apigw = emu.client("apigateway", CONSUMER)
    if case == "other-account":
        # An NLB that exists, but in another account: not found from here.
        _ec2p, (_vpcp, psubnets) = _net(emu, PROVIDER, 12)
        target = make_nlb(emu.client("elbv2", PROVIDER), f"fail-{case}", psubnets)
        expected = "was not found"
    elif case == "not-nlb":
        target = emu.client("elbv2", CONSUMER).create_load_balancer(
            Name="fail-alb", Subnets=subnets, Scheme="internal", Type="application")["LoadBalancers"][0][
            "LoadBalancerArn"]
        expected = "NLB ARN is malformed."
    else:
        target = make_nlb(emu.client("elbv2", CONSUMER), f"fail-{case}", subnets)
        expected = "NLB is not in active state"
    link = apigw.create_vpc_link(name=f"fail-{case}", targetArns=[target])
    assert link["status"] == "PENDING"
    done = wait_for(lambda: (lambda l: l if l["status"] != "PENDING" else None)(
        apigw.get_vpc_link(vpcLinkId=link["id"])), timeout=10)
    assert done["status"] == "FAILED"
    assert expected in done["statusMessage"]


def test_time_scale_shortens_waits(emu):
    emu.config(time_scale=1.0, waits={"vpc_endpoint_pending": 1000})
    ec2, (vpc, subnets) = _net(emu)
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.execute-api",
                                 VpcEndpointType="Interface", SubnetIds=subnets[:1])["VpcEndpoint"]
    assert ep["State"] == "pending"
    emu.config(time_scale=0.0001)  # 1000 s -> 0.1 s
    wait_for(lambda: ec2.describe_vpc_endpoints(
        VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]["State"] == "available", timeout=5)
    assert TIME_SCALE  # the session scale is restored by the autouse fixture


def test_fail_next_link_is_a_harness_knob(emu):
    """Not an AWS rule: the next created link ends FAILED with the message given; only one."""
    emu.config(waits={"nlb_provisioning": 0, "vpc_link_pending": 4})
    _ec2, (_vpc, subnets) = _net(emu, second_octet=4)
    nlb = make_nlb(emu.client("elbv2", ACCOUNT), "waits-fail-next", subnets)
    apigw = emu.client("apigateway", ACCOUNT)
    emu._call("POST", "/_xapi/vpclink/fail-next", {"message": "NLB ENIs could not be provisioned"})
    failed = apigw.create_vpc_link(name="fails", targetArns=[nlb])
    ok = apigw.create_vpc_link(name="works", targetArns=[nlb])
    settled = lambda i: (lambda l: l if l["status"] != "PENDING" else None)(apigw.get_vpc_link(vpcLinkId=i))
    assert wait_for(lambda: settled(failed["id"]), timeout=10)["statusMessage"] == "NLB ENIs could not be provisioned"
    assert wait_for(lambda: settled(failed["id"]), timeout=10)["status"] == "FAILED"
    assert wait_for(lambda: settled(ok["id"]), timeout=10)["status"] == "AVAILABLE"
