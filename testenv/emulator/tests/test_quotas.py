"""Rules 8 and 10: API Gateway control-plane quotas per account+region, scaled
by the time scale, switchable over the control endpoint."""

import time

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "999999999999"


def _throttled(call):
    with pytest.raises(ClientError) as err:
        call()
    resp = err.value.response
    assert resp["Error"]["Code"] == "TooManyRequestsException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert int(resp["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1


def _api_with_method(apigw):
    api_id = apigw.create_rest_api(name="q")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    return api_id


def test_create_rest_api_and_deployment_quotas_scale_with_time(emu):
    apigw = emu.client("apigateway", ACCOUNT)
    api_id = _api_with_method(apigw)
    emu.config(quotas=True, time_scale=0.1)  # CreateRestApi every 0.3 s, CreateDeployment every 0.5 s
    apigw.create_rest_api(name="q1")
    _throttled(lambda: apigw.create_rest_api(name="q2"))
    time.sleep(0.35)
    apigw.create_rest_api(name="q2")

    apigw.create_deployment(restApiId=api_id, stageName="prod")
    _throttled(lambda: apigw.create_deployment(restApiId=api_id, stageName="prod"))
    time.sleep(0.55)
    apigw.create_deployment(restApiId=api_id, stageName="prod")


def test_delete_rest_api_quota(emu):
    emu.config(quotas=False)
    apigw = emu.client("apigateway", ACCOUNT)
    ids = [apigw.create_rest_api(name=f"d{i}")["id"] for i in range(3)]
    emu.config(quotas=True, time_scale=0.02)  # DeleteRestApi every 0.6 s
    apigw.delete_rest_api(restApiId=ids[0])
    _throttled(lambda: apigw.delete_rest_api(restApiId=ids[1]))
    time.sleep(0.65)
    apigw.delete_rest_api(restApiId=ids[1])


def test_account_wide_rate_and_burst(emu):
    emu.config(quotas=True, time_scale=1.0)  # 10/s, burst 40
    apigw = emu.client("apigateway", "121212121212")
    ok, throttled, start = 0, 0, time.monotonic()
    for _ in range(80):
        try:
            apigw.get_rest_apis()
            ok += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "TooManyRequestsException"
            throttled += 1
    elapsed = time.monotonic() - start
    assert throttled > 0
    assert 40 <= ok <= 40 + 10 * elapsed + 1
    # another account has its own bucket
    emu.client("apigateway", "131313131313").get_rest_apis()
    # and other services are not limited
    emu.client("ec2", "121212121212").describe_vpcs()


def test_quotas_can_be_switched_off(emu):
    emu.config(quotas=False, time_scale=1.0)
    apigw = emu.client("apigateway", "141414141414")
    for i in range(3):
        apigw.create_rest_api(name=f"off{i}")
    emu.config(quotas=True)
    apigw.create_rest_api(name="on0")
    _throttled(lambda: apigw.create_rest_api(name="on1"))


def _until_throttled(call, limit=30):
    """Call until refused; return (calls admitted, seconds taken)."""
    ok, start = 0, time.monotonic()
    for _ in range(limit):
        try:
            call()
            ok += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "TooManyRequestsException"
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            return ok, time.monotonic() - start
    raise AssertionError(f"{limit} calls admitted, none refused")


def test_get_resources_quota(emu):
    """GetResources: 5 requests every 2 s per account and region. Plain moto
    never throttles."""
    apigw = emu.client("apigateway", "232323232323")
    api_id = apigw.create_rest_api(name="r")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    emu.config(quotas=True, time_scale=0.5)  # 5 every 1 s
    ok, elapsed = _until_throttled(lambda: apigw.get_resources(restApiId=api_id))
    assert 5 <= ok <= 5 + 5 * elapsed + 1
    # GetResource (a single resource) is not limited by it
    apigw.get_resource(restApiId=api_id, resourceId=root)
    time.sleep(1.05)  # one scaled period: the bucket is full again
    for _ in range(5):
        apigw.get_resources(restApiId=api_id)


def test_create_and_delete_resource_quotas(emu):
    """CreateResource and DeleteResource: 5 requests per second each, per
    account and region. Plain moto never throttles."""
    apigw = emu.client("apigateway", "242424242424")
    api_id = apigw.create_rest_api(name="r")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    doomed = [apigw.create_resource(restApiId=api_id, parentId=root, pathPart=f"d{i}")["id"] for i in range(25)]
    names = iter(f"p{i}" for i in range(100))

    emu.config(quotas=True, time_scale=1.0)
    ok, elapsed = _until_throttled(
        lambda: apigw.create_resource(restApiId=api_id, parentId=root, pathPart=next(names)))
    assert 5 <= ok <= 5 + 5 * elapsed + 1
    time.sleep(1.05)
    for _ in range(5):
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart=next(names))

    # DeleteResource has its own bucket, full although CreateResource's is empty
    ok, elapsed = _until_throttled(lambda: apigw.delete_resource(restApiId=api_id, resourceId=doomed.pop()),
                                   limit=15)
    assert 5 <= ok <= 5 + 5 * elapsed + 1
    time.sleep(1.05)
    for _ in range(5):
        apigw.delete_resource(restApiId=api_id, resourceId=doomed.pop())
