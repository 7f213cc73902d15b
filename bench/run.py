#!/usr/bin/env python3
"""Benchmarks against the test ground; each figure is a ratio to its bound (BENCHMARKS.md).

    ./dev bench [--runs 3] [--factor 0.1] [--objects 100] [--scale 0.05] [--objects-memory 1000]
                [--only path,overhead,many,memory]

Uses its own ground (``./dev bench`` sets XAPI_STATE_DIR), the release binary (the Dockerfile's
build, shared with the image check), and the ground's kubectl. Every measurement has its own
namespace and controller process, checks its own preconditions, and prints "not measured: why"
instead of a figure that did not hold. Calls are counted from the emulator's request log, not from
the controller's own metrics.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cross-account-api-operator"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "release" / "cross-account-api-operator"
STATE = Path(os.environ.get("XAPI_STATE_DIR", ROOT / ".testenv"))

# AWS's typical durations (seconds): interface endpoint pending, NLB provisioning, REST VPC link
# PENDING. The emulator runs them multiplied by the factor given.
AWS_TYPICAL = {"vpc_endpoint_pending": 90.0, "nlb_provisioning": 180.0, "vpc_link_pending": 240.0}
ZERO_WAITS = {k: 0.0 for k in ("vpc_endpoint_pending", "vpc_endpoint_deleting", "nlb_provisioning",
                               "vpc_link_pending", "vpc_link_deleting", "target_initial",
                               "target_draining", "ec2_consistency")}
# API Gateway's control-plane quotas per account (seconds per call at time scale 1).
CREATE_REST_API_PERIOD, CREATE_DEPLOYMENT_PERIOD, DELETE_REST_API_PERIOD, ACCOUNT_RPS = 3.0, 5.0, 30.0, 10.0
READS = ("Get", "Describe", "List")


class NotMeasured(Exception):
    """A precondition of the measurement did not hold: no figure is printed."""


def sh(*args: str, inp: str | None = None, check: bool = True) -> str:
    return subprocess.run(args, input=inp, text=True, capture_output=True, check=check).stdout


def kubectl(*args: str, inp: str | None = None, check: bool = True) -> str:
    return sh(os.environ.get("XAPI_KUBECTL", "kubectl"), *args, inp=inp, check=check)


def ground_env() -> dict[str, str]:
    path = sh(sys.executable, str(ROOT / "testenv/ground.py"), "up").strip()
    env = {}
    for line in open(path):
        m = re.match(r"^export ([A-Z_0-9]+)=(.*)$", line.strip())
        if m:
            env[m.group(1)] = m.group(2).strip('"')
    return env


# --- the emulator -------------------------------------------------------------------------------

def emulator(path: str, body: dict | None = None) -> dict:
    url = os.environ["AWS_ENDPOINT_URL"] + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=60))


_STARTUP_WAITS: dict[str, float] = {}


def configure(scale: float, waits: dict[str, float], quotas: bool = True) -> None:
    """The ground's own waits, with `waits` instead where given, all multiplied by `scale`."""
    if not _STARTUP_WAITS:
        _STARTUP_WAITS.update(emulator("/_xapi/config")["waits"])
    emulator("/_xapi/config", {"time_scale": scale, "waits": {**_STARTUP_WAITS, **waits}, "quotas": quotas})


def log_position() -> int:
    return int(emulator("/_xapi/requests?since=999999999999").get("next", 0))


def calls_since(seq: int) -> list[dict]:
    out: list[dict] = []
    while True:
        page = emulator(f"/_xapi/requests?since={seq}")
        entries = page.get("requests", [])
        if entries and entries[0]["seq"] > seq:
            raise NotMeasured(f"the emulator's request log dropped entries {seq}..{entries[0]['seq'] - 1}")
        out.extend(entries)
        nxt = int(page.get("next", seq))
        if not entries or nxt == seq:
            return out
        seq = nxt


def is_read(op: str) -> bool:
    return op.startswith(READS)


def operator_calls(entries: list[dict]) -> list[dict]:
    """The controller's calls: those signed by the operator's AssumeRole sessions."""
    return [e for e in entries if e.get("session") and e["session"] not in ("xapi-seed", "xapi-tests")
            and e.get("service") != "sts"]


# --- objects and the controller -----------------------------------------------------------------

_EXAMPLE: dict | None = None


def render(name: str, probe: bool = True) -> dict:
    global _EXAMPLE
    if _EXAMPLE is None:
        text = sh(sys.executable, str(ROOT / "testenv/render.py"), str(STATE / "env"), str(ROOT / "examples/orders.yaml"))
        _EXAMPLE = json.loads(kubectl("create", "--dry-run=client", "-o", "json", "-f", "-", inp=text))
    obj = json.loads(json.dumps(_EXAMPLE))
    obj["metadata"] = {"name": name}
    obj["spec"]["provider"]["privateApi"]["name"] = f"bench-{name}"
    if not probe:
        obj["spec"]["probe"] = {"enabled": False}
    return obj


def image_env() -> dict[str, str]:
    """What the image's runtime stage sets with `ENV`: the bench runs the binary as the image does."""
    env = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            env = {}
        elif line.startswith("ENV "):
            key, _, value = line[len("ENV "):].strip().partition("=")
            env[key] = value
    return env


class Controller:
    def __init__(self, namespace: str, resync: str, quota_scale: float):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--namespace", namespace, "--resync-interval", resync,
             "--metrics-addr", f"127.0.0.1:{self.port}", "--apigateway-quota-scale", str(quota_scale)],
            env={**os.environ, **image_env(), "RUST_LOG": "warn"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metrics(self) -> dict[str, float]:
        for _ in range(100):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise NotMeasured("the controller's /metrics did not answer")
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
        return out

    def reconciles(self, result: str) -> float:
        return self.metrics().get(f'xapi_reconciles_total{{result="{result}"}}', 0.0)

    def rss_mib(self, field: str = "VmHWM") -> float:
        """Peak RSS (`VmHWM`), or the current one (`VmRSS`)."""
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        raise NotMeasured(f"no {field}")

    def cpu_seconds(self) -> float:
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_NS = [0]


def namespace(name: str) -> str:
    _NS[0] += 1
    ns = f"bench-{name}-{os.getpid() % 10000}-{_NS[0]}"
    kubectl("create", "namespace", ns)
    # Granted both sides by the ground's AccountRoles (examples/account-roles.yaml).
    kubectl("label", "namespace", ns, "apigw.crossaccount.io/provider=granted", "apigw.crossaccount.io/consumer=granted")
    return ns


def apply(ns: str, objs: list[dict]) -> None:
    for i in range(0, len(objs), 100):
        kubectl("-n", ns, "apply", "-f", "-", inp=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs[i:i + 100]}))


def ready_count(ns: str) -> int:
    items = json.loads(kubectl("-n", ns, "get", "xapi", "-o", "json"))["items"]
    return sum(1 for o in items for c in o.get("status", {}).get("conditions", [])
               if c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == o["metadata"]["generation"])


def apply_until_ready(ns: str, objs: list[dict], timeout: float) -> float:
    """Applies `objs` and returns the seconds from the API server's first event about them to the
    event that shows the last one Ready (one watch, so kubectl's own start-up is not counted)."""
    template = '{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}'
    watch = subprocess.Popen([os.environ.get("XAPI_KUBECTL", "kubectl"), "-n", ns, "get", "xapi", "--watch-only",
                              "-o", f"jsonpath={template}"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the watch is established
        names = {o["metadata"]["name"] for o in objs}
        apply(ns, objs)
        first: float | None = None
        ready: set[str] = set()
        deadline = time.monotonic() + timeout
        assert watch.stdout is not None
        os.set_blocking(watch.stdout.fileno(), True)
        while ready != names:
            if time.monotonic() > deadline:
                raise NotMeasured(f"{len(ready)}/{len(names)} objects Ready within {timeout:.0f} s")
            line = watch.stdout.readline()
            if not line:
                raise NotMeasured("the watch ended")
            now = time.monotonic()
            name, _, status = line.strip().partition(" ")
            if name in names:
                first = first if first is not None else now
                if status == "True":
                    ready.add(name)
        assert first is not None
        return time.monotonic() - first
    finally:
        watch.kill()
        watch.wait()


def wait_all_ready(ns: str, n: int, timeout: float) -> None:
    """All `n` objects of `ns` Ready at their current generation."""
    out = subprocess.run([os.environ.get("XAPI_KUBECTL", "kubectl"), "-n", ns, "wait", "--for=condition=Ready", "xapi", "--all",
                          f"--timeout={int(timeout)}s"], capture_output=True, text=True)
    if out.returncode != 0 or ready_count(ns) != n:
        raise NotMeasured(f"not every object became Ready within {timeout:.0f} s ({ready_count(ns)}/{n})")


def wait_all_gone(ns: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not json.loads(kubectl("-n", ns, "get", "xapi", "-o", "json"))["items"]:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise NotMeasured(f"objects still there after {timeout:.0f} s")


def side_clients(env: dict[str, str], side: str, *services: str) -> list:
    """boto3 clients of `services` with one side's own role (PROVIDER or CONSUMER)."""
    import boto3  # the emulator's venv runs this script

    c = boto3.client("sts").assume_role(RoleArn=env[f"XAPI_{side}_ROLE_ARN"], RoleSessionName="xapi-tests",
                                        ExternalId=env[f"XAPI_{side}_EXTERNAL_ID"])["Credentials"]
    kw = dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
              aws_session_token=c["SessionToken"])
    return [boto3.client(s, **kw) for s in services]


def tagged_left(env: dict[str, str], ns: str) -> int:
    """Resources whose owner tag names an object of `ns`, read with each account's own role."""
    owner_key, prefix = "apigw.crossaccount.io/owner", f"{ns}/"

    def ours(tags: dict[str, str] | None) -> bool:
        return (tags or {}).get(owner_key, "").startswith(prefix)

    def as_dict(tags: list[dict] | None) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in tags or []}

    left = 0
    for side in ("PROVIDER", "CONSUMER"):
        ec2, elb, apigw = side_clients(env, side, "ec2", "elbv2", "apigateway")
        left += sum(1 for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                    if ours(as_dict(e.get("Tags"))) and e["State"].lower() not in ("deleted", "deleting"))
        left += sum(1 for g in ec2.describe_security_groups()["SecurityGroups"] if ours(as_dict(g.get("Tags"))))
        left += sum(1 for a in apigw.get_rest_apis(limit=500)["items"] if ours(a.get("tags")))
        left += sum(1 for v in apigw.get_vpc_links(limit=500)["items"] if ours(v.get("tags")))
        arns = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
        arns += [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]]
        for i in range(0, len(arns), 20):
            for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
                left += ours(as_dict(d.get("Tags")))
    return left


def subnet_room(env: dict[str, str]) -> int:
    """How many more objects the example's subnets hold: each object takes an address in every
    subnet of each side (its endpoint's ENIs, its NLB's), and AWS keeps 5 of each subnet."""
    import ipaddress

    room = None
    for side in ("PROVIDER", "CONSUMER"):
        (ec2,) = side_clients(env, side, "ec2")
        ids = [i.strip() for i in env[f"XAPI_{side}_SUBNET_IDS"].split(",") if i.strip()]
        for subnet in ec2.describe_subnets(SubnetIds=ids)["Subnets"]:
            used = len(ec2.describe_network_interfaces(
                Filters=[{"Name": "subnet-id", "Values": [subnet["SubnetId"]]}])["NetworkInterfaces"])
            free = ipaddress.IPv4Network(subnet["CidrBlock"]).num_addresses - 5 - used
            room = free if room is None else min(room, free)
    return room or 0


# --- the table ----------------------------------------------------------------------------------

@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    bound: float | None
    target: float | None  # None: a figure stated, with no target
    note: str = ""

    def cells(self) -> list[str]:
        if self.value is None:
            return [self.figure, "not measured", "", "", self.target_text(), "—", self.note]
        ratio = self.value / self.bound if self.bound else None
        shown = ratio if ratio is not None else self.value
        verdict = "stated" if self.target is None else "met" if shown <= self.target else "missed"
        bound = f"{self.bound:.1f} {self.unit}" if self.bound else "—"
        return [self.figure, f"{self.value:.2f} {self.unit}", bound, f"{ratio:.2f}" if ratio is not None else "—",
                self.target_text(), verdict, self.note]

    def target_text(self) -> str:
        return "—" if self.target is None else f"≤ {self.target:g}"


def emit(row: Row) -> None:
    print("| " + " | ".join(row.cells()) + " |", flush=True)


def spread(samples: list[float]) -> str:
    return f"median of {len(samples)}: min {min(samples):.1f}, max {max(samples):.1f}"


# --- measurements -------------------------------------------------------------------------------

def critical_path(factor: float, runs: int) -> None:
    """apply → Ready of one object ÷ AWS's own critical path (NLB active → VPC link AVAILABLE)."""
    waits = {k: v for k, v in AWS_TYPICAL.items()}
    configure(factor, waits)
    bound = critical_path_seconds() * factor
    ns = namespace(f"path{int(factor * 1000)}")
    ctl = Controller(ns, "5m", factor)
    samples = []
    try:
        for i in range(runs):
            samples.append(apply_until_ready(ns, [render(f"p{i}")], bound * 4 + 120))
            wait_all_ready(ns, i + 1, 60)
    finally:
        ctl.stop()
    emit(Row(f"apply → Ready ÷ AWS's critical path, factor {factor:g} (endpoint {90 * factor:g} s, NLB {180 * factor:g} s, "
               f"VPC link {240 * factor:g} s)", statistics.median(samples), "s", bound, 1.05, note=spread(samples)))


def overhead(runs: int) -> None:
    """apply → Ready with every emulator wait at zero: the controller's own time."""
    configure(0.001, ZERO_WAITS)
    ns = namespace("overhead")
    ctl = Controller(ns, "5m", 0.001)
    samples = []
    try:
        for i in range(runs):
            samples.append(apply_until_ready(ns, [render(f"o{i}")], 120))
            wait_all_ready(ns, i + 1, 60)
    finally:
        ctl.stop()
    emit(Row("apply → Ready, every emulator wait zero", statistics.median(samples), "s", None, 1.5, note=spread(samples)))


def many(env: dict[str, str], n: int, scale: float) -> None:
    """n objects at once under the quotas, then their steady-state resyncs, then their deletion."""
    configure(scale, dict(AWS_TYPICAL))
    if not emulator("/_xapi/config").get("quotas"):
        raise NotMeasured("the emulator's quotas are off")
    ns = namespace("many")
    resync = 30
    ctl = Controller(ns, f"{resync}s", scale)
    try:
        seq = log_position()
        objs = [render(f"m{i}", probe=False) for i in range(n)]
        took = apply_until_ready(ns, objs, 3600)
        wait_all_ready(ns, n, 60)
        calls = operator_calls(calls_since(seq))
        throttled_ops = Counter(e.get("operation", "?") for e in calls
                                if e.get("status") == 429 or e.get("fault") == "throttle")
        throttled = sum(throttled_ops.values())
        # The edge is deployed once its VPC link is AVAILABLE, so the consumer's deployments all
        # come after the critical path: a second, tighter bound, shown beside the first.
        consumer = env["XAPI_CONSUMER_ROLE_ARN"].split(":")[4]
        gated = (critical_path_seconds()
                 + per_account(calls, "CreateDeployment").get(consumer, 0) * CREATE_DEPLOYMENT_PERIOD) * scale
        emit(Row(f"{n} objects at once → all Ready ÷ the quota bound (scale {scale:g})", took, "s",
                 create_bound(calls, n, scale), 1.15,
                 note=f"with the edge deployments after the VPC links: bound {gated:.1f} s, ratio {took / gated:.2f}; "
                      + creation_timeline(calls, consumer, scale) + "; " + creation_profile(calls, n)))
        emit(Row(f"calls throttled while creating {n} objects", throttled, "calls", None, 0,
                 note=", ".join(f"{op} {k}" for op, k in sorted(throttled_ops.items()))))

        # Steady state: whole resync rounds of Ready objects, calls from the emulator's log.
        time.sleep(resync)  # past the first resync of the last objects
        r0, w0, e0 = ctl.reconciles("ready"), ctl.reconciles("waiting"), ctl.reconciles("error")
        seq = log_position()
        time.sleep(resync * 3)
        window = operator_calls(calls_since(seq))
        r1, w1, e1 = ctl.reconciles("ready"), ctl.reconciles("waiting"), ctl.reconciles("error")
        reconciles = r1 - r0
        if w1 != w0 or e1 != e0:
            raise NotMeasured(f"objects left Ready during the window ({w1 - w0:g} waiting, {e1 - e0:g} failed reconciles)")
        if reconciles < 2 * n:
            raise NotMeasured(f"only {reconciles:g} resyncs of {n} objects in {3 * resync} s")
        reads = [e for e in window if is_read(e["operation"])]
        writes = [e for e in window if not is_read(e["operation"])]
        apigw = [e for e in reads if e["service"] == "apigateway"]
        by_op: dict[str, int] = {}
        for e in reads:
            by_op[e["operation"]] = by_op.get(e["operation"], 0) + 1
        detail = ", ".join(f"{k} {v / reconciles:.2f}" for k, v in sorted(by_op.items()))
        emit(Row(f"API Gateway reads per resync of a Ready object ({n} objects, {reconciles:g} resyncs)",
                        len(apigw) / reconciles, "reads", None, 3))
        emit(Row("AWS reads per resync of a Ready object", len(reads) / reconciles, "reads", None, 8, note=detail))
        emit(Row("AWS writes per resync of a Ready object", len(writes) / reconciles, "writes", None, 0,
                        note=", ".join(sorted({e["operation"] for e in writes}))))

        # Deletion.
        seq = log_position()
        t0 = time.monotonic()
        kubectl("-n", ns, "delete", "xapi", "--all", "--wait=false")
        wait_all_gone(ns, 3600)
        gone = time.monotonic() - t0
        calls = operator_calls(calls_since(seq))
        left = tagged_left(env, ns)
        if left:
            raise NotMeasured(f"{left} tagged resources left after deleting {n} objects")
        emit(Row(f"{n} objects deleted → all gone ÷ the quota bound (scale {scale:g})", gone, "s",
                 delete_bound(calls, scale), 1.15, note="nothing tagged left"))
    finally:
        ctl.stop()


def creation_timeline(calls: list[dict], consumer: str, scale: float) -> str:
    """Where the time went, from the request log (seconds after the first call): how long after
    its NLB's expected `active` each VPC link was made, and when the edge deployments ran."""
    start = min((e["time"] for e in calls), default=0.0)
    first: dict[tuple[str, str], float] = {}
    for e in calls:
        if e["account"] == consumer and e.get("status", 200) < 300:
            first.setdefault((e["session"], e["operation"]), e["time"] - start)
    lags = sorted(link - first[(s, "CreateLoadBalancer")] - AWS_TYPICAL["nlb_provisioning"] * scale
                  for (s, op), link in first.items() if op == "CreateVpcLink" and (s, "CreateLoadBalancer") in first)
    deploys = sorted(t for (_, op), t in first.items() if op == "CreateDeployment")
    if not lags or len(deploys) < 2:
        return "no timeline"
    return (f"VPC links made {statistics.median(lags):.1f} s (max {lags[-1]:.1f} s) after their NLB's expected active; "
            f"edge deployments from {deploys[0]:.1f} s to {deploys[-1]:.1f} s, "
            f"{(deploys[-1] - deploys[0]) / (len(deploys) - 1):.2f} s apart")


def creation_profile(calls: list[dict], n: int) -> str:
    """The calls the creation made per object, and the reads that made up most of them."""
    reads = Counter(e["operation"] for e in calls if is_read(e["operation"]))
    total_reads = sum(reads.values())
    top = ", ".join(f"{op} {k / n:.1f}" for op, k in reads.most_common(5))
    return (f"{len(calls) / n:.1f} calls per object, {(len(calls) - total_reads) / n:.1f} of them writes; "
            f"most read: {top}")


def per_account(calls: list[dict], op: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in calls:
        if e["operation"] == op and e.get("status", 200) < 300:
            out[e["account"]] = out.get(e["account"], 0) + 1
    return out


def create_bound(calls: list[dict], n: int, scale: float) -> float:
    """The quotas' bound on creating n objects: per account, the CreateRestApi and CreateDeployment
    periods and 10 requests/s over the API Gateway calls that succeeded; the slowest account."""
    accounts = {e["account"] for e in calls if e["service"] == "apigateway"}
    rest = per_account(calls, "CreateRestApi")
    deploy = per_account(calls, "CreateDeployment")
    needed = {a: sum(1 for e in calls if e["account"] == a and e["service"] == "apigateway"
                     and not is_read(e["operation"]) and e.get("status", 200) < 300) for a in accounts}
    bound = max((max(rest.get(a, 0) * CREATE_REST_API_PERIOD, deploy.get(a, 0) * CREATE_DEPLOYMENT_PERIOD,
                     needed[a] / ACCOUNT_RPS) for a in accounts), default=0.0)
    return max(bound, critical_path_seconds()) * scale


def critical_path_seconds() -> float:
    """AWS's own critical path at time scale 1: NLB active, then the VPC link AVAILABLE."""
    return AWS_TYPICAL["nlb_provisioning"] + AWS_TYPICAL["vpc_link_pending"]


def delete_bound(calls: list[dict], scale: float) -> float:
    deletes = per_account(calls, "DeleteRestApi")
    return max((c * DELETE_REST_API_PERIOD for c in deletes.values()), default=0.0) * scale


def memory(n: int) -> None:
    """Peak RSS idle and with n Ready objects; CPU seconds of one resync of all of them."""
    configure(0.001, ZERO_WAITS)
    ns = namespace("memory")
    # A second per object: the resyncs of those already Ready (about 6 calls each) then take a
    # quarter of what the emulator answers here (~25 calls/s), and the rest are still created.
    resync = max(60, n)
    ctl = Controller(ns, f"{resync}s", 0.001)
    try:
        time.sleep(10)
        emit(Row("peak RSS, idle", ctl.rss_mib(), "MiB", None, 25))
        room = subnet_room(ground_env())
        if room < n:
            raise NotMeasured(f"the ground's subnets have room for {room} more objects, not {n}")
        took = apply_until_ready(ns, [render(f"r{i}", probe=False) for i in range(n)], 3 * 3600)
        wait_all_ready(ns, n, 60)
        created = ctl.rss_mib("VmRSS")
        r0, cpu0 = ctl.reconciles("ready"), ctl.cpu_seconds()
        deadline = time.monotonic() + 3 * resync + 600
        while ctl.reconciles("ready") < r0 + n and time.monotonic() < deadline:
            time.sleep(1)
        done = ctl.reconciles("ready") - r0
        if done < n:
            raise NotMeasured(f"only {done:g} of {n} objects resynced")
        cpu = ctl.cpu_seconds() - cpu0
        emit(Row(f"peak RSS, {n} Ready objects", ctl.rss_mib(), "MiB", None, 80,
                 note=f"created in {took:.0f} s; RSS once all were Ready {created:.1f} MiB, "
                      f"after a resync of all {ctl.rss_mib('VmRSS'):.1f} MiB"))
        emit(Row(f"CPU seconds per resync of {n} Ready objects", cpu, "s", None, None,
                        note=f"{done:g} reconciles, incl. the wait for the round"))
    finally:
        ctl.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--factor", type=float, default=0.1, help="AWS's typical waits multiplied by this")
    ap.add_argument("--objects", type=int, default=100)
    ap.add_argument("--scale", type=float, default=0.05, help="time scale of the many-objects run")
    ap.add_argument("--objects-memory", type=int, default=1000)
    ap.add_argument("--only", default="path,overhead,many,memory", help="comma-separated subset")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not BIN.exists():
        sys.exit(f"{BIN} missing: ./dev bench builds it (cargo build --release --locked)")
    env = ground_env()
    os.environ.update(env)
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    roles = sh(sys.executable, str(ROOT / "testenv/render.py"), str(STATE / "env"), str(ROOT / "examples/account-roles.yaml"))
    kubectl("apply", "-f", "-", inp=roles)
    cpus = os.cpu_count()
    mem = int(open("/proc/meminfo").readline().split()[1]) // (1024 * 1024)
    print(f"Machine: {cpus} cores, {mem} GiB. Release build. {args.runs} runs where a median is given.\n")
    print("| figure | measured | bound | ratio | target | | how |\n|---|---|---|---|---|---|---|", flush=True)

    def measure(what, *a):
        try:
            what(*a)
        except NotMeasured as e:
            emit(Row(what.__doc__.split(":")[0].strip().rstrip("."), None, "", None, None, note=f"not measured: {e}"))

    if "path" in only:
        measure(critical_path, args.factor, args.runs)
        measure(critical_path, args.factor * 4, args.runs)
    if "overhead" in only:
        measure(overhead, args.runs)
    if "many" in only:
        measure(many, env, args.objects, args.scale)
    if "memory" in only:
        measure(memory, args.objects_memory)


if __name__ == "__main__":
    main()
