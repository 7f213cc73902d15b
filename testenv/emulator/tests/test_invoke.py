"""Rules 23 and 24: deployments are snapshots, and TestInvokeMethod runs a
method and the chain behind it (edge API -> VPC link -> NLB -> endpoint ENI
-> private API stage). Plain moto has no TestInvokeMethod: boto3 gets a 500
("The test_invoke_method action has not been implemented") for every case
here, and its stages have no content of their own."""

import json
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from conftest import main_route_table, make_vpc, peer_vpcs, wait_for

CONSUMER, PROVIDER = "636363636363", "646464646464"
SERVICE = "com.amazonaws.us-east-1.execute-api"
HEALTH_BODY = '{"status":"ok"}'


def _policy(vpce):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": vpce}}}]})


def _private_api(papi, vpce, policy=None):
    api = papi.create_rest_api(name="private", endpointConfiguration={"types": ["PRIVATE"], "vpcEndpointIds": [vpce]},
                               policy=policy or _policy(vpce))["id"]
    root = papi.get_resources(restApiId=api)["items"][0]["id"]
    health = papi.create_resource(restApiId=api, parentId=root, pathPart="health")["id"]
    papi.put_method(restApiId=api, resourceId=health, httpMethod="GET", authorizationType="NONE")
    papi.put_integration(restApiId=api, resourceId=health, httpMethod="GET", type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})
    papi.put_method_response(restApiId=api, resourceId=health, httpMethod="GET", statusCode="200")
    papi.put_integration_response(restApiId=api, resourceId=health, httpMethod="GET", statusCode="200",
                                  responseTemplates={"application/json": HEALTH_BODY})
    papi.create_deployment(restApiId=api, stageName="prod")
    return api, health


def _edge_integration(capi, edge, resource, link, api, uri, proxy):
    capi.put_integration(restApiId=edge, resourceId=resource, httpMethod="ANY", type="HTTP_PROXY",
                         integrationHttpMethod="ANY", connectionType="VPC_LINK", connectionId=link, uri=uri,
                         requestParameters={"integration.request.header.x-apigw-api-id": f"'{api}'",
                                            **({"integration.request.path.proxy": "method.request.path.proxy"}
                                               if proxy else {})})


def build(emu, n):
    """The operator's whole wiring, as in DESIGN: provider endpoint + private API,
    consumer NLB (ip targets = endpoint ENIs, AZ all) + VPC link + regional edge API."""
    emu.config(waits={"nlb_provisioning": 0, "vpc_link_pending": 0, "target_initial": 0})
    cec2, pec2 = emu.client("ec2", CONSUMER), emu.client("ec2", PROVIDER)
    c, p = 100 + 2 * n, 101 + 2 * n
    ccidr, pcidr = f"10.{c}.0.0/16", f"10.{p}.0.0/16"
    cvpc, csubnets = make_vpc(cec2, ccidr, [(f"10.{c}.1.0/24", "us-east-1a"), (f"10.{c}.2.0/24", "us-east-1b")])
    pvpc, psubnets = make_vpc(pec2, pcidr, [(f"10.{p}.1.0/24", "us-east-1a"), (f"10.{p}.2.0/24", "us-east-1b")])
    pcx = peer_vpcs(cec2, pec2, cvpc, pvpc, PROVIDER, routes=(pcidr, ccidr))
    sg = pec2.create_security_group(GroupName=f"xapi-{n}", Description="xapi", VpcId=pvpc)["GroupId"]
    rule = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": ccidr}]}]
    pec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=rule)
    ep = pec2.create_vpc_endpoint(VpcId=pvpc, ServiceName=SERVICE, VpcEndpointType="Interface",
                                  SubnetIds=psubnets, SecurityGroupIds=[sg])["VpcEndpoint"]
    enis = pec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    papi = emu.client("apigateway", PROVIDER)
    api, health = _private_api(papi, ep["VpcEndpointId"])

    elbv2 = emu.client("elbv2", CONSUMER)
    tg = elbv2.create_target_group(Name=f"invoke-{n}", Protocol="TCP", Port=443, VpcId=cvpc, TargetType="ip",
                                   HealthCheckProtocol="TCP", HealthCheckIntervalSeconds=5,
                                   HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
                                   UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": e["PrivateIpAddress"], "Port": 443,
                                                        "AvailabilityZone": "all"} for e in enis])
    nlb = elbv2.create_load_balancer(Name=f"invoke-{n}", Subnets=csubnets, Scheme="internal",
                                     Type="network")["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=443,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    capi = emu.client("apigateway", CONSUMER)
    link = capi.create_vpc_link(name=f"invoke-{n}", targetArns=[nlb])["id"]
    edge = capi.create_rest_api(name="edge", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = capi.get_resources(restApiId=edge)["items"][0]["id"]
    proxy = capi.create_resource(restApiId=edge, parentId=root, pathPart="{proxy+}")["id"]
    base = f"https://{api}.execute-api.us-east-1.amazonaws.com/prod/"
    capi.put_method(restApiId=edge, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    _edge_integration(capi, edge, root, link, api, base, proxy=False)
    capi.put_method(restApiId=edge, resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
                    requestParameters={"method.request.path.proxy": True})
    _edge_integration(capi, edge, proxy, link, api, base + "{proxy}", proxy=True)
    capi.create_deployment(restApiId=edge, stageName="prod")
    wait_for(lambda: all(d["TargetHealth"]["State"] == "healthy" for d in elbv2.describe_target_health(
        TargetGroupArn=tg)["TargetHealthDescriptions"]))
    return SimpleNamespace(cec2=cec2, pec2=pec2, papi=papi, capi=capi, elbv2=elbv2, api=api, health=health,
                           edge=edge, root=root, proxy=proxy, link=link, nlb=nlb, tg=tg, sg=sg, rule=rule,
                           vpce=ep["VpcEndpointId"], ep=ep, pcx=pcx, ccidr=ccidr, pcidr=pcidr, base=base,
                           ptable=main_route_table(pec2, pvpc))


def invoke(w, path="/health", resource=None, method="GET", **kwargs):
    return w.capi.test_invoke_method(restApiId=w.edge, resourceId=resource or w.proxy, httpMethod=method,
                                     pathWithQueryString=path, **kwargs)


def _log_lines(answer):
    lines = answer["log"].splitlines()
    assert lines[0].startswith("Execution log for request ")
    # "<Day Mon DD HH:MM:SS UTC YYYY> : <text>"
    assert all(len(l.split(" : ", 1)[0]) == 28 and " UTC " in l for l in lines[1:]), lines
    return [l.split(" : ", 1)[1] for l in lines[1:]]


def _forbidden_by_policy(answer, w, explicit):
    assert answer["status"] == 403
    arn = f"arn:aws:execute-api:us-east-1:{PROVIDER}:{w.api}/prod/GET/health"
    text = f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn}"
    assert json.loads(answer["body"]) == {"Message": text + (" with an explicit deny" if explicit else "")}
    assert answer["headers"]["x-amzn-ErrorType"] == "AccessDeniedException"


INTERNAL = "Execution failed due to configuration error: There was an internal error while executing your request"


def _internal_error(answer):
    assert answer["status"] == 500
    assert json.loads(answer["body"]) == {"message": "Internal server error"}
    lines = _log_lines(answer)
    assert lines[-2:] == [INTERNAL, "Method completed with status: 500"]


def test_the_working_chain_answers_with_the_private_mock(emu):
    """GET /health through the whole chain: the private API's MOCK body, AWS's log lines."""
    w = build(emu, 0)
    answer = invoke(w)
    assert answer["status"] == 200 and answer["body"] == HEALTH_BODY
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert isinstance(answer["latency"], int) and answer["latency"] >= 1
    lines = _log_lines(answer)
    request_id = answer["log"].splitlines()[0].rsplit(" ", 1)[1]
    assert lines[0] == f"Starting execution for request: {request_id}"
    assert lines[1] == "HTTP Method: GET, Resource Path: /health"
    assert "Method request path: {proxy=health}" in lines
    uri = f"https://{w.api}.execute-api.us-east-1.amazonaws.com/prod/health"
    assert f"Endpoint request URI: {uri}" in lines
    assert any(l.startswith("Endpoint request headers: {") and f"x-apigw-api-id={w.api}" in l for l in lines)
    received = [l for l in lines if l.startswith("Received response. Status: 200, Integration latency: ")]
    assert len(received) == 1 and int(received[0].rsplit(" ", 2)[1]) >= 1
    assert f"Endpoint response body before transformations: {HEALTH_BODY}" in lines
    assert lines[-2:] == ["Successfully completed execution", "Method completed with status: 200"]
    # the root resource maps "/" to the private stage root, where nothing is deployed
    root = invoke(w, path="/", resource=w.root)
    assert root["status"] == 403 and json.loads(root["body"]) == {"message": "Missing Authentication Token"}


def test_any_method_serves_every_verb_and_mock_runs_directly(emu):
    """The edge has only ANY: GET and POST use it. TestInvokeMethod on the private
    API itself runs its MOCK without any resource policy."""
    w = build(emu, 1)
    assert invoke(w, method="POST")["status"] == 403  # the private API has GET /health only
    direct = w.papi.test_invoke_method(restApiId=w.api, resourceId=w.health, httpMethod="GET",
                                       pathWithQueryString="/health")
    assert (direct["status"], direct["body"]) == (200, HEALTH_BODY)
    assert _log_lines(direct)[-1] == "Method completed with status: 200"
    with pytest.raises(ClientError) as err:
        w.papi.test_invoke_method(restApiId=w.api, resourceId=w.health, httpMethod="DELETE")
    assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_vpc_link_not_available(emu):
    """A PENDING, DELETING or deleted VPC link: 500 and the configuration-error line."""
    w = build(emu, 2)
    emu.config(waits={"vpc_link_pending": 400, "vpc_link_deleting": 60})
    pending = w.capi.create_vpc_link(name="pending", targetArns=[w.nlb])["id"]
    doomed = w.capi.create_vpc_link(name="doomed", targetArns=[w.nlb])["id"]
    w.capi.delete_vpc_link(vpcLinkId=doomed)
    for link in (pending, doomed):
        w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
            {"op": "replace", "path": "/connectionId", "value": link}])
        _internal_error(invoke(w))
    emu.config(waits={"vpc_link_deleting": 0})
    wait_for(lambda: not any(l["id"] == doomed for l in w.capi.get_vpc_links()["items"]))
    _internal_error(invoke(w))


def test_security_group_without_the_consumer_cidr(emu):
    """The endpoint's group stops letting the consumer VPC in: once the targets
    are unhealthy, TestInvokeMethod gets AWS's VPC-link 500."""
    w = build(emu, 3)
    w.pec2.revoke_security_group_ingress(GroupId=w.sg, IpPermissions=w.rule)
    wait_for(lambda: all(d["TargetHealth"]["State"] == "unhealthy" for d in w.elbv2.describe_target_health(
        TargetGroupArn=w.tg)["TargetHealthDescriptions"]))
    _internal_error(invoke(w))
    w.pec2.authorize_security_group_ingress(GroupId=w.sg, IpPermissions=w.rule)
    answer = invoke(w)  # all targets unhealthy: the NLB fails open, and traffic passes again
    assert (answer["status"], answer["body"]) == (200, HEALTH_BODY)


def test_route_removed(emu):
    """The provider's route back to the consumer is removed: unhealthy, then 500;
    restored: healthy and 200 again."""
    w = build(emu, 4)
    w.pec2.delete_route(RouteTableId=w.ptable, DestinationCidrBlock=w.ccidr)
    wait_for(lambda: all(d["TargetHealth"]["State"] == "unhealthy" for d in w.elbv2.describe_target_health(
        TargetGroupArn=w.tg)["TargetHealthDescriptions"]))
    _internal_error(invoke(w))
    w.pec2.create_route(RouteTableId=w.ptable, DestinationCidrBlock=w.ccidr, VpcPeeringConnectionId=w.pcx)
    wait_for(lambda: all(d["TargetHealth"]["State"] == "healthy" for d in w.elbv2.describe_target_health(
        TargetGroupArn=w.tg)["TargetHealthDescriptions"]))
    assert invoke(w)["status"] == 200


def test_policy_is_evaluated_from_the_deployed_snapshot(emu):
    """Pinned to another endpoint and deployed: 403 anonymous (explicit deny). The
    policy fixed but not deployed: still 403. After CreateDeployment: 200."""
    w = build(emu, 5)
    other = "vpce-0aaaaaaaaaaaaaaaa"
    w.papi.update_rest_api(restApiId=w.api, patchOperations=[
        {"op": "replace", "path": "/policy", "value": _policy(other)}])
    assert invoke(w)["status"] == 200  # not deployed yet: the stage still has the old policy
    w.papi.create_deployment(restApiId=w.api, stageName="prod")
    _forbidden_by_policy(invoke(w), w, explicit=True)

    w.papi.update_rest_api(restApiId=w.api, patchOperations=[
        {"op": "replace", "path": "/policy", "value": _policy(w.vpce)}])
    _forbidden_by_policy(invoke(w), w, explicit=True)
    w.papi.create_deployment(restApiId=w.api, stageName="prod")
    assert invoke(w)["status"] == 200

    # an Allow that does not match (and no Deny): 403 without "explicit deny"
    only_allow = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:*", "Resource": "execute-api:/*",
         "Condition": {"StringEquals": {"aws:SourceVpce": [other]}}}]})
    w.papi.update_rest_api(restApiId=w.api, patchOperations=[{"op": "replace", "path": "/policy", "value": only_allow}])
    w.papi.create_deployment(restApiId=w.api, stageName="prod")
    _forbidden_by_policy(invoke(w), w, explicit=False)
    # StringLike on the endpoint, and aws:SourceVpc
    vpc = w.ep["VpcId"]
    like = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "execute-api:Invoke",
         "Resource": f"arn:aws:execute-api:us-east-1:{PROVIDER}:{w.api}/prod/GET/*",
         "Condition": {"StringLike": {"aws:SourceVpce": "vpce-*"}, "StringEquals": {"aws:SourceVpc": vpc}}}]})
    w.papi.update_rest_api(restApiId=w.api, patchOperations=[{"op": "replace", "path": "/policy", "value": like}])
    w.papi.create_deployment(restApiId=w.api, stageName="prod")
    assert invoke(w)["status"] == 200


def test_deployed_resources_are_a_snapshot(emu):
    """A path the deployed private API lacks: 403 Missing Authentication Token,
    also after it is added to the working API, until it is deployed."""
    w = build(emu, 6)
    missing = invoke(w, path="/orders")
    assert missing["status"] == 403
    assert json.loads(missing["body"]) == {"message": "Missing Authentication Token"}
    assert missing["headers"]["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    root = w.papi.get_resources(restApiId=w.api)["items"]
    root = next(r["id"] for r in root if r["path"] == "/")
    orders = w.papi.create_resource(restApiId=w.api, parentId=root, pathPart="orders")["id"]
    w.papi.put_method(restApiId=w.api, resourceId=orders, httpMethod="ANY", authorizationType="NONE")
    w.papi.put_integration(restApiId=w.api, resourceId=orders, httpMethod="ANY", type="MOCK",
                           requestTemplates={"application/json": '{"statusCode": 201}'})
    w.papi.put_integration_response(restApiId=w.api, resourceId=orders, httpMethod="ANY", statusCode="201",
                                    selectionPattern="2\\d{2}", responseTemplates={"application/json": "[]"})
    assert invoke(w, path="/orders")["status"] == 403
    w.papi.create_deployment(restApiId=w.api, stageName="prod")
    answer = invoke(w, path="/orders")
    assert (answer["status"], answer["body"]) == (201, "[]")
    # changing the MOCK's integration response without deploying changes nothing
    w.papi.put_integration_response(restApiId=w.api, resourceId=w.health, httpMethod="GET", statusCode="200",
                                    responseTemplates={"application/json": '{"status":"changed"}'})
    assert invoke(w)["body"] == HEALTH_BODY


def test_wrong_stage_and_not_a_private_api(emu):
    """The integration names a stage the private API lacks, or a regional API:
    403 {"message":"Forbidden"}; a host that is not execute-api's: 500."""
    w = build(emu, 7)
    for uri in (w.base.replace("/prod/", "/staging/") + "{proxy}",
                f"https://{w.api}.execute-api.us-east-1.amazonaws.com/{{proxy}}"):
        w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
            {"op": "replace", "path": "/uri", "value": uri}])
        answer = invoke(w)
        assert answer["status"] == 403, uri
        assert json.loads(answer["body"]) == {"message": "Forbidden"}
        assert answer["headers"]["x-amzn-ErrorType"] == "ForbiddenException"
    regional = w.papi.create_rest_api(name="public", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/uri", "value": f"https://{regional}.execute-api.us-east-1.amazonaws.com/prod/{{proxy}}"}])
    assert json.loads(invoke(w)["body"]) == {"message": "Forbidden"}
    w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/uri", "value": "https://orders.example.com/prod/{proxy}"}])
    answer = invoke(w)
    assert answer["status"] == 500
    assert _log_lines(answer)[-2] == (
        "Execution failed due to configuration error: Host name 'orders.example.com' does not match the "
        "certificate subject provided by the peer (CN=*.execute-api.us-east-1.amazonaws.com)")


def test_endpoint_dns_name_with_api_id_header(emu):
    """The endpoint's own DNS name as host: x-apigw-api-id names the API; without it: Forbidden."""
    w = build(emu, 8)
    host = w.ep["DnsEntries"][0]["DnsName"]
    w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/uri", "value": f"https://{host}/prod/{{proxy}}"}])
    assert (invoke(w)["status"], invoke(w)["body"]) == (200, HEALTH_BODY)
    w.capi.update_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", patchOperations=[
        {"op": "remove", "path": "/requestParameters/integration.request.header.x-apigw-api-id"}])
    assert json.loads(invoke(w)["body"]) == {"message": "Forbidden"}


def test_the_working_edge_is_what_runs(emu):
    """TestInvokeMethod runs the edge's working integration, deployed or not
    (AWS tests a method before deployment)."""
    w = build(emu, 9)
    w.capi.put_integration(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", type="MOCK",
                           requestTemplates={"application/json": '{"statusCode": 200}'})
    w.capi.put_integration_response(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", statusCode="200",
                                    responseTemplates={"application/json": '{"edge":"mock"}'})
    answer = invoke(w)
    assert (answer["status"], answer["body"]) == (200, '{"edge":"mock"}')
    assert "Sending request to" not in answer["log"]
    # no integration response for the MOCK: AWS's output-mapping error
    w.capi.delete_integration_response(restApiId=w.edge, resourceId=w.proxy, httpMethod="ANY", statusCode="200")
    answer = invoke(w)
    assert answer["status"] == 500
    assert _log_lines(answer)[-2] == (
        "Execution failed due to configuration error: No match for output mapping and no default output "
        "mapping configured. Endpoint Response Status Code: 200")


def test_counts_against_the_account_rate(emu):
    """TestInvokeMethod is a control-plane call: it takes from the 10/s (burst 40) bucket."""
    w = build(emu, 10)
    emu.config(quotas=True, time_scale=1.0)
    throttled = 0
    for _ in range(60):
        try:
            w.papi.test_invoke_method(restApiId=w.api, resourceId=w.health, httpMethod="GET")
        except ClientError as err:
            assert err.response["Error"]["Code"] == "TooManyRequestsException"
            throttled += 1
    assert throttled > 0
    time.sleep(0.2)
