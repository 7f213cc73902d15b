#!/usr/bin/env python3
"""Benchmarks against the test ground (see BENCHMARKS.md for what each number means).

    ./dev bench [--objects-memory 1000] [--objects-throughput 10]

Prints one Markdown table. Uses the ground (brought up if needed), the debug binary that the
tests use, and kubectl. Each measurement runs in its own namespace with its own controller.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cross-account-api-operator"
BIN = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target")) / "debug" / "cross-account-api-operator"


def sh(*args: str, inp: str | None = None, check: bool = True) -> str:
    return subprocess.run(args, input=inp, text=True, capture_output=True, check=check).stdout


def ground_env() -> dict[str, str]:
    path = sh(sys.executable, str(ROOT / "testenv/ground.py"), "up").strip()
    env = {}
    for line in open(path):
        m = re.match(r"^export ([A-Z_0-9]+)=(.*)$", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    return env


_EXAMPLE: dict | None = None


def render(env: dict[str, str], name: str, **spec_overrides) -> dict:
    global _EXAMPLE
    if _EXAMPLE is None:
        state = Path(os.environ.get("XAPI_STATE_DIR", ROOT / ".testenv"))
        text = sh(sys.executable, str(ROOT / "testenv/render.py"), str(state / "env"), str(ROOT / "examples/orders.yaml"))
        # The example is YAML; kubectl turns it into JSON for us (once).
        _EXAMPLE = json.loads(sh("kubectl", "create", "--dry-run=client", "-o", "json", "-f", "-", inp=text))
    obj = json.loads(json.dumps(_EXAMPLE))
    obj["metadata"] = {"name": name}
    obj["spec"]["provider"]["privateApi"]["name"] = f"bench-{name}"
    for path, value in spec_overrides.items():
        cur = obj["spec"]
        *parents, leaf = path.split(".")
        for p in parents:
            cur = cur[p]
        cur[leaf] = value
    return obj


class Controller:
    def __init__(self, env: dict[str, str], namespace: str, resync: str = "10s", aws_endpoint: str | None = None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        e = dict(os.environ, **env, RUST_LOG="warn")
        if aws_endpoint:
            e["AWS_ENDPOINT_URL"] = aws_endpoint
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--namespace", namespace, "--resync-interval", resync,
             "--metrics-addr", f"127.0.0.1:{self.port}", "--apigateway-quota-scale", env.get("XAPI_EMU_TIME_SCALE", "1")],
            env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for _ in range(50):
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            return out
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
        return out

    def rss_mib(self) -> float:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # In-flight reconciles may sit in the SDK's retries; no need to wait for them here.
            self.proc.kill()
            self.proc.wait()


def namespace(name: str) -> str:
    ns = f"bench-{name}-{int(time.time()) % 100000}"
    sh("kubectl", "create", "namespace", ns)
    # Granted both sides by the ground's AccountRoles (examples/account-roles.yaml).
    sh("kubectl", "label", "namespace", ns,
       "apigw.crossaccount.io/provider=granted", "apigw.crossaccount.io/consumer=granted")
    return ns


def apply(ns: str, objs: list[dict]) -> None:
    sh("kubectl", "-n", ns, "apply", "-f", "-", inp=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))


def wait_ready(ns: str, timeout: int) -> None:
    sh("kubectl", "-n", ns, "wait", "--for=condition=Ready", "xapi", "--all", f"--timeout={timeout}s")


def aws_calls(m: dict[str, float]) -> dict[str, float]:
    calls: dict[str, float] = {}
    for k, v in m.items():
        if k.startswith("xapi_aws_calls_total{"):
            op = re.search(r'operation="([^"]+)"', k).group(1)
            calls[op] = calls.get(op, 0) + v
    return calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects-memory", type=int, default=1000)
    ap.add_argument("--objects-throughput", type=int, default=10)
    args = ap.parse_args()
    env = ground_env()
    os.environ.update(env)
    sh("kubectl", "apply", "--server-side", "-f", str(ROOT / "crds"))
    state = Path(os.environ.get("XAPI_STATE_DIR", ROOT / ".testenv"))
    roles = sh(sys.executable, str(ROOT / "testenv/render.py"), str(state / "env"), str(ROOT / "examples/account-roles.yaml"))
    sh("kubectl", "apply", "-f", "-", inp=roles)
    print("| measurement | result |\n|---|---|", flush=True)

    class Rows(list):
        def append(self, row: tuple[str, str]) -> None:
            print(f"| {row[0]} | {row[1]} |", flush=True)

    rows = Rows()
    scale = env.get("XAPI_EMU_TIME_SCALE", "1")

    # 1. apply -> Ready for one object, and the controller's memory with it.
    ns = namespace("one")
    ctl = Controller(env, ns)
    t0 = time.monotonic()
    apply(ns, [render(env, "one")])
    wait_ready(ns, 600)
    rows.append((f"apply → Ready, 1 object (emulator time scale {scale})", f"{time.monotonic() - t0:.1f} s"))
    time.sleep(2)
    rows.append(("controller RSS with 1 Ready object", f"{ctl.rss_mib():.0f} MiB"))

    # 2. Steady state: AWS calls per resync of a Ready object.
    before = aws_calls(ctl.metrics())
    rec0 = ctl.metrics().get('xapi_reconciles_total{result="ready"}', 0)
    time.sleep(35)
    after = aws_calls(ctl.metrics())
    rec1 = ctl.metrics().get('xapi_reconciles_total{result="ready"}', 0)
    delta = {op: after[op] - before.get(op, 0) for op in after if after[op] - before.get(op, 0) > 0}
    resyncs = max(rec1 - rec0, 1)
    reads = sum(v for op, v in delta.items() if op.startswith(("Get", "Describe")))
    writes = sum(v for op, v in delta.items() if not op.startswith(("Get", "Describe")))
    rows.append(("AWS reads per steady-state resync", f"{reads / resyncs:.1f} ({', '.join(f'{k} {v / resyncs:g}' for k, v in sorted(delta.items()))})"))
    rows.append(("AWS writes per steady-state resync", f"{writes / resyncs:g}"))
    ctl.stop()
    sh("kubectl", "delete", "namespace", ns, "--wait=false", check=False)

    # 3. Throughput under API Gateway's quotas: N objects at once.
    n = args.objects_throughput
    ns = namespace("throughput")
    ctl = Controller(env, ns)
    t0 = time.monotonic()
    apply(ns, [render(env, f"t{i}") for i in range(n)])
    wait_ready(ns, 1800)
    took = time.monotonic() - t0
    m = ctl.metrics()
    throttled = sum(v for k, v in m.items() if k.startswith("xapi_aws_calls_total{") and 'outcome="throttled"' in k)
    rows.append((f"{n} objects applied at once → all Ready (quotas on, scale {scale})", f"{took:.1f} s ({n / took * 60:.1f} objects/min, {throttled:g} throttled calls)"))
    ctl.stop()

    # 4. Memory with many objects: AWS is a closed loopback port, so every call fails fast (after
    #    the SDK's retries) and the number is the controller's own per-object cost, not moto's.
    n = args.objects_memory
    ns = namespace("memory")
    ctl = Controller(env, ns, resync="5m", aws_endpoint="http://127.0.0.1:9")
    objs = [render(env, f"m{i}") for i in range(n)]
    for i in range(0, n, 200):
        apply(ns, objs[i:i + 200])
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        done = ctl.metrics().get('xapi_reconciles_total{result="error"}', 0)
        if done >= n:
            break
        time.sleep(5)
    rows.append((f"controller RSS with {n} objects (each reconciled once)", f"{ctl.rss_mib():.0f} MiB"))
    ctl.stop()
    sh("kubectl", "delete", "namespace", ns, "--wait=false", check=False)



if __name__ == "__main__":
    main()
