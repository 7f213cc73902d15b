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
