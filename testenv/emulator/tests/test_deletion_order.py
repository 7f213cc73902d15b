"""Rule 6: AWS refuses out-of-order deletes; deleted endpoints and VPC links
go through deleting and then disappear."""

import pytest
from botocore.exceptions import ClientError

from conftest import make_nlb, make_vpc, wait_for

ACCOUNT = "666666666666"
SERVICE = "com.amazonaws.us-east-1.execute-api"


@pytest.fixture
def net(emu):
    emu.config(waits={"nlb_provisioning": 0, "vpc_link_pending": 0, "vpc_endpoint_pending": 0})
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, subnets = make_vpc(ec2, "10.6.0.0/16", [("10.6.1.0/24", "us-east-1a"), ("10.6.2.0/24", "us-east-1b")])
    return ec2, vpc, subnets


def _error(call):
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]


def _api_with_link(apigw, link_id):
    api_id = apigw.create_rest_api(name="edge", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri="https://p.execute-api.us-east-1.amazonaws.com/prod/",
                          connectionType="VPC_LINK", connectionId=link_id)
    return api_id, root


def test_vpc_link_and_nlb_deletion_order(emu, net):
    emu.config(waits={"vpc_link_deleting": 20})
    _ec2, _vpc, subnets = net
    elbv2, apigw = emu.client("elbv2", ACCOUNT), emu.client("apigateway", ACCOUNT)
    nlb = make_nlb(elbv2, "order-nlb", subnets)
    link_id = apigw.create_vpc_link(name="order", targetArns=[nlb])["id"]
    api_id, root = _api_with_link(apigw, link_id)

    err = _error(lambda: apigw.delete_vpc_link(vpcLinkId=link_id))
    assert err["Code"] == "BadRequestException"
    assert err["Message"].startswith(f"Cannot delete vpc link. Vpc link '{link_id}', is referenced in [{api_id}:ANY:{root}:")

    apigw.create_deployment(restApiId=api_id, stageName="prod")
    err = _error(lambda: apigw.delete_vpc_link(vpcLinkId=link_id))
    assert f"[{api_id}:ANY:{root}:prod] in format of [RESTApiId:Method:Resource:Stage]" in err["Message"]

    err = _error(lambda: elbv2.delete_load_balancer(LoadBalancerArn=nlb))
    assert err["Code"] == "ResourceInUse"

    apigw.delete_rest_api(restApiId=api_id)
    apigw.delete_vpc_link(vpcLinkId=link_id)
    assert apigw.get_vpc_link(vpcLinkId=link_id)["status"] == "DELETING"
    # still there while DELETING: the NLB stays in use
    assert _error(lambda: elbv2.delete_load_balancer(LoadBalancerArn=nlb))["Code"] == "ResourceInUse"
    wait_for(lambda: _gone(apigw, link_id), timeout=10)
    elbv2.delete_load_balancer(LoadBalancerArn=nlb)
    assert _error(lambda: apigw.delete_vpc_link(vpcLinkId=link_id))["Code"] == "NotFoundException"


def _gone(apigw, link_id):
    try:
        apigw.get_vpc_link(vpcLinkId=link_id)
        return False
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NotFoundException"
        return True


def test_security_group_in_use_by_endpoint(net):
    ec2, vpc, subnets = net
    sg = ec2.create_security_group(GroupName="in-use", Description="x", VpcId=vpc)["GroupId"]
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets, SecurityGroupIds=[sg])["VpcEndpoint"]["VpcEndpointId"]
    err = _error(lambda: ec2.delete_security_group(GroupId=sg))
    assert err["Code"] == "DependencyViolation"
    assert err["Message"] == f"resource {sg} has a dependent object"
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ep])
    wait_for(lambda: not ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"], timeout=10)
    ec2.delete_security_group(GroupId=sg)


def test_deleted_endpoint_deleting_then_gone(emu, net):
    emu.config(waits={"vpc_endpoint_deleting": 20})
    ec2, vpc, subnets = net
    ep = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                 SubnetIds=subnets[:1])["VpcEndpoint"]["VpcEndpointId"]
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[ep])["Unsuccessful"] == []
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["State"] == "deleting"
    wait_for(lambda: not ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"], timeout=10)
    err = _error(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep]))
    assert err["Code"] == "InvalidVpcEndpointId.NotFound"
    unsuccessful = ec2.delete_vpc_endpoints(VpcEndpointIds=[ep])["Unsuccessful"]
    assert unsuccessful[0]["Error"]["Code"] == "InvalidVpcEndpoint.NotFound"


def test_target_group_in_use_by_listener(emu, net):
    _ec2, vpc, subnets = net
    elbv2 = emu.client("elbv2", ACCOUNT)
    tg = elbv2.create_target_group(Name="in-use", Protocol="TCP", Port=443, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    nlb = make_nlb(elbv2, "tg-order-nlb", subnets)
    listener = elbv2.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=443,
                                     DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert _error(lambda: elbv2.delete_target_group(TargetGroupArn=tg))["Code"] == "ResourceInUse"
    elbv2.delete_listener(ListenerArn=listener["Listeners"][0]["ListenerArn"])
    elbv2.delete_target_group(TargetGroupArn=tg)
