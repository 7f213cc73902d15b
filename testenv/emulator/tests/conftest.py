"""One emulator for the whole test session, on a free loopback port, with a
small time scale so every wait and quota period is short.

Tests get per-account clients through AssumeRole (moto isolates accounts by
the assumed role's account id). AssumeRole needs the role to exist and to
trust the caller, so ``Emulator.ensure_role`` creates it over the control
endpoint first (the one helper tests make roles with). Each test module uses
its own accounts or names, so tests do not see each other's resources; the
settings are put back after every test.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config

EMU_DIR = pathlib.Path(__file__).resolve().parents[1]
TIME_SCALE = 0.05
REGION = "us-east-1"
CONSUMER = "111111111111"
PROVIDER = "222222222222"
DEFAULT_CALLER_ACCOUNT = "123456789012"  # moto's account for keys it does not know, e.g. "testing"
TRUST_DEFAULT_CALLER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_CALLER_ACCOUNT}:root"},
                   "Action": ["sts:AssumeRole", "sts:TagSession"]}],
}


def start_emulator(*extra: str, log_name: str = "emulator",
                   env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    log_dir = pathlib.Path(tempfile.gettempdir()) / "xapi-emulator-tests"
    log_dir.mkdir(exist_ok=True)
    log = open(log_dir / f"{log_name}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "xapi_emulator", "--host", "127.0.0.1", "--port", "0",
         "--exit-on-stdin-close", *extra],
        cwd=EMU_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", **(env or {})},
    )
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}; see {log.name}")
    return proc, line.split(" ", 1)[1]


def stop_emulator(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url
        self._creds: dict[str, dict[str, str]] = {}

    # control endpoint
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def config(self, **patch: Any) -> dict[str, Any]:
        return self._call("POST", "/_xapi/config", patch) if patch else self._call("GET", "/_xapi/config")

    def ensure_role(self, account: str, name: str = "x", trust_policy: dict[str, Any] | None = None) -> str:
        """Create the role (or replace its trust policy); by default it trusts
        the default caller (key "testing"). Returns the role ARN."""
        body = {"account": account, "name": name, "trust_policy": trust_policy or TRUST_DEFAULT_CALLER}
        return self._call("POST", "/_xapi/iam/roles", body)["arn"]

    def sessions(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_xapi/sts/sessions")

    # AWS clients
    def credentials(self, account: str) -> dict[str, str]:
        if account not in self._creds:
            self.ensure_role(account)
            sts = boto3.client("sts", endpoint_url=self.url, region_name=REGION,
                               aws_access_key_id="testing", aws_secret_access_key="testing")
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="tests")["Credentials"]
            self._creds[account] = {"aws_access_key_id": c["AccessKeyId"],
                                    "aws_secret_access_key": c["SecretAccessKey"],
                                    "aws_session_token": c["SessionToken"]}
        return self._creds[account]

    def client(self, service: str, account: str, retries: bool = False) -> Any:
        config = Config(retries={"total_max_attempts": 6 if retries else 1, "mode": "standard"},
                        connect_timeout=5, read_timeout=15)
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, config=config,
                            **self.credentials(account))


@pytest.fixture(scope="session")
def emu() -> Emulator:
    # EC2 eventual consistency off by default: most tests use a resource right
    # after creating it; test_consistency.py switches it on.
    proc, url = start_emulator("--time-scale", str(TIME_SCALE), "--no-quotas",
                               env={"XAPI_EMU_WAIT_EC2_CONSISTENCY": "0"})
    try:
        yield Emulator(url)
    finally:
        stop_emulator(proc)


@pytest.fixture(autouse=True)
def _restore_settings(request: pytest.FixtureRequest) -> None:
    """Tests may change settings; put the session's baseline back afterwards."""
    if "emu" not in request.fixturenames:
        yield
        return
    emu = request.getfixturevalue("emu")
    baseline = emu.config()
    yield
    emu.config(**baseline)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def make_vpc(ec2: Any, cidr: str, subnets: list[tuple[str, str]]) -> tuple[str, list[str]]:
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=c, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for c, az in subnets
    ]
    return vpc_id, subnet_ids


def make_nlb(elbv2: Any, name: str, subnet_ids: list[str]) -> str:
    return elbv2.create_load_balancer(Name=name, Subnets=subnet_ids, Scheme="internal",
                                      Type="network")["LoadBalancers"][0]["LoadBalancerArn"]


def main_route_table(ec2: Any, vpc_id: str) -> str:
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                {"Name": "association.main", "Values": ["true"]}])
    return tables["RouteTables"][0]["RouteTableId"]


def peer_vpcs(requester: Any, accepter: Any, vpc_id: str, peer_vpc_id: str, peer_account: str,
              routes: tuple[str, str] | None = None) -> str:
    """Peer two VPCs (requester's account asks, accepter's accepts); with
    ``routes`` = (requester's route to the peer, accepter's route back), add
    them to both main route tables. Returns the peering connection id."""
    pcx = requester.create_vpc_peering_connection(VpcId=vpc_id, PeerVpcId=peer_vpc_id, PeerOwnerId=peer_account,
                                                  PeerRegion=REGION)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    accepter.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    if routes:
        for ec2, vpc, cidr in ((requester, vpc_id, routes[0]), (accepter, peer_vpc_id, routes[1])):
            ec2.create_route(RouteTableId=main_route_table(ec2, vpc), DestinationCidrBlock=cidr,
                             VpcPeeringConnectionId=pcx)
    return pcx
