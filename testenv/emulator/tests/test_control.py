"""The control endpoint, and moto's own /moto-api/ still answering."""

import base64
import json
import urllib.error
import urllib.request

import pytest


def _request(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def test_get_and_merge_config(emu):
    config = emu.config()
    assert set(config) == {"time_scale", "waits", "quotas", "faults", "latency"}
    assert config["waits"]["vpc_endpoint_pending"] == 10
    merged = emu.config(waits={"nlb_provisioning": 7}, faults={"sts": {"error_rate": 0.25}})
    assert merged["waits"]["nlb_provisioning"] == 7
    assert merged["waits"]["vpc_link_pending"] == config["waits"]["vpc_link_pending"]
    assert merged["faults"]["sts"] == {"error_rate": 0.25, "throttle_rate": 0.0, "drop_rate": 0.0,
                                       "drop_after_rate": 0.0, "operations": None, "limit": None}
    assert emu.config() == merged


@pytest.mark.parametrize("bad", [{"time_scale": 0}, {"waits": {"nope": 1}}, {"faults": {"s3": {}}},
                                 {"faults": {"ec2": {"error_rate": 2}}}, {"quotas": "yes"}, {"other": 1},
                                 {"faults": {"ec2": {"drop_rate": 0.6, "drop_after_rate": 0.6}}},
                                 {"faults": {"ec2": {"operations": ["NoSuchOperation"]}}},
                                 {"faults": {"ec2": {"operations": "CreateVpc"}}},
                                 {"faults": {"ec2": {"limit": -1}}}, {"faults": {"ec2": {"limit": 1.5}}},
                                 {"waits": {"ec2_consistency": -1}},
                                 {"latency": {"apigateway:NoSuchOperation": 1}},
                                 {"latency": {"apigateway:CreateDeployment": -1}}, {"latency": [1]}])
def test_invalid_config_is_refused_whole(emu, bad):
    before = emu.config()
    with pytest.raises(urllib.error.HTTPError) as err:
        _request(emu, "POST", "/_xapi/config", bad)
    assert err.value.code == 400
    assert "error" in json.loads(err.value.read())
    assert emu.config() == before


def test_moto_api_and_reset(emu):
    # (GET /moto-api/data.json works too, but builds every moto backend: seconds)
    assert _request(emu, "POST", "/moto-api/recorder/start-recording", {})[0] == 200
    ec2 = emu.client("ec2", "161616161616")
    vpc = ec2.create_vpc(CidrBlock="10.16.0.0/16")["Vpc"]["VpcId"]
    assert _request(emu, "POST", "/moto-api/recorder/stop-recording", {})[0] == 200
    status, body = _request(emu, "GET", "/moto-api/recorder/download-recording")
    assert status == 200 and b"10.16.0.0" in base64.b64decode(json.loads(body.splitlines()[-1])["body"])
    emu.config(time_scale=3.0)
    status, body = _request(emu, "POST", "/_xapi/reset", {})
    assert status == 200
    assert json.loads(body)["time_scale"] == 0.05  # the startup value
    emu._creds.clear()  # moto forgot the assumed roles: assume again
    ec2 = emu.client("ec2", "161616161616")
    assert vpc not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    status, _ = _request(emu, "POST", "/moto-api/reset", {})
    assert status == 200
    emu._creds.clear()
