#!/usr/bin/env python3
"""The local test ground: a real kube-apiserver (built here from k8s.io/kubernetes) and the AWS
emulator (moto with our rules), seeded with two demo accounts.

    python3 testenv/ground.py up      # start (or reuse) and print the env file's path
    python3 testenv/ground.py down    # stop and remove state
    python3 testenv/ground.py build   # only build/install what the ground needs

`up` writes one env file (`.testenv/env`) with KUBECONFIG, AWS_ENDPOINT_URL, credentials, region
and the seeded ids: `source` it to use kubectl and the AWS CLI/SDK against the ground. When
KUBECONFIG already points at a reachable cluster, that cluster is used instead of our own.
`XAPI_SEED_SUBNET_PREFIX` (default 24) sets the seeded subnets' size (`./dev bench`: 20).

Only the Python standard library is used here; the emulator's packages go into a venv that this
script creates. Builds are cached under ~/.cache/cross-account-api-operator, keyed by the hash of
their sources, so a warm `up` starts in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("XAPI_STATE_DIR", ROOT / ".testenv"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cross-account-api-operator"
CONTROLPLANE_SRC = ROOT / "testenv" / "controlplane"
EMULATOR_SRC = ROOT / "testenv" / "emulator"
K8S_VERSION = "v1.36.3"
# helm, installed from the Go module proxy at this version (its own go.sum pins its modules).
HELM_MODULE = "helm.sh/helm/v3/cmd/helm"
HELM_VERSION = "v3.22.0"
REGION = "us-east-1"


def log(msg: str) -> None:
    print(f"[ground] {msg}", file=sys.stderr, flush=True)


def digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Builds


def venv_python() -> Path:
    """The emulator's venv, created and filled from the pinned requirements when they change."""
    req = EMULATOR_SRC / "requirements.txt"
    venv = CACHE / "venv"
    marker = venv / f".requirements-{digest(req)}"
    python = venv / "bin" / "python"
    if marker.exists() and python.exists():
        return python
    log(f"creating the emulator venv in {venv}")
    t0 = time.monotonic()
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-input", "-r", str(req)], check=True
    )
    marker.touch()
    log(f"venv ready in {time.monotonic() - t0:.0f}s")
    return python


def go_ldflags(package: str) -> str:
    """Stamps K8S_VERSION into a Kubernetes binary, as the release build does."""
    major, minor = K8S_VERSION[1:].split(".")[:2]
    return " ".join(
        ["-s -w"]
        + [
            f"-X {package}.{k}={v}"
            for k, v in (("gitVersion", K8S_VERSION), ("gitMajor", major), ("gitMinor", minor), ("gitTreeState", "clean"))
        ]
    )


def go_build(what: str, binary: Path, argv: list[str], cwd: Path) -> Path:
    """Runs a Go build into `binary` (atomically) unless it is already there."""
    if binary.exists():
        return binary
    log(f"building {what} (cold: minutes)")
    t0 = time.monotonic()
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOBIN=str(tmp.parent / "gobin-tmp"))
    subprocess.run([a.replace("{out}", str(tmp)) for a in argv], cwd=cwd, env=env, check=True)
    if argv[1] == "install":
        (tmp.parent / "gobin-tmp" / binary.name.split("-")[0]).rename(tmp)
        shutil.rmtree(tmp.parent / "gobin-tmp", ignore_errors=True)
    tmp.rename(binary)
    log(f"{what} built in {time.monotonic() - t0:.0f}s")
    return binary


def tools_dir() -> Path:
    """kubectl of the control plane's own k8s.io/kubernetes version (the `tool` of its go.mod),
    and helm from the Go module proxy, linked as `kubectl` and `helm` in one directory that the
    env file puts first on PATH."""
    key = digest(CONTROLPLANE_SRC / "go.mod", CONTROLPLANE_SRC / "go.sum", extra=go_version())
    kubectl = go_build(
        f"kubectl {K8S_VERSION}",
        CACHE / f"kubectl-{key}",
        ["go", "build", "-trimpath", "-ldflags", go_ldflags("k8s.io/client-go/pkg/version") + " "
         + go_ldflags("k8s.io/component-base/version"), "-o", "{out}", "k8s.io/kubernetes/cmd/kubectl"],
        CONTROLPLANE_SRC,
    )
    helm = go_build(
        f"helm {HELM_VERSION}",
        CACHE / f"helm-{HELM_VERSION}-{digest(extra=go_version() + 'version-stamped')}",
        ["go", "install", "-trimpath", "-ldflags", f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
         f"{HELM_MODULE}@{HELM_VERSION}"],
        CACHE,
    )
    bin_dir = CACHE / f"bin-{key}-{HELM_VERSION}"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("kubectl", kubectl), ("helm", helm)):
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(target)
    return bin_dir


def go_version() -> str:
    return subprocess.run(["go", "version"], check=True, capture_output=True, text=True).stdout.strip()


def controlplane_binary() -> Path:
    """The Go control-plane program, rebuilt only when its sources or the Go version change."""
    key = digest(
        CONTROLPLANE_SRC / "go.mod",
        CONTROLPLANE_SRC / "go.sum",
        CONTROLPLANE_SRC / "main.go",
        extra=go_version(),
    )
    return go_build(
        f"kube-apiserver {K8S_VERSION} + etcd",
        CACHE / f"controlplane-{key}",
        ["go", "build", "-trimpath", "-ldflags", go_ldflags("k8s.io/component-base/version"), "-o", "{out}", "."],
        CONTROLPLANE_SRC,
    )


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name: str, argv: list[str], env: dict | None = None) -> int:
    """Start a detached process (own session, so it outlives this script) logging to STATE."""
    logf = open(STATE / f"{name}.log", "wb")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    (STATE / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def wait_for_line(name: str, prefix: str, pid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    path = STATE / f"{name}.log"
    while time.monotonic() < deadline:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        if not alive(pid):
            tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
            raise SystemExit(f"{name} exited before it was ready:\n{tail}")
        time.sleep(0.2)
    raise SystemExit(f"{name} not ready after {timeout:.0f}s; see {path}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def pid_of(name: str) -> int | None:
    f = STATE / f"{name}.pid"
    if not f.exists():
        return None
    pid = int(f.read_text())
    return pid if alive(pid) else None


def stop(name: str) -> None:
    pid = pid_of(name)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)


def external_cluster_reachable() -> bool:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig or STATE in Path(kubeconfig).resolve().parents:
        return False
    r = subprocess.run(
        [str(tools_dir() / "kubectl"), "--request-timeout=5s", "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
    )
    return r.returncode == 0


# ---------------------------------------------------------------------------------------------
# Commands


def ground_is_up() -> bool:
    env_file = STATE / "env"
    if not env_file.exists() or pid_of("emulator") is None:
        return False
    own_cp = (STATE / "controlplane.pid").exists()
    return pid_of("controlplane") is not None if own_cp else True


def up() -> Path:
    STATE.mkdir(parents=True, exist_ok=True)
    env_file = STATE / "env"
    if ground_is_up():
        log(f"reusing the ground that is up ({env_file})")
        return env_file
    down(quiet=True)
    STATE.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    python = venv_python()
    tools = tools_dir()

    if external_cluster_reachable():
        kubeconfig = os.environ["KUBECONFIG"]
        restricted = rbac_dir = audit_log = ""
        log(f"using the cluster of KUBECONFIG={kubeconfig}")
    else:
        binary = controlplane_binary()
        t1 = time.monotonic()
        pid = spawn("controlplane", [str(binary), "--out", str(STATE / "cp"), "--exit-on-stdin-close=false"])
        server = wait_for_line("controlplane", "READY ", pid, 180)
        kubeconfig = str(STATE / "cp" / "admin.kubeconfig")
        restricted = str(STATE / "cp" / "restricted.kubeconfig")
        rbac_dir = str(STATE / "cp" / "rbac")
        audit_log = str(STATE / "cp" / "audit.log")
        log(f"kube-apiserver {K8S_VERSION} ready at {server} in {time.monotonic() - t1:.1f}s")

    port = free_port()
    emu_env = dict(os.environ, PYTHONPATH=str(EMULATOR_SRC))
    t2 = time.monotonic()
    pid = spawn(
        "emulator",
        [str(python), "-m", "xapi_emulator", "--host", "127.0.0.1", "--port", str(port)],
        env=emu_env,
    )
    endpoint = wait_for_line("emulator", "READY ", pid, 60)
    log(f"AWS emulator ready at {endpoint} in {time.monotonic() - t2:.1f}s")

    seed_file = STATE / "seed.env"
    seed_file.unlink(missing_ok=True)
    subprocess.run(
        [str(python), "-m", "xapi_emulator.seed", "--endpoint", endpoint, "--out", str(seed_file),
         "--subnet-prefix", os.environ.get("XAPI_SEED_SUBNET_PREFIX", "24")],
        env=emu_env,
        check=True,
        # stdout carries only the env file's path; the seed's own output goes to stderr.
        stdout=sys.stderr,
    )
    lines = [
        "# Written by testenv/ground.py: source it to reach the test ground.",
        f"export PATH={tools}:$PATH",
        f"export KUBECONFIG={kubeconfig}",
        f"export XAPI_RESTRICTED_KUBECONFIG={restricted}",
        # Users without rights of their own (group xapi-rbac), and the audit log of their requests.
        f"export XAPI_RBAC_KUBECONFIGS={rbac_dir}",
        f"export XAPI_AUDIT_LOG={audit_log}",
        f"export XAPI_HELM={tools / 'helm'}",
        f"export XAPI_KUBECTL={tools / 'kubectl'}",
        f"export AWS_ENDPOINT_URL={endpoint}",
        f"export XAPI_EMULATOR_URL={endpoint}",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        f"export AWS_REGION={REGION}",
        f"export AWS_DEFAULT_REGION={REGION}",
        f"export XAPI_EMULATOR_PYTHON={python}",
        f"export XAPI_EMULATOR_PYTHONPATH={EMULATOR_SRC}",
        f"export XAPI_EMU_TIME_SCALE={os.environ.get('XAPI_EMU_TIME_SCALE', '1')}",
    ]
    lines += seed_file.read_text().splitlines()
    env_file.write_text("\n".join(lines) + "\n")
    log(f"ground up in {time.monotonic() - t0:.1f}s; source {env_file}")
    return env_file


def down(quiet: bool = False) -> None:
    stop("emulator")
    stop("controlplane")
    if STATE.exists():
        shutil.rmtree(STATE, ignore_errors=True)
    if not quiet:
        log("ground down")


def main() -> None:
    cmd = sys.argv[1] if len(sys.argv) > 1 else "up"
    if cmd == "up":
        print(up())
    elif cmd == "down":
        down()
    elif cmd == "build":
        venv_python()
        controlplane_binary()
        print(tools_dir())
    elif cmd == "status":
        print(json.dumps({"up": ground_is_up(), "env": str(STATE / "env")}))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} up|down|build|status")


if __name__ == "__main__":
    main()
