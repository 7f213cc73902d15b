"""The whole wiring of DESIGN.md, built and torn down the way the operator
does it, across two accounts: the rules above working together."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import make_vpc, wait_for

CONSUMER, PROVIDER = "171717171717", "181818181818"
SERVICE = "com.amazonaws.us-east-1.execute-api"


def test_build_and_tear_down(emu):
    emu.config(waits={"vpc_endpoint_pending": 4, "nlb_provisioning": 4, "vpc_link_pending": 4,
                      "vpc_link_deleting": 4, "vpc_endpoint_deleting": 4, "target_initial": 0})
    pec2, cec2 = emu.client("ec2", PROVIDER), emu.client("ec2", CONSUMER)
    pvpc, psubnets = make_vpc(pec2, "10.2.0.0/16", [("10.2.1.0/24", "us-east-1a"), ("10.2.2.0/24", "us-east-1b")])
    cvpc, csubnets = make_vpc(cec2, "10.1.0.0/16", [("10.1.1.0/24", "us-east-1a"), ("10.1.2.0/24", "us-east-1b")])
    tags = [{"Key": "apigw.crossaccount.io/uid", "Value": "u1"}]
    # the prerequisite the operator expects: the VPCs peered and routed both ways (rule 21)
    pcx = cec2.create_vpc_peering_connection(VpcId=cvpc, PeerVpcId=pvpc, PeerOwnerId=PROVIDER,
                                             PeerRegion="us-east-1")["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    pec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    for ec2, vpc, cidr in ((cec2, cvpc, "10.2.0.0/16"), (pec2, pvpc, "10.1.0.0/16")):
        table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                   {"Name": "association.main", "Values": ["true"]}])
        ec2.create_route(RouteTableId=table["RouteTables"][0]["RouteTableId"], DestinationCidrBlock=cidr,
                         VpcPeeringConnectionId=pcx)

    # provider: security group, endpoint, private API pinned to it
    sg = pec2.create_security_group(GroupName="xapi", Description="xapi", VpcId=pvpc)["GroupId"]
    pec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.1.0.0/16"}]}])
    ep = pec2.create_vpc_endpoint(VpcId=pvpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                  SubnetIds=psubnets, SecurityGroupIds=[sg], PrivateDnsEnabled=False,
                                  ClientToken="u1", TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": tags}],
                                  )["VpcEndpoint"]["VpcEndpointId"]
    papi = emu.client("apigateway", PROVIDER)
    api_id = papi.create_rest_api(name="p", endpointConfiguration={"types": ["PRIVATE"], "vpcEndpointIds": [ep]},
                                  policy=json.dumps({"Version": "2012-10-17", "Statement": [
                                      {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                                       "Resource": "execute-api:/*",
                                       "Condition": {"StringEquals": {"aws:SourceVpce": ep}}}]}))["id"]
    root = papi.get_resources(restApiId=api_id)["items"][0]["id"]
    papi.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    papi.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    papi.create_deployment(restApiId=api_id, stageName="prod")

    wait_for(lambda: pec2.describe_vpc_endpoints(
        Filters=[{"Name": "tag:apigw.crossaccount.io/uid", "Values": ["u1"]}])["VpcEndpoints"][0]["State"]
        == "available")
    eni_ids = pec2.describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["NetworkInterfaceIds"]
    ips = sorted(e["PrivateIpAddress"] for e in
                 pec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"])
    assert len(ips) == 2 and ips[0].startswith("10.2.1.") and ips[1].startswith("10.2.2.")

    # consumer: target group with the endpoint IPs, NLB, listener, VPC link, regional API
    elbv2 = emu.client("elbv2", CONSUMER)
    tg = elbv2.create_target_group(Name="xapi-u1", Protocol="TCP", Port=443, VpcId=cvpc, TargetType="ip",
                                   HealthCheckProtocol="TCP")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 443, "AvailabilityZone": "all"}
                                                       for ip in ips])
    nlb = elbv2.create_load_balancer(Name="xapi-u1", Subnets=csubnets, Scheme="internal",
                                     Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=443, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
    capi = emu.client("apigateway", CONSUMER)
    # too early: the NLB is still provisioning
    early = capi.create_vpc_link(name="early", targetArns=[nlb])["id"]
    wait_for(lambda: elbv2.describe_load_balancers(LoadBalancerArns=[nlb])["LoadBalancers"][0]["State"]["Code"]
             == "active")
    link = capi.create_vpc_link(name="xapi-u1", targetArns=[nlb])["id"]
    assert wait_for(lambda: (lambda s: s if s != "PENDING" else None)(
        capi.get_vpc_link(vpcLinkId=early)["status"])) == "FAILED"
    edge = capi.create_rest_api(name="edge", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    eroot = capi.get_resources(restApiId=edge)["items"][0]["id"]
    capi.put_method(restApiId=edge, resourceId=eroot, httpMethod="ANY", authorizationType="NONE")
    capi.put_integration(restApiId=edge, resourceId=eroot, httpMethod="ANY", type="HTTP_PROXY",
                         integrationHttpMethod="ANY", connectionType="VPC_LINK", connectionId=link,
                         uri=f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/",
                         requestParameters={"integration.request.header.x-apigw-api-id": f"'{api_id}'"})
    wait_for(lambda: capi.get_vpc_link(vpcLinkId=link)["status"] == "AVAILABLE")
    capi.create_deployment(restApiId=edge, stageName="prod")
    # the operator's target group keeps AWS's defaults: 5 checks 30 s apart before healthy;
    # a smaller time scale shortens them (and every other wait from here on)
    emu.config(time_scale=0.005)
    health = wait_for(lambda: (lambda h: h if all(d["TargetHealth"]["State"] != "initial" for d in h) else None)(
        elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]), timeout=20)
    assert sorted((h["Target"]["Id"], h["Target"]["AvailabilityZone"], h["TargetHealth"]["State"])
                  for h in health) == [(ip, "all", "healthy") for ip in ips]

    # tear down in the design's order; out-of-order steps are refused first
    def refused(call, code):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == code

    refused(lambda: capi.delete_vpc_link(vpcLinkId=link), "BadRequestException")
    capi.delete_rest_api(restApiId=edge)
    refused(lambda: elbv2.delete_load_balancer(LoadBalancerArn=nlb), "ResourceInUse")
    capi.delete_vpc_link(vpcLinkId=link)
    wait_for(lambda: not any(l["id"] == link for l in capi.get_vpc_links()["items"]))
    elbv2.delete_listener(ListenerArn=listener)
    elbv2.delete_load_balancer(LoadBalancerArn=nlb)
    elbv2.delete_target_group(TargetGroupArn=tg)
    papi.delete_rest_api(restApiId=api_id)
    refused(lambda: pec2.delete_security_group(GroupId=sg), "DependencyViolation")
    pec2.delete_vpc_endpoints(VpcEndpointIds=[ep])
    wait_for(lambda: not pec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [pvpc]}])["VpcEndpoints"])
    pec2.delete_security_group(GroupId=sg)
