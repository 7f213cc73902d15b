"""Rules 1, 2 and 26: integrations keep connectionId; Update* patch operations
work; endpoint ids and policies on the REST API; a parent's children have distinct names."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER


@pytest.fixture
def api(emu):
    apigw = emu.client("apigateway", CONSUMER)
    api_id = apigw.create_rest_api(name="updates", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = [r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/"][0]["id"]
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
                     requestParameters={"method.request.path.proxy": True})
    return apigw, api_id, root, proxy


def test_get_integration_returns_connection_id(api):
    apigw, api_id, _root, proxy = api
    apigw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY", integrationHttpMethod="ANY",
        uri="https://abc.execute-api.us-east-1.amazonaws.com/prod/{proxy}",
        connectionType="VPC_LINK", connectionId="link01",
    )
    integ = apigw.get_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert integ["connectionId"] == "link01"
    assert integ["connectionType"] == "VPC_LINK"
    method = apigw.get_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert method["methodIntegration"]["connectionId"] == "link01"


def test_vpc_link_integration_needs_connection_id(api):
    apigw, api_id, _root, proxy = api
    with pytest.raises(ClientError) as err:
        apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY",
                              integrationHttpMethod="ANY", uri="https://x.example.com/", connectionType="VPC_LINK")
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_update_integration(api):
    apigw, api_id, _root, proxy = api
    apigw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY", integrationHttpMethod="ANY",
        uri="https://old.execute-api.us-east-1.amazonaws.com/prod/{proxy}", connectionType="VPC_LINK",
        connectionId="link01", requestParameters={"integration.request.path.proxy": "method.request.path.proxy"},
    )
    out = apigw.update_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/uri", "value": "https://new.execute-api.us-east-1.amazonaws.com/prod/{proxy}"},
        {"op": "replace", "path": "/connectionId", "value": "link02"},
        {"op": "add", "path": "/requestParameters/integration.request.header.x-apigw-api-id", "value": "'new'"},
    ])
    assert out["connectionId"] == "link02"
    got = apigw.get_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert got["uri"] == "https://new.execute-api.us-east-1.amazonaws.com/prod/{proxy}"
    assert got["connectionId"] == "link02"
    assert got["requestParameters"] == {
        "integration.request.path.proxy": "method.request.path.proxy",
        "integration.request.header.x-apigw-api-id": "'new'",
    }
    apigw.update_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", patchOperations=[
        {"op": "remove", "path": "/requestParameters/integration.request.header.x-apigw-api-id"},
        {"op": "replace", "path": "/connectionType", "value": "INTERNET"},
        {"op": "remove", "path": "/connectionId"},
    ])
    got = apigw.get_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert got["requestParameters"] == {"integration.request.path.proxy": "method.request.path.proxy"}
    assert got["connectionType"] == "INTERNET"
    assert "connectionId" not in got


def test_update_integration_rejects_unknown_path(api):
    apigw, api_id, _root, proxy = api
    apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="MOCK")
    with pytest.raises(ClientError) as err:
        apigw.update_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY",
                                 patchOperations=[{"op": "replace", "path": "/bogus", "value": "x"}])
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert "Invalid patch path '/bogus'" in err.value.response["Error"]["Message"]


def test_update_method(api):
    apigw, api_id, _root, proxy = api
    auth_id = apigw.create_authorizer(
        restApiId=api_id, name="auth", type="TOKEN", identitySource="method.request.header.Authorization",
        authorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                      "arn:aws:lambda:us-east-1:111111111111:function:auth/invocations",
    )["id"]
    with pytest.raises(ClientError) as err:
        apigw.update_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
            {"op": "replace", "path": "/authorizerId", "value": "nope"},
        ])
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert apigw.get_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY")["authorizationType"] == "NONE"

    out = apigw.update_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
        {"op": "replace", "path": "/authorizerId", "value": auth_id},
        {"op": "add", "path": "/requestParameters/method.request.header.X-Trace", "value": "false"},
    ])
    assert out["authorizationType"] == "CUSTOM" and out["authorizerId"] == auth_id
    got = apigw.get_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert got["authorizerId"] == auth_id
    assert got["requestParameters"] == {"method.request.path.proxy": True, "method.request.header.X-Trace": False}

    apigw.update_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", patchOperations=[
        {"op": "replace", "path": "/authorizationType", "value": "NONE"},
        {"op": "remove", "path": "/requestParameters/method.request.header.X-Trace"},
    ])
    got = apigw.get_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY")
    assert got["authorizationType"] == "NONE"
    assert "authorizerId" not in got
    assert got["requestParameters"] == {"method.request.path.proxy": True}


def test_create_resource_refuses_a_name_its_parent_has(api):
    # Rule 26. Plain moto makes a second /{proxy+} beside the first.
    apigw, api_id, root, proxy = api
    with pytest.raises(ClientError) as err:
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["Error"]["Message"] == \
        "Another resource with the same parent already has this name: {proxy+}"
    assert [r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/{proxy+}"] == [proxy]
    # The same name under another parent is another resource.
    orders = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    assert apigw.create_resource(restApiId=api_id, parentId=orders, pathPart="orders")["path"] == "/orders/orders"


def test_update_resource_and_deployment(api):
    apigw, api_id, root, proxy = api
    child = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    out = apigw.update_resource(restApiId=api_id, resourceId=child,
                                patchOperations=[{"op": "replace", "path": "/pathPart", "value": "items"}])
    assert out["path"] == "/items"
    assert apigw.get_resource(restApiId=api_id, resourceId=child)["pathPart"] == "items"

    apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="MOCK")
    dep = apigw.create_deployment(restApiId=api_id, stageName="prod", description="v1")["id"]
    apigw.update_deployment(restApiId=api_id, deploymentId=dep,
                            patchOperations=[{"op": "replace", "path": "/description", "value": "v2"}])
    assert apigw.get_deployment(restApiId=api_id, deploymentId=dep)["description"] == "v2"


def test_update_vpc_link_name_and_refuses_target_change(emu):
    apigw = emu.client("apigateway", CONSUMER)
    link = apigw.create_vpc_link(name="a", targetArns=["arn:aws:elasticloadbalancing:us-east-1:111111111111:"
                                                       "loadbalancer/net/none/0123456789abcdef"])
    out = apigw.update_vpc_link(vpcLinkId=link["id"], patchOperations=[
        {"op": "replace", "path": "/name", "value": "b"},
        {"op": "replace", "path": "/description", "value": "d"},
    ])
    assert (out["name"], out["description"]) == ("b", "d")
    assert apigw.get_vpc_link(vpcLinkId=link["id"])["name"] == "b"
    with pytest.raises(ClientError) as err:
        apigw.update_vpc_link(vpcLinkId=link["id"], patchOperations=[
            {"op": "add", "path": "/targetArns", "value": "arn:aws:elasticloadbalancing:x"}])
    assert err.value.response["Error"]["Message"] == "Target arns are not allowed to be changed/added."


def test_update_rest_api_vpc_endpoint_ids(emu):
    apigw = emu.client("apigateway", PROVIDER)
    api_id = apigw.create_rest_api(
        name="private", endpointConfiguration={"types": ["PRIVATE"], "vpcEndpointIds": ["vpce-aaa"]})["id"]
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "add", "path": "/endpointConfiguration/vpcEndpointIds", "value": "vpce-bbb"}])
    assert apigw.get_rest_api(restApiId=api_id)["endpointConfiguration"] == {
        "types": ["PRIVATE"], "vpcEndpointIds": ["vpce-aaa", "vpce-bbb"]}
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/endpointConfiguration/vpcEndpointIds/vpce-aaa", "value": "vpce-ccc"},
        {"op": "remove", "path": "/endpointConfiguration/vpcEndpointIds", "value": "vpce-bbb"}])
    assert apigw.get_rest_api(restApiId=api_id)["endpointConfiguration"] == {
        "types": ["PRIVATE"], "vpcEndpointIds": ["vpce-ccc"]}


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123"}}},
    ],
}


def _decode(stored: str) -> dict:
    """What a client must do with API Gateway's policy string."""
    return json.loads(stored.replace('\\"', '"').replace("\\/", "/"))


def test_policy_stored_escaped_with_full_arns(emu):
    apigw = emu.client("apigateway", PROVIDER)
    api_id = apigw.create_rest_api(name="pol", endpointConfiguration={"types": ["PRIVATE"]},
                                   policy=json.dumps(POLICY))["id"]
    stored = apigw.get_rest_api(restApiId=api_id)["policy"]
    assert stored.startswith('{\\"Version\\":\\"2012-10-17\\"')
    assert f"arn:aws:execute-api:us-east-1:{PROVIDER}:{api_id}\\/*" in stored
    doc = _decode(stored)
    assert doc["Statement"][1]["Condition"] == {"StringNotEquals": {"aws:SourceVpce": "vpce-0123"}}

    changed = json.loads(json.dumps(POLICY))
    changed["Statement"][1]["Condition"]["StringNotEquals"]["aws:SourceVpce"] = ["vpce-0123", "vpce-0456"]
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": json.dumps(changed)}])
    doc = _decode(apigw.get_rest_api(restApiId=api_id)["policy"])
    assert doc["Statement"][1]["Condition"]["StringNotEquals"]["aws:SourceVpce"] == ["vpce-0123", "vpce-0456"]
    assert doc["Statement"][0]["Resource"] == f"arn:aws:execute-api:us-east-1:{PROVIDER}:{api_id}/*"

    # Sending back what GetRestApi returned (escaped) is accepted too.
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": apigw.get_rest_api(restApiId=api_id)["policy"]}])
    assert _decode(apigw.get_rest_api(restApiId=api_id)["policy"]) == doc

    with pytest.raises(ClientError) as err:
        apigw.update_rest_api(restApiId=api_id, patchOperations=[
            {"op": "replace", "path": "/policy", "value": "{not json"}])
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_put_rest_api_policy(emu):
    apigw = emu.client("apigateway", PROVIDER)
    api_id = apigw.create_rest_api(name="put", endpointConfiguration={"types": ["PRIVATE"]})["id"]
    doc = {"openapi": "3.0.1", "info": {"title": "put", "version": "1"}, "paths": {},
           "x-amazon-apigateway-policy": POLICY}
    apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(doc).encode())
    stored = _decode(apigw.get_rest_api(restApiId=api_id)["policy"])
    assert stored["Statement"][0]["Resource"] == f"arn:aws:execute-api:us-east-1:{PROVIDER}:{api_id}/*"


def test_delete_unknown_rest_api_is_not_found(emu):
    apigw = emu.client("apigateway", CONSUMER)
    with pytest.raises(ClientError) as err:
        apigw.delete_rest_api(restApiId="doesnotexist")
    assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_private_api_needs_a_policy_to_deploy(emu):
    apigw = emu.client("apigateway", PROVIDER)
    api_id = apigw.create_rest_api(name="no-policy", endpointConfiguration={"types": ["PRIVATE"]})["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=api_id, stageName="prod")
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert "resource policy" in err.value.response["Error"]["Message"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
              "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": json.dumps(policy)}])
    assert apigw.create_deployment(restApiId=api_id, stageName="prod")["id"]
