"""Rule 9: injected server errors, throttling and dropped connections, per
service, switched over the control endpoint."""

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

ACCOUNT = "151515151515"

CALLS = {
    "ec2": lambda emu: emu.client("ec2", ACCOUNT).describe_vpcs(),
    "elasticloadbalancing": lambda emu: emu.client("elbv2", ACCOUNT).describe_load_balancers(),
    "apigateway": lambda emu: emu.client("apigateway", ACCOUNT).get_rest_apis(),
    "sts": lambda emu: emu.client("sts", ACCOUNT).get_caller_identity(),
}

THROTTLE = {
    "ec2": (503, "RequestLimitExceeded"),
    "elasticloadbalancing": (400, "Throttling"),
    "apigateway": (429, "TooManyRequestsException"),
    "sts": (400, "Throttling"),
}


def _error(call):
    with pytest.raises(ClientError) as err:
        call()
    resp = err.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


@pytest.mark.parametrize("service", sorted(CALLS))
def test_throttle_and_error_per_service(emu, service):
    call = CALLS[service]
    call(emu)  # credentials first, while faults are off
    emu.config(faults={service: {"throttle_rate": 1.0}})
    assert _error(lambda: call(emu)) == THROTTLE[service]
    # other services are unaffected
    other = next(s for s in CALLS if s != service and s != "sts")
    CALLS[other](emu)

    emu.config(faults={service: {"throttle_rate": 0.0, "error_rate": 1.0}})
    status, code = _error(lambda: call(emu))
    assert status in (500, 503)
    assert code in ("InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException")

    emu.config(faults={service: {"error_rate": 0.0}})
    call(emu)


def test_dropped_connection(emu):
    apigw = emu.client("apigateway", ACCOUNT)
    apigw.get_rest_apis()
    emu.config(faults={"apigateway": {"drop_rate": 1.0}})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        apigw.get_rest_apis()
    emu.config(faults={"apigateway": {"drop_rate": 0.0}})
    apigw.get_rest_apis()


def test_partial_rate_is_random(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    ec2.describe_vpcs()
    emu.config(faults={"ec2": {"error_rate": 0.5}})
    failures = 0
    for _ in range(40):
        try:
            ec2.describe_vpcs()
        except ClientError:
            failures += 1
    assert 5 <= failures <= 35


# --- rule 16: a response lost after AWS acted; operations and limit ---------------------------

def _faults(emu):
    return emu._call("GET", "/_xapi/faults")


def _requests(emu, since=0):
    return emu._call("GET", f"/_xapi/requests?since={since}")


def test_drop_after_the_call_took_effect(emu):
    """drop_after_rate: moto acts, then the connection closes without an answer.
    Plain moto has no fault injection at all: the call succeeds."""
    ec2 = emu.client("ec2", ACCOUNT)
    vpc = ec2.create_vpc(CidrBlock="10.15.0.0/16")["Vpc"]["VpcId"]
    before, since = _faults(emu), _requests(emu)["next"]
    emu.config(faults={"ec2": {"drop_after_rate": 1.0, "operations": ["CreateSecurityGroup"], "limit": 1}})
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        ec2.create_security_group(GroupName="lost-answer", Description="d", VpcId=vpc)
    # the group exists although the client never heard of it
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "group-name", "Values": ["lost-answer"]}])
    assert len(found["SecurityGroups"]) == 1
    # the limit is used up: the retry reaches EC2 and meets the first attempt's group
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="lost-answer", Description="d", VpcId=vpc)
    assert err.value.response["Error"]["Code"] == "InvalidGroup.Duplicate"

    after = _faults(emu)
    assert after["ec2"]["drop_after"] == before["ec2"]["drop_after"] + 1
    key = "ec2:CreateSecurityGroup:drop_after"
    assert after["by_operation"][key] == before["by_operation"].get(key, 0) + 1
    calls = [r for r in _requests(emu, since)["requests"] if r["operation"] == "CreateSecurityGroup"]
    assert [(r["status"], r["fault"]) for r in calls] == [(None, "drop_after"), (400, None)]
    assert calls[0]["params"]["GroupName"] == "lost-answer" and calls[0]["account"] == ACCOUNT


def test_drop_after_with_sdk_retries(emu):
    """The SDK retries a dropped connection by itself; the retry meets the result
    of the attempt whose answer was lost. Plain moto: the group is created once
    and the call succeeds."""
    ec2 = emu.client("ec2", ACCOUNT, retries=True)
    vpc = ec2.create_vpc(CidrBlock="10.15.0.0/16")["Vpc"]["VpcId"]
    emu.config(faults={"ec2": {"drop_after_rate": 1.0, "operations": ["CreateSecurityGroup"], "limit": 1}})
    with pytest.raises(ClientError) as err:
        ec2.create_security_group(GroupName="retried", Description="d", VpcId=vpc)
    assert err.value.response["Error"]["Code"] == "InvalidGroup.Duplicate"


def test_operations_and_limit(emu):
    """Only the listed operations are faulted, and at most ``limit`` faults from the
    moment the limit is set. Plain moto has no fault injection."""
    ec2 = emu.client("ec2", ACCOUNT)
    ec2.describe_vpcs()
    emu.config(faults={"ec2": {"throttle_rate": 1.0, "operations": ["DescribeVpcs"], "limit": 2}})
    ec2.describe_subnets()  # not listed
    for _ in range(2):
        assert _error(lambda: ec2.describe_vpcs()) == THROTTLE["ec2"]
    ec2.describe_vpcs()  # limit used up
    emu.config(faults={"ec2": {"limit": 1}})  # set again: a new budget
    assert _error(lambda: ec2.describe_vpcs()) == THROTTLE["ec2"]
    ec2.describe_vpcs()

    # API Gateway operations are named as in its API reference (by method + path)
    apigw = emu.client("apigateway", ACCOUNT)
    apigw.get_rest_apis()
    emu.config(faults={"apigateway": {"error_rate": 1.0, "operations": ["GetRestApis"]}})
    status, _code = _error(lambda: apigw.get_rest_apis())
    assert status in (500, 503)
    apigw.get_vpc_links()
    counts = _faults(emu)
    assert counts["by_operation"]["apigateway:GetRestApis:error"] >= 1
    assert "apigateway:GetVpcLinks:error" not in counts["by_operation"]


def test_latency_holds_the_answer_after_aws_acted(emu):
    import time

    api = emu.client("apigateway", ACCOUNT)
    api.get_rest_apis()  # credentials first
    scale = emu.config()["time_scale"]
    emu.config(latency={"apigateway:CreateRestApi": 1.0 / scale})
    t0 = time.monotonic()
    made = api.create_rest_api(name="slow")
    assert time.monotonic() - t0 >= 1.0
    # Other operations answer at once, and the API existed before its answer came.
    t0 = time.monotonic()
    assert made["id"] in [a["id"] for a in api.get_rest_apis()["items"]]
    assert time.monotonic() - t0 < 1.0

