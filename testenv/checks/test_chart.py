"""The Helm chart: lint, render without a cluster, the values schema, the CRDs it ships, and (with
KUBECONFIG) install/upgrade/uninstall against the test ground's real kube-apiserver.

helm and kubectl come from PATH (`python3 testenv/ground.py build` prints their directory; the
ground's env file puts it first). The ground has no kubelet, scheduler or controller-manager:
Deployments get no pods, namespaces never finish terminating; only API objects are checked.
"""

import os
import re
import time
import uuid

import pytest
import yaml

from helm_tools import (
    CHART,
    ROOT,
    container,
    env_without_kubeconfig,
    find,
    helm,
    kubectl,
    kubectl_json,
    one,
    readme_install_block,
    render,
    repo_yaml,
    run,
    run_flags,
    set_args,
    template,
    tool,
    values_file,
)

pytestmark = pytest.mark.skipif(
    tool("helm") is None,
    reason="helm is not on PATH (`python3 testenv/ground.py build` prints its directory)",
)

FULLNAME = "xapi-cross-account-api-operator"
LEASE_RULES = "charts/cross-account-api-operator/leader-election-rules.yaml"

# Every value that differs from values.yaml and has a visible effect.
NON_DEFAULT = {
    "image": {"repository": "registry.example.com/xapi", "tag": "1.2.3", "pullPolicy": "Always"},
    "replicaCount": 3,
    "resyncInterval": "1h30m",
    "metricsAddr": "[::]:9090",
    "leaderElection": {"enabled": True, "namespace": "xapi-leases"},
    "watchNamespace": "team-orders",
    "apigatewayQuotaScale": 0.5,
    "maxConcurrentReconciles": 20,
    "allowInlineRoles": True,
    "allowOwnCredentials": True,
    "aws": {"region": "eu-west-1"},
    "serviceAccount": {
        "annotations": {
            "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/xapi-operator"
        }
    },
    "logFormat": "text",
    "logLevel": "debug",
    "env": [
        {"name": "AWS_ENDPOINT_URL", "value": "http://aws-emulator:5000"},
        {"name": "EXTRA_FROM_FIELD", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ],
    "service": {"port": 9191},
    "serviceMonitor": {"enabled": True, "interval": "1m", "labels": {"release": "prom"}},
    "podDisruptionBudget": {"minAvailable": 2, "unhealthyPodEvictionPolicy": "IfHealthyBudget"},
}


def args_of(objects):
    return container(objects)["args"]


def env_of(objects):
    return {e["name"]: e for e in container(objects).get("env", [])}


# --- lint ---------------------------------------------------------------------------------------


def test_lint_strict_default_values():
    out = helm("lint", "--strict", CHART, env=env_without_kubeconfig())
    assert "0 chart(s) failed" in out.stdout


def test_lint_strict_non_default_values(tmp_path):
    values = values_file(tmp_path, NON_DEFAULT)
    out = helm("lint", "--strict", CHART, "-f", values, env=env_without_kubeconfig())
    assert "0 chart(s) failed" in out.stdout


# --- render without a cluster (no --kube-version) ------------------------------------------------


def test_template_default_values():
    objects = render()
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == sorted(
        [
            ("ServiceAccount", FULLNAME),
            ("ClusterRole", FULLNAME),
            ("ClusterRole", FULLNAME + "-grants"),
            ("ClusterRoleBinding", FULLNAME),
            ("ClusterRoleBinding", FULLNAME + "-grants"),
            ("Role", FULLNAME + "-leader-election"),
            ("RoleBinding", FULLNAME + "-leader-election"),
            ("Service", FULLNAME + "-metrics"),
            ("Deployment", FULLNAME),
            ("PodDisruptionBudget", FULLNAME),
        ]
    )
    # The rule files are included verbatim.
    assert one(objects, "ClusterRole", FULLNAME)["rules"] == repo_yaml(
        "charts/cross-account-api-operator/rbac-rules.yaml"
    )
    assert one(objects, "ClusterRole", FULLNAME + "-grants")["rules"] == repo_yaml(
        "charts/cross-account-api-operator/grant-rules.yaml"
    )
    role = one(objects, "Role")
    assert role["rules"] == repo_yaml(LEASE_RULES)
    assert role["metadata"]["namespace"] == "xapi-system"
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert args_of(objects) == [
        "run",
        "--resync-interval=5m",
        "--metrics-addr=0.0.0.0:8080",
        "--leader-election",
        "--apigateway-quota-scale=1",
        "--max-concurrent-reconciles=100",
    ]
    c = container(objects)
    assert c["image"] == "cross-account-api-operator:0.1.0"
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    env = env_of(objects)
    assert env["LOG_FORMAT"]["value"] == "json" and env["RUST_LOG"]["value"] == "info"
    assert "AWS_REGION" not in env
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    for binding in find(objects, "ClusterRoleBinding") + find(objects, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": "xapi-system"}
        ]
    assert not find(objects, "ServiceMonitor")


def test_template_non_default_values(tmp_path):
    objects = render("-f", values_file(tmp_path, NON_DEFAULT))
    args = args_of(objects)
    assert args == [
        "run",
        "--resync-interval=1h30m",
        "--metrics-addr=[::]:9090",
        "--leader-election",
        "--leader-election-namespace=xapi-leases",
        "--namespace=team-orders",
        "--apigateway-quota-scale=0.5",
        "--max-concurrent-reconciles=20",
        "--allow-inline-roles",
        "--allow-own-credentials",
    ]
    c = container(objects)
    assert c["image"] == "registry.example.com/xapi:1.2.3" and c["imagePullPolicy"] == "Always"
    assert c["ports"][0]["containerPort"] == 9090
    env = env_of(objects)
    assert env["AWS_ENDPOINT_URL"] == {"name": "AWS_ENDPOINT_URL", "value": "http://aws-emulator:5000"}
    assert env["EXTRA_FROM_FIELD"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["LOG_FORMAT"]["value"] == "text" and env["RUST_LOG"]["value"] == "debug"
    assert one(objects, "Deployment")["spec"]["replicas"] == 3
    # watchNamespace: the operator's rules bound in that namespace only ...
    assert not find(objects, "ClusterRoleBinding", FULLNAME)
    binding = one(objects, "RoleBinding", FULLNAME)
    assert binding["metadata"]["namespace"] == "team-orders"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": FULLNAME,
    }
    assert binding["subjects"][0]["namespace"] == "xapi-system"
    # ... the grants (cluster-scoped AccountRoles, namespaces) still cluster-wide.
    grants = one(objects, "ClusterRoleBinding", FULLNAME + "-grants")
    assert grants["roleRef"]["name"] == FULLNAME + "-grants"
    # The Lease's Role follows leaderElection.namespace.
    assert one(objects, "Role")["metadata"]["namespace"] == "xapi-leases"
    assert one(objects, "RoleBinding", FULLNAME + "-leader-election")["metadata"][
        "namespace"
    ] == "xapi-leases"
    sa = one(objects, "ServiceAccount")
    assert sa["metadata"]["annotations"] == NON_DEFAULT["serviceAccount"]["annotations"]
    assert one(objects, "Service")["spec"]["ports"][0]["port"] == 9191
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["interval"] == "1m"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["xapi-system"]}
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"


def test_template_single_replica_without_leader_election():
    objects = render("--set", "leaderElection.enabled=false", "--set", "replicaCount=1")
    assert not find(objects, "Role")
    assert not find(objects, "RoleBinding", FULLNAME + "-leader-election")
    assert not find(objects, "PodDisruptionBudget")
    assert "--leader-election" not in args_of(objects)
    assert not [a for a in args_of(objects) if a.startswith("--leader-election")]
    assert one(objects, "Deployment")["spec"]["replicas"] == 1
    # Still all namespaces: a ClusterRoleBinding.
    assert one(objects, "ClusterRoleBinding", FULLNAME)


def test_template_single_replica_with_leader_election_has_no_pdb():
    objects = render("--set", "replicaCount=1")
    assert not find(objects, "PodDisruptionBudget")
    assert one(objects, "Role")
    assert "--leader-election" in args_of(objects)


def test_template_pdb_can_be_turned_off():
    assert not find(render("--set", "podDisruptionBudget.enabled=false"), "PodDisruptionBudget")
    pdb = one(render("--set", "podDisruptionBudget.maxUnavailable=50%"), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == "50%"


def test_every_run_flag_is_a_chart_value(tmp_path):
    """A flag added to `run` in src/main.rs without a chart value fails here."""
    flags = run_flags()
    assert "--resync-interval" in flags and len(flags) >= 8, flags
    rendered = args_of(render("-f", values_file(tmp_path, NON_DEFAULT)))
    missing = [f for f in flags if not any(a == f or a.startswith(f + "=") for a in rendered)]
    assert not missing, f"flags of `run` the chart cannot set: {missing}"


# --- the values schema -------------------------------------------------------------------------

REFUSED = [
    (["replicaCount=-1"], "/replicaCount"),
    (["replicaCount=1.5"], "/replicaCount"),
    (["logFormat=xml"], "/logFormat"),
    (["resyncInterval=5 minutes"], "/resyncInterval"),
    (["resyncInterval=0s"], "/resyncInterval"),
    (["resyncInterval=5"], "/resyncInterval"),
    (["metricsAddr=localhost:8080"], "/metricsAddr"),
    (["metricsAddr=8080"], "/metricsAddr"),
    (["apigatewayQuotaScale=0"], "/apigatewayQuotaScale"),
    (["apigatewayQuotaScale=-1"], "/apigatewayQuotaScale"),
    (["apigatewayQuotaScale=0.0"], "/apigatewayQuotaScale"),
    (["apigatewayQuotaScale=fast"], "/apigatewayQuotaScale"),
    (["maxConcurrentReconciles=0"], "/maxConcurrentReconciles"),
    (["maxConcurrentReconciles=70000"], "/maxConcurrentReconciles"),
    (["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    (["unknownKey=1"], "unknownKey"),
    (["leaderElection.enable=true"], "enable"),
    (["serviceMonitor.enable=true"], "enable"),
    (["allowInlineRoles=yes"], "/allowInlineRoles"),
    (["watchNamespace=Team_A"], "/watchNamespace"),
    (["podDisruptionBudget.maxUnavailable=-1"], "/podDisruptionBudget/maxUnavailable"),
    (["replicaCount=2", "leaderElection.enabled=false"], "/leaderElection/enabled"),
]


@pytest.mark.parametrize("sets,names", REFUSED, ids=[",".join(s) for s, _ in REFUSED])
def test_schema_refuses_in_template(sets, names):
    proc = template(*set_args(sets), check=False)
    assert proc.returncode != 0, f"{sets} rendered:\n{proc.stdout[:400]}"
    assert "schema" in proc.stderr, proc.stderr
    assert names in proc.stderr, proc.stderr


@pytest.mark.parametrize("sets,names", REFUSED[:4], ids=[",".join(s) for s, _ in REFUSED[:4]])
def test_schema_refuses_in_lint(sets, names, tmp_path):
    proc = helm("lint", "--strict", CHART, *set_args(sets), check=False)
    assert proc.returncode != 0, proc.stdout
    assert names in proc.stdout + proc.stderr


ACCEPTED = [
    ["resyncInterval=10s"],
    ["resyncInterval=500ms"],
    ["resyncInterval=1h30m"],
    ["metricsAddr=127.0.0.1:18080"],
    ["metricsAddr=[::]:8080"],
    ["apigatewayQuotaScale=0.25"],
    ["apigatewayQuotaScale=2"],
    ["replicaCount=0"],
    ["replicaCount=1", "leaderElection.enabled=false"],
    ["image.tag=20240101"],
]


@pytest.mark.parametrize("sets", ACCEPTED, ids=[",".join(s) for s in ACCEPTED])
def test_schema_accepts(sets):
    template(*set_args(sets))


def test_quota_scale_from_set_reaches_the_args():
    """`--set` hands 0.25 over as a string: the schema takes it and the arg carries it as is."""
    assert "--apigateway-quota-scale=0.25" in args_of(render("--set", "apigatewayQuotaScale=0.25"))


# --- CRDs -------------------------------------------------------------------------------------


def test_chart_crds_are_the_repository_crds():
    chart_crds = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    repo_crds = {p.name: p.read_bytes() for p in (ROOT / "crds").iterdir()}
    assert sorted(chart_crds) == sorted(repo_crds)
    for name in repo_crds:
        assert chart_crds[name] == repo_crds[name], f"charts/.../crds/{name} differs from crds/{name}"


# --- against the test ground -------------------------------------------------------------------

CRD_NAMES = ["crossaccountapis.apigw.crossaccount.io", "accountroles.apigw.crossaccount.io"]
NAMESPACED_KINDS = "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets"
CLUSTER_KINDS = "clusterroles,clusterrolebindings"


@pytest.fixture(scope="module")
def ground():
    if not os.environ.get("KUBECONFIG"):
        pytest.skip("KUBECONFIG is not set: source the env file of `python3 testenv/ground.py up`")
    if tool("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    suffix = uuid.uuid4().hex[:6]
    ctx = {"ns": f"xapi-chart-{suffix}", "release": f"xapi-{suffix}"}
    ctx["fullname"] = f"{ctx['release']}-cross-account-api-operator"
    ctx["selector"] = f"app.kubernetes.io/instance={ctx['release']}"
    yield ctx
    helm("uninstall", ctx["release"], "-n", ctx["ns"], check=False)
    kubectl("delete", "namespace", ctx["ns"], "--wait=false", "--ignore-not-found", check=False)


def readme_commands(ctx):
    """README's install commands, with this test's release and namespace and the placeholders
    filled in."""
    commands = readme_install_block()
    assert any(c.startswith("helm install ") for c in commands), commands
    out = []
    for c in commands:
        c = re.sub(r"^helm install xapi ", f"helm install {ctx['release']} ", c)
        c = c.replace("xapi-system", ctx["ns"])
        c = c.replace("<your registry>", "registry.example.com")
        c = c.replace("<operator account>", "123456789012")
        assert "<" not in c, f"unfilled placeholder in README command: {c}"
        out.append(c)
    return out


def deployment_args(ctx):
    d = kubectl_json("-n", ctx["ns"], "get", "deployment", ctx["fullname"])
    return d, d["spec"]["template"]["spec"]["containers"][0]["args"]


def chart_objects_left(ctx):
    left = kubectl(
        "-n", ctx["ns"], "get", NAMESPACED_KINDS, "-l", ctx["selector"], "-o", "name"
    ).stdout.split()
    left += kubectl("get", CLUSTER_KINDS, "-l", ctx["selector"], "-o", "name").stdout.split()
    return left


def test_install_as_readme_says(ground):
    crds_before = kubectl("get", "crd", "-o", "name").stdout.split()
    started = time.monotonic()
    for command in readme_commands(ground):
        run("bash", "-ec", command)
    ground["install_seconds"] = time.monotonic() - started
    # CRDs: created from crds/, or already there (helm skips existing ones).
    for crd in CRD_NAMES:
        kubectl("get", "crd", crd)
    if all(f"customresourcedefinition.apiextensions.k8s.io/{c}" in crds_before for c in CRD_NAMES):
        print("CRDs existed before the install; helm skipped them")
    status = helm("status", ground["release"], "-n", ground["ns"], "-o", "json").stdout
    assert yaml.safe_load(status)["info"]["status"] == "deployed"
    d, args = deployment_args(ground)
    assert d["spec"]["replicas"] == 2
    assert "--leader-election" in args and "--resync-interval=5m" in args
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "registry.example.com/cross-account-api-operator:0.1.0"
    assert {"name": "AWS_REGION", "value": "us-east-1"} in c["env"]
    sa = kubectl_json("-n", ground["ns"], "get", "serviceaccount", ground["fullname"])
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::123456789012:role/cross-account-api-operator"
    )
    pdb = kubectl_json("-n", ground["ns"], "get", "poddisruptionbudget", ground["fullname"])
    assert pdb["spec"]["maxUnavailable"] == 1
    kubectl("-n", ground["ns"], "get", "role", ground["fullname"] + "-leader-election")
    kubectl("get", "clusterrolebinding", ground["fullname"], ground["fullname"] + "-grants")


def test_upgrade_changes_the_deployment(ground):
    if "install_seconds" not in ground:
        pytest.skip("the install failed")
    before, _ = deployment_args(ground)
    helm(
        "upgrade", ground["release"], CHART, "-n", ground["ns"], "--reuse-values",
        "--set", "resyncInterval=30s", "--set", "allowInlineRoles=true",
    )
    after, args = deployment_args(ground)
    assert "--resync-interval=30s" in args and "--resync-interval=5m" not in args
    assert "--allow-inline-roles" in args
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    # --reuse-values kept README's values.
    c = after["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "AWS_REGION", "value": "us-east-1"} in c["env"]


def test_upgrade_with_a_wrong_value_is_refused(ground):
    if "install_seconds" not in ground:
        pytest.skip("the install failed")
    proc = helm(
        "upgrade", ground["release"], CHART, "-n", ground["ns"], "--reuse-values",
        "--set", "resyncInterval=5 minutes", check=False,
    )
    assert proc.returncode != 0 and "/resyncInterval" in proc.stderr, proc.stderr
    _, args = deployment_args(ground)
    assert "--resync-interval=30s" in args


def test_install_with_a_wrong_value_is_refused(ground):
    release = ground["release"] + "-bad"
    installed = False
    try:
        proc = helm(
            "install", release, CHART, "-n", ground["ns"], "--create-namespace",
            "--set", "logFormat=xml", check=False,
        )
    finally:
        # Should the chart take the value after all, leave nothing behind.
        installed = helm("status", release, "-n", ground["ns"], check=False).returncode == 0
        if installed:
            helm("uninstall", release, "-n", ground["ns"], check=False)
    assert proc.returncode != 0, proc.stdout
    assert "/logFormat" in proc.stderr, proc.stderr
    assert not installed, f"release {release} was created"
    selector = f"app.kubernetes.io/instance={release}"
    assert not kubectl("-n", ground["ns"], "get", NAMESPACED_KINDS, "-l", selector, "-o", "name").stdout.split()
    assert not kubectl("get", CLUSTER_KINDS, "-l", selector, "-o", "name").stdout.split()


def test_uninstall_leaves_only_the_crds(ground):
    if "install_seconds" not in ground:
        pytest.skip("the install failed")
    manifest = helm("get", "manifest", ground["release"], "-n", ground["ns"]).stdout
    objects = [o for o in yaml.safe_load_all(manifest) if o]
    assert len(objects) >= 9
    helm("uninstall", ground["release"], "-n", ground["ns"])
    deadline = time.monotonic() + 30
    while chart_objects_left(ground) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not chart_objects_left(ground)
    for o in objects:
        ns = ["-n", ground["ns"]] if o["kind"] not in ("ClusterRole", "ClusterRoleBinding") else []
        proc = kubectl(*ns, "get", o["kind"], o["metadata"]["name"], "--ignore-not-found", "-o", "name")
        assert not proc.stdout.strip(), f"{o['kind']}/{o['metadata']['name']} survived uninstall"
    assert helm("status", ground["release"], "-n", ground["ns"], check=False).returncode != 0
    # Helm never deletes what it installed from crds/.
    for crd in CRD_NAMES:
        kubectl("get", "crd", crd)
