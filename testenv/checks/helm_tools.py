"""Small helpers for test_chart.py: run helm and kubectl from PATH, parse what they render."""

import json
import os
import pathlib
import re
import shutil
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cross-account-api-operator"
TIMEOUT = 180


def tool(name):
    """Absolute path of `name` on PATH, or None."""
    return shutil.which(name)


def run(*args, check=True, cwd=ROOT, env=None, timeout=TIMEOUT):
    """Runs a command; returns the CompletedProcess (text). check: fail with its output."""
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def helm(*args, check=True, **kw):
    return run("helm", *args, check=check, **kw)


def kubectl(*args, check=True, **kw):
    return run("kubectl", *args, check=check, **kw)


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def set_args(sets):
    """["a=b", ...] -> ["--set", "a=b", ...]"""
    out = []
    for s in sets:
        out += ["--set", s]
    return out


def values_file(tmp_path, values, name="values.yaml"):
    path = pathlib.Path(tmp_path) / name
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def template(*extra, release="xapi", namespace="xapi-system", check=True):
    """`helm template` of the chart without a cluster; returns the CompletedProcess."""
    return helm(
        "template", release, CHART, "--namespace", namespace, *extra, check=check
    )


def render(*extra, release="xapi", namespace="xapi-system"):
    """The chart's objects (list of dicts) rendered without a cluster."""
    out = template(*extra, release=release, namespace=namespace).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objects, kind, name=None):
    """The objects of one kind (and name)."""
    return [
        o
        for o in objects
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects, kind, name=None):
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}: {found}"
    return found[0]


def container(objects):
    deployment = one(objects, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]


def repo_yaml(relative):
    return yaml.safe_load((ROOT / relative).read_text())


def run_flags():
    """The long flags of `cross-account-api-operator run`, read from src/main.rs's RunArgs
    (clap derive: each `#[arg(long ...)]` field becomes --field-name)."""
    src = (ROOT / "src" / "main.rs").read_text()
    body = re.search(r"struct RunArgs \{(.*?)\n\}", src, re.S)
    assert body, "struct RunArgs not found in src/main.rs"
    flags = []
    pending_long = False
    for line in body.group(1).splitlines():
        line = line.strip()
        if line.startswith("#[arg(") and re.search(r"\blong\b", line):
            pending_long = True
            explicit = re.search(r'\blong\s*=\s*"([^"]+)"', line)
            if explicit:
                flags.append("--" + explicit.group(1))
                pending_long = False
            continue
        field = re.match(r"(?:pub\s+)?([a-z_][a-z0-9_]*)\s*:", line)
        if field and pending_long:
            flags.append("--" + field.group(1).replace("_", "-"))
            pending_long = False
    return flags


def readme_install_block():
    """The first ```sh block under README's "## Install with Helm", joined into one command per
    line (backslash continuations folded)."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Install with Helm\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, 'README.md has no "## Install with Helm" section'
    block = re.search(r"```(?:sh|bash|shell)\n(.*?)```", section.group(1), re.S)
    assert block, "README's install section has no ```sh block"
    folded = block.group(1).replace("\\\n", " ")
    return [
        re.sub(r"\s+", " ", line).strip()
        for line in folded.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def env_without_kubeconfig():
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    return env
