"""Rules 13 and 14: CreateDeployment needs an integration on every method;
resource policies and tags within API Gateway's size limits."""

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "262626262626"


@pytest.fixture
def apigw(emu):
    return emu.client("apigateway", ACCOUNT)


def _bad_request(call, text=None):
    with pytest.raises(ClientError) as err:
        call()
    resp = err.value.response
    assert resp["Error"]["Code"] == "BadRequestException", resp["Error"]
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    if text is not None:
        assert resp["Error"]["Message"] == text
    return resp["Error"]["Message"]


def _api(apigw, **kwargs):
    api_id = apigw.create_rest_api(name="limits", **kwargs)["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    return api_id, root


def _method(apigw, api_id, resource, verb, integrated=True):
    apigw.put_method(restApiId=api_id, resourceId=resource, httpMethod=verb, authorizationType="NONE")
    if integrated:
        apigw.put_integration(restApiId=api_id, resourceId=resource, httpMethod=verb, type="MOCK")


# --- rule 13 -----------------------------------------------------------------------

def test_deployment_refused_while_one_method_lacks_an_integration(apigw):
    """Plain moto deploys as long as *some* method has an integration."""
    api_id, root = _api(apigw)
    _method(apigw, api_id, root, "GET")
    child = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    _method(apigw, api_id, child, "GET")
    _method(apigw, api_id, child, "POST", integrated=False)
    _bad_request(lambda: apigw.create_deployment(restApiId=api_id, stageName="prod"),
                 "No integration defined for method")
    assert apigw.get_deployments(restApiId=api_id)["items"] == []
    apigw.put_integration(restApiId=api_id, resourceId=child, httpMethod="POST", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName="prod")


def test_deployment_refused_when_no_method_has_an_integration(apigw):
    """Plain moto refuses with code NotFoundException (HTTP 400); AWS's code is
    BadRequestException."""
    api_id, root = _api(apigw)
    _method(apigw, api_id, root, "GET", integrated=False)
    _bad_request(lambda: apigw.create_deployment(restApiId=api_id, stageName="prod"),
                 "No integration defined for method")


# --- rule 14: policy length ---------------------------------------------------------------

def _policy_of_length(n):
    """A valid policy padded with spaces to exactly n characters."""
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]})
    assert len(doc) < n
    return doc[:-1] + " " * (n - len(doc)) + "}"


def test_policy_longer_than_8192_characters_is_refused(apigw):
    """Plain moto stores a policy of any length."""
    assert json.loads(_policy_of_length(8193))
    _bad_request(lambda: apigw.create_rest_api(name="big", policy=_policy_of_length(8193)))
    assert not [a for a in apigw.get_rest_apis()["items"] if a["name"] == "big"]
    api_id, _root = _api(apigw, policy=_policy_of_length(8192))  # counted as sent: whitespace counts

    before = apigw.get_rest_api(restApiId=api_id)["policy"]
    _bad_request(lambda: apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/description", "value": "changed"},
        {"op": "replace", "path": "/policy", "value": _policy_of_length(8193)}]))
    after = apigw.get_rest_api(restApiId=api_id)
    assert after["policy"] == before and after.get("description") != "changed"
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": _policy_of_length(8192)}])


def test_put_rest_api_policy_length(apigw):
    """PutRestApi's x-amazon-apigateway-policy is measured compactly serialised.
    Plain moto accepts any length."""
    api_id, _root = _api(apigw)
    statement = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}

    def spec(n_statements):
        return json.dumps({
            "openapi": "3.0.1", "info": {"title": "limits", "version": "1"}, "paths": {},
            "x-amazon-apigateway-policy": {"Version": "2012-10-17", "Statement": [statement] * n_statements},
        })

    _bad_request(lambda: apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=spec(120)))
    assert apigw.get_rest_api(restApiId=api_id).get("policy") in (None, "")
    apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=spec(2))
    assert apigw.get_rest_api(restApiId=api_id)["policy"]


# --- rule 14: tags -------------------------------------------------------------------------

@pytest.mark.parametrize("tags", [{"k": "v" * 257}, {"k" * 129: "v"}, {"aws:team": "blue"}])
def test_create_rest_api_refuses_bad_tags(apigw, tags):
    """Tag value up to 256 characters, key up to 128 and not 'aws:…'. Plain
    moto stores any tag."""
    _bad_request(lambda: apigw.create_rest_api(name="tagged", tags=tags))


def test_tag_limits_on_vpc_link_and_tag_resource(apigw):
    """CreateVpcLink and TagResource check tags the same way. Plain moto
    accepts them."""
    ok = {"k" * 128: "v" * 256}
    assert apigw.create_rest_api(name="tagged", tags=ok)["tags"] == ok
    target = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/net/none/0123456789abcdef"
    _bad_request(lambda: apigw.create_vpc_link(name="l", targetArns=[target], tags={"k": "v" * 257}))
    assert apigw.get_vpc_links()["items"] == []
    apigw.create_vpc_link(name="l", targetArns=[target], tags=ok)

    api_id, root = _api(apigw)
    _method(apigw, api_id, root, "GET")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    stage_arn = f"arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/prod"
    _bad_request(lambda: apigw.tag_resource(resourceArn=stage_arn, tags={"k": "v" * 257}))
    apigw.tag_resource(resourceArn=stage_arn, tags={"k": "v" * 256})
    assert apigw.get_tags(resourceArn=stage_arn)["tags"] == {"k": "v" * 256}
