"""The Argo CD health checks in docs/argocd/ against sample objects of both kinds.

Argo CD runs a health script with gopher-lua (Lua 5.1): the object is the global `obj`, and the
script returns a table {status=..., message=...}. Here the same script runs in Lua 5.1 through
lupa, once per sample, in a fresh runtime. The samples are the shapes the operator writes:
`Ready`, `Reconciling`, `Stalled` (kstatus) with observedGeneration, then the step conditions.
"""

import pathlib

import lupa.lua51 as lua51
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "argocd"
GROUP = "apigw.crossaccount.io"
SCRIPTS = {
    "CrossAccountApi": DOCS / "health.lua",
    "AccountRole": DOCS / "health-accountrole.lua",
}
# What Argo CD accepts as a health status.
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def to_lua(runtime, value):
    """A Python value from YAML as Argo CD hands it to Lua: maps and lists as tables (lists
    1-indexed), null as nil."""
    if isinstance(value, dict):
        return runtime.table_from(
            {k: to_lua(runtime, v) for k, v in value.items() if v is not None}
        )
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def health(kind, obj):
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(SCRIPTS[kind].read_text())
    assert result is not None, "the script returned nothing"
    out = dict(result.items())
    assert set(out) <= {"status", "message"}, out
    assert out.get("status") in STATUSES, out
    return out["status"], out.get("message", "")


def condition(type_, status, reason, message="", generation=1):
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": generation,
    }


def xapi(conditions=None, generation=1, observed=None, deleting=False, status=True):
    obj = yaml.safe_load(
        """
        apiVersion: apigw.crossaccount.io/v1alpha1
        kind: CrossAccountApi
        metadata: {name: orders, namespace: team-a, uid: 0b7c-1, finalizers: [apigw.crossaccount.io/cleanup]}
        spec:
          provider: {roleRef: orders-provider, region: us-east-1, vpcId: vpc-0b, subnetIds: [subnet-0b1]}
          consumer: {roleRef: orders-consumer, region: us-east-1, vpcId: vpc-0a, subnetIds: [subnet-0a1]}
        """
    )
    obj["metadata"]["generation"] = generation
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    if status:
        obj["status"] = {"observedGeneration": generation if observed is None else observed}
        if conditions is not None:
            obj["status"]["conditions"] = conditions
    return obj


def xrole(conditions=None, generation=1, account="222222222222", deleting=False):
    obj = yaml.safe_load(
        """
        apiVersion: apigw.crossaccount.io/v1alpha1
        kind: AccountRole
        metadata: {name: orders-provider}
        spec: {roleArn: "arn:aws:iam::222222222222:role/xapi", namespaces: [team-a]}
        """
    )
    obj["metadata"]["generation"] = generation
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    if conditions is not None:
        obj["status"] = {"observedGeneration": generation, "conditions": conditions}
        if account:
            obj["status"]["accountId"] = account
    return obj


READY_STEPS = [
    condition("EndpointReady", "True", "Available", "vpce-1 available"),
    condition("PrivateApiReady", "True", "Deployed", "a1 deployed"),
    condition("LoadBalancerReady", "True", "Active", "NLB active"),
    condition("VpcLinkReady", "True", "Available", "vl-1 AVAILABLE"),
    condition("RegionalApiReady", "True", "Deployed", "e1 deployed"),
    condition("Probed", "True", "Answered", "GET /health answered 200"),
]


def ready(generation=1):
    return [
        condition("Ready", "True", "Ready", "every resource of the chain is in place", generation),
        condition("Reconciling", "False", "Ready", "nothing left to do", generation),
        condition("Stalled", "False", "Ready", "nothing left to do", generation),
    ] + [dict(c, observedGeneration=generation) for c in READY_STEPS]


def waiting(generation=1):
    msg = "VpcLinkReady: vl-1 is PENDING"
    return [
        condition("Ready", "False", "WaitingForVpcLink", msg, generation),
        condition("Reconciling", "True", "WaitingForVpcLink", msg, generation),
        condition("Stalled", "False", "Progressing", "working towards Ready", generation),
        condition("VpcLinkReady", "False", "WaitingForVpcLink", "vl-1 is PENDING", generation),
    ]


def stalled(reason, message, generation=1):
    return [
        condition("Ready", "False", reason, "EndpointReady: " + message, generation),
        condition("Reconciling", "False", "Stalled", "no progress without a change", generation),
        condition("Stalled", "True", reason, message, generation),
        condition("EndpointReady", "False", reason, message, generation),
    ]


# --- CrossAccountApi -------------------------------------------------------------------------


def test_fresh_object_without_status_waits_for_the_controller():
    assert health("CrossAccountApi", xapi(status=False)) == (
        "Progressing",
        "waiting for the controller",
    )


def test_status_without_conditions_waits_for_the_controller():
    assert health("CrossAccountApi", xapi()) == ("Progressing", "waiting for the controller")
    assert health("CrossAccountApi", xapi(conditions=[])) == (
        "Progressing",
        "waiting for the controller",
    )


def test_reconciling_is_progressing_with_readys_reason_and_message():
    assert health("CrossAccountApi", xapi(waiting())) == (
        "Progressing",
        "WaitingForVpcLink: VpcLinkReady: vl-1 is PENDING",
    )


def test_retrying_a_retryable_error_is_progressing():
    msg = "CreateVpcEndpoint in account 222222222222: Throttling: Rate exceeded"
    conditions = [
        condition("Ready", "False", "Throttled", "EndpointReady: " + msg),
        condition("Reconciling", "True", "Throttled", "EndpointReady: " + msg),
        condition("Stalled", "False", "Progressing", "working towards Ready"),
    ]
    status, message = health("CrossAccountApi", xapi(conditions))
    assert status == "Progressing"
    assert message.startswith("Throttled: EndpointReady: ")


@pytest.mark.parametrize(
    "reason, message",
    [
        ("InvalidSpec", "spec.provider.vpcEndpointId: VPC endpoint vpce-9 does not exist"),
        ("RoleNotPermitted", "spec.provider.roleRef: AccountRole orders-provider is not granted to namespace team-a"),
        ("InvalidVpcIDNotFound", "CreateVpcEndpoint in account 222222222222: InvalidVpcID.NotFound: no vpc-0b"),
    ],
)
def test_stalled_is_degraded_with_its_reason(reason, message):
    assert health("CrossAccountApi", xapi(stalled(reason, message))) == (
        "Degraded",
        f"{reason}: {message}",
    )


def test_ready_is_healthy():
    assert health("CrossAccountApi", xapi(ready())) == (
        "Healthy",
        "every resource of the chain is in place",
    )


def test_ready_of_an_older_generation_is_progressing():
    status, message = health("CrossAccountApi", xapi(ready(generation=2), generation=3, observed=2))
    assert status == "Progressing"
    assert "generation 3" in message


def test_one_stale_condition_is_enough():
    conditions = ready(generation=3)
    conditions[-1] = dict(conditions[-1], observedGeneration=2)
    status, message = health("CrossAccountApi", xapi(conditions, generation=3))
    assert status == "Progressing"
    assert message.endswith("(Probed is of generation 2)")


def test_stale_status_observed_generation_is_progressing():
    status, message = health("CrossAccountApi", xapi(ready(generation=3), generation=3, observed=2))
    assert (status, message) == ("Progressing", "waiting for the controller to act on generation 3")


def test_stalled_of_an_older_generation_is_progressing():
    # The user just fixed the spec: the old Stalled no longer speaks for it.
    conditions = stalled("InvalidSpec", "spec.provider.vpcEndpointId: gone", generation=4)
    status, _ = health("CrossAccountApi", xapi(conditions, generation=5, observed=4))
    assert status == "Progressing"


def test_deleting_is_progressing_with_what_the_cleanup_waits_for():
    conditions = [
        condition("Ready", "False", "Deleting", "waiting for VPC link vl-1 to be deleted", 2),
        condition("Reconciling", "True", "Deleting", "waiting for VPC link vl-1 to be deleted", 2),
        condition("Stalled", "False", "Progressing", "working towards Ready", 2),
    ] + [dict(c, observedGeneration=1) for c in READY_STEPS]
    assert health("CrossAccountApi", xapi(conditions, generation=2, deleting=True)) == (
        "Progressing",
        "deleting: Deleting: waiting for VPC link vl-1 to be deleted",
    )


def test_deleting_a_ready_object_is_progressing():
    # Deletion bumps metadata.generation; the conditions still describe the live object.
    assert health("CrossAccountApi", xapi(ready(), generation=2, observed=1, deleting=True)) == (
        "Progressing",
        "deleting",
    )


def test_deleting_while_the_grant_is_gone_is_progressing_with_the_reason():
    conditions = stalled("RoleNotPermitted", "spec.provider.roleRef: AccountRole x does not exist")
    status, message = health("CrossAccountApi", xapi(conditions, deleting=True))
    assert status == "Progressing"
    assert message.startswith("deleting: RoleNotPermitted: ")


def test_conditions_without_observed_generation_are_read_as_they_are():
    # Written by an operator before observedGeneration was set on each condition.
    conditions = [{k: v for k, v in c.items() if k != "observedGeneration"} for c in ready()]
    obj = xapi(conditions, generation=7)
    del obj["status"]["observedGeneration"]
    assert health("CrossAccountApi", obj)[0] == "Healthy"


def test_not_ready_without_stalled_is_progressing():
    # An operator without the kstatus conditions: Ready alone.
    conditions = [condition("Ready", "False", "InvalidSpec", "EndpointReady: bad")]
    assert health("CrossAccountApi", xapi(conditions)) == (
        "Progressing",
        "InvalidSpec: EndpointReady: bad",
    )


def test_conditions_without_ready_wait_for_the_controller():
    conditions = [condition("EndpointReady", "True", "Available", "vpce-1 available")]
    assert health("CrossAccountApi", xapi(conditions)) == (
        "Progressing",
        "waiting for the controller",
    )


# --- AccountRole -----------------------------------------------------------------------------

ASSUMED = [
    condition("Ready", "True", "Assumed", "assumed; account 222222222222"),
    condition("Reconciling", "False", "Ready", "nothing left to do"),
    condition("Stalled", "False", "Ready", "nothing left to do"),
]
DENIED_MSG = (
    "AssumeRole in account 222222222222: AccessDenied: User: arn:aws:sts::111111111111:"
    "assumed-role/xapi-operator is not authorized to perform: sts:AssumeRole"
)
DENIED = [
    condition("Ready", "False", "AccessDenied", DENIED_MSG),
    condition("Reconciling", "False", "Stalled", "no progress without a change"),
    condition("Stalled", "True", "AccessDenied", DENIED_MSG),
]


def test_role_not_checked_yet_waits_for_the_controller():
    status, message = health("AccountRole", xrole())
    assert status == "Progressing"
    assert message.startswith("waiting for the controller")


def test_assumed_role_is_healthy_and_names_the_account():
    assert health("AccountRole", xrole(ASSUMED)) == ("Healthy", "assumed; account 222222222222")


def test_assumed_role_without_message_names_the_account_from_status():
    conditions = [dict(ASSUMED[0], message="")] + ASSUMED[1:]
    assert health("AccountRole", xrole(conditions)) == (
        "Healthy",
        "assumed; account 222222222222",
    )


def test_refused_role_is_degraded_with_stss_code():
    assert health("AccountRole", xrole(DENIED, account=None)) == (
        "Degraded",
        "AccessDenied: " + DENIED_MSG,
    )


def test_role_checked_for_an_older_generation_is_progressing():
    conditions = [dict(c, observedGeneration=1) for c in DENIED]
    obj = xrole(conditions, generation=2)
    obj["status"]["observedGeneration"] = 1
    status, message = health("AccountRole", obj)
    assert status == "Progressing"
    assert "generation 2" in message


def test_role_check_retrying_is_progressing():
    msg = "AssumeRole in account 222222222222: DispatchFailure: connection refused"
    conditions = [
        condition("Ready", "False", "DispatchFailure", msg),
        condition("Reconciling", "True", "DispatchFailure", msg),
        condition("Stalled", "False", "Progressing", "working towards Ready"),
    ]
    assert health("AccountRole", xrole(conditions)) == (
        "Progressing",
        "DispatchFailure: " + msg,
    )


def test_role_being_deleted_is_progressing():
    status, message = health("AccountRole", xrole(ASSUMED, deleting=True))
    assert (status, message) == ("Progressing", "deleting")
    status, message = health("AccountRole", xrole(DENIED, deleting=True))
    assert status == "Progressing" and message.startswith("deleting: AccessDenied")


# --- the documentation -----------------------------------------------------------------------


def crd_kinds():
    """(group, kind) of each CRD the repository ships."""
    out = set()
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                out.add((doc["spec"]["group"], doc["spec"]["names"]["kind"]))
    return out


def argocd_cm():
    text = (DOCS / "README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in text.split("```yaml")[1:]]
    maps = [yaml.safe_load(b.split("```", 1)[0]) for b in blocks]
    found = [m for m in maps if isinstance(m, dict) and m.get("metadata", {}).get("name") == "argocd-cm"]
    assert len(found) == 1, "docs/argocd/README.md shows exactly one argocd-cm"
    return found[0]


def test_both_kinds_have_a_script_named_for_their_crd():
    assert {(GROUP, kind) for kind in SCRIPTS} == crd_kinds()


def test_argocd_cm_snippet_is_exactly_the_lua_files():
    data = argocd_cm()["data"]
    expected = {
        f"resource.customizations.health.{GROUP}_{kind}": path.read_text()
        for kind, path in SCRIPTS.items()
    }
    assert set(data) == set(expected)
    for key, script in expected.items():
        assert data[key] == script, f"{key} in docs/argocd/README.md differs from the .lua file"


def test_docs_show_kubectl_wait_for_ready_and_for_stalled():
    text = (DOCS / "README.md").read_text()
    assert "kubectl wait --for=condition=Ready xapi/NAME --timeout=10m" in text
    assert "kubectl wait --for=condition=Stalled xapi/NAME" in text
