//! Tenants reach only the accounts granted to them. Each grant decision is read back from the
//! emulator: its STS record (which sessions were asked for, with which names and tags, and how
//! they ended) and its request log (which session made each call), never from the operator's
//! status alone.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use cross_account_api_operator::account_role::AccountRole;
use cross_account_api_operator::api::CrossAccountApi;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::{ControllerProcess, GRANT_CONSUMER, GRANT_PROVIDER, condition, env, is_ready};

const WAIT: Duration = Duration::from_secs(180);

/// Whether the controller reconciled `object` (`<name>.<namespace>`) because a watched related
/// object changed (kube-runtime's reason for a `watches` trigger) after its log had `from` bytes:
/// a grant change must act at once, not on the next retry of the error backoff.
fn woken_by_grant(controller: &ControllerProcess, from: usize, object: &str) -> bool {
    controller
        .log()
        .get(from..)
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.contains(&format!(
                "CrossAccountApi.v1alpha1.apigw.crossaccount.io/{object}"
            )) && l.contains("object.reason=related object updated")
        })
}

/// The AssumeRole records of one session name.
async fn sessions_named(name: &str) -> Vec<Value> {
    support::emulator_json("/_xapi/sts/sessions")
        .await
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["role_session_name"] == name)
        .cloned()
        .collect()
}

/// The requests made since `since` with the credentials of session `name`.
async fn calls_by(since: u64, name: &str) -> Vec<Value> {
    let (_, log) = support::emulator_requests(since).await;
    log.into_iter().filter(|r| r["session"] == name).collect()
}

async fn set_labels(admin: &kube::Client, ns: &str, labels: Value) {
    Api::<Namespace>::all(admin.clone())
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": labels}})),
        )
        .await
        .expect("namespace labels patched");
}

fn role_status(role: &AccountRole) -> Option<(String, String, String)> {
    role.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_role(
    admin: &kube::Client,
    name: &str,
    what: &str,
    check: impl Fn(&AccountRole) -> bool,
) -> AccountRole {
    let api: Api<AccountRole> = Api::all(admin.clone());
    let mut last = None;
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        let role = api.get(name).await.expect("AccountRole readable");
        if check(&role) {
            return role;
        }
        last = Some(role);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "AccountRole {name}: not {what}: {:?}",
        last.and_then(|r| r.status)
    );
}

/// The account of the ground's own credentials (the operator's), as STS answers it.
async fn own_account() -> String {
    let config = support::ground_aws_config().await;
    aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity")
        .account()
        .expect("account")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_reach_only_the_accounts_granted_to_them() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    // Granted the consumer side only, at first; the provider side by an AccountRole of this
    // test that grants by the provider label only (no namespace list).
    let ns = support::namespace_labelled(&admin, "tenancy", &[GRANT_CONSUMER]).await;
    let provider_role = format!("{ns}-provider");
    let mut role = support::example_docs("account-roles.yaml").remove(0);
    role["metadata"]["name"] = provider_role.clone().into();
    role["spec"]
        .as_mapping_mut()
        .expect("spec")
        .remove("namespaces");
    support::apply_account_role(&admin, &role).await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let session = format!("xapi-{ns}-tenant");
    let start = support::emulator_log_end().await;

    // 1. Not granted: RoleNotPermitted naming the AccountRole and the namespace, a Warning
    //    Event, and no AWS call for the object (no session was even asked for).
    let mut obj = support::example("orders.yaml");
    obj["metadata"]["name"] = "tenant".into();
    obj["spec"]["provider"]["roleRef"] = provider_role.clone().into();
    let made = support::create(&admin, &ns, &obj).await;
    let uid = made.metadata.uid.clone().expect("uid");
    let refused = support::wait_for(&admin, &ns, "tenant", WAIT, "RoleNotPermitted", |o| {
        condition(o, "EndpointReady").is_some_and(|c| c.1 == "RoleNotPermitted")
    })
    .await;
    let (_, _, message) = condition(&refused, "EndpointReady").expect("condition");
    assert!(
        message.contains("spec.provider.roleRef")
            && message.contains(&provider_role)
            && message.contains(&ns),
        "{message}"
    );
    assert_eq!(
        condition(&refused, "Ready").map(|c| c.1).as_deref(),
        Some("RoleNotPermitted")
    );
    support::wait_until(WAIT, "a RoleNotPermitted Warning Event", || {
        support::warning_with(&admin, &ns, "tenant", "RoleNotPermitted")
    })
    .await;
    // The retry (after the backoff's 30 s) refuses again: its Warning counts in the first
    // Event's series instead of making another Event.
    support::wait_until(
        WAIT,
        "the refusal's repeat in the Warning's series",
        || async {
            let refusals = support::warnings(&admin, &ns, "tenant", "RoleNotPermitted").await;
            refusals
                .iter()
                .any(|e| e.series.as_ref().is_some_and(|s| s.count >= 2))
        },
    )
    .await;
    assert_eq!(
        support::warnings(&admin, &ns, "tenant", "RoleNotPermitted")
            .await
            .len(),
        1,
        "one Event for the repeated refusal"
    );
    // The Event gone (deleted, or expired by the API server's TTL): the next refusal makes a
    // new one rather than being lost on a patch of the old.
    let first = support::warnings(&admin, &ns, "tenant", "RoleNotPermitted").await;
    let first_name = first
        .first()
        .and_then(|e| e.metadata.name.clone())
        .expect("the Warning's name");
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(admin.clone(), &ns)
        .delete(&first_name, &Default::default())
        .await
        .expect("delete the Warning");
    // The next retry is the backoff's 60 s away; the one after it, 120 s more.
    support::wait_until(
        Duration::from_secs(100),
        "a new Warning for the next refusal",
        || async {
            let refusals = support::warnings(&admin, &ns, "tenant", "RoleNotPermitted").await;
            refusals
                .iter()
                .any(|e| e.metadata.name.as_deref() != Some(first_name.as_str()))
        },
    )
    .await;
    assert!(sessions_named(&session).await.is_empty());
    assert!(calls_by(start, &session).await.is_empty());

    // 2. Granted by a label: converges without a restart; each side's session carries the
    //    object's name and tags, and the calls in each account were made with it.
    let object = format!("tenant.{ns}");
    let before = controller.log().len();
    set_labels(
        &admin,
        &ns,
        json!({GRANT_PROVIDER.0: GRANT_PROVIDER.1, GRANT_CONSUMER.0: GRANT_CONSUMER.1}),
    )
    .await;
    support::wait_for(&admin, &ns, "tenant", WAIT, "Ready once granted", is_ready).await;
    assert!(
        woken_by_grant(&controller, before, &object),
        "the namespace's label did not wake the object"
    );
    let issued = sessions_named(&session).await;
    let roles: Vec<&str> = issued
        .iter()
        .filter_map(|s| s["role_arn"].as_str())
        .collect();
    for role in [env("XAPI_PROVIDER_ROLE_ARN"), env("XAPI_CONSUMER_ROLE_ARN")] {
        assert!(roles.contains(&role.as_str()), "{role} in {issued:?}");
    }
    // Each side's session signs every call of the object with the credentials of one AssumeRole.
    assert_eq!(roles.len(), 2, "{issued:?}");
    for s in &issued {
        assert_eq!(s["outcome"], "ok", "{s}");
        assert_eq!(
            s["tags"],
            json!({"xapi:namespace": ns, "xapi:name": "tenant"}),
            "{s}"
        );
        assert_eq!(s["transitive_tag_keys"], json!([]), "{s}");
    }
    let accounts: std::collections::BTreeSet<String> = calls_by(start, &session)
        .await
        .iter()
        .filter_map(|r| r["account"].as_str().map(str::to_string))
        .collect();
    assert!(
        accounts.contains(&env("XAPI_PROVIDER_ACCOUNT"))
            && accounts.contains(&env("XAPI_CONSUMER_ACCOUNT")),
        "{accounts:?}"
    );

    // 3. The provider grant withdrawn: no more calls with the object's session, a condition
    //    says why; deletion keeps the finalizer (RoleNotPermitted) and deletes nothing.
    set_labels(&admin, &ns, json!({GRANT_PROVIDER.0: null})).await;
    support::wait_for(&admin, &ns, "tenant", WAIT, "RoleNotPermitted", |o| {
        condition(o, "EndpointReady").is_some_and(|c| c.1 == "RoleNotPermitted")
    })
    .await;
    let withdrawn = support::emulator_log_end().await;
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    api.delete("tenant", &Default::default())
        .await
        .expect("delete accepted");
    support::wait_for(&admin, &ns, "tenant", WAIT, "blocked deletion", |o| {
        o.metadata.deletion_timestamp.is_some()
            && condition(o, "Ready").is_some_and(|c| c.1 == "RoleNotPermitted")
    })
    .await;
    // Several resyncs (5 s) later: still there, untouched, and nothing called.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(api.get_opt("tenant").await.expect("readable").is_some());
    let after = calls_by(withdrawn, &session).await;
    assert!(
        after.is_empty(),
        "calls after the grant was withdrawn: {after:?}"
    );
    assert_eq!(support::tagged_kinds(&uid).await, support::one_of_each());

    // 4. The grant back, this time by a change of the AccountRole (the namespace listed): the
    //    deletion completes and nothing is left.
    role["spec"]["namespaces"] = vec![serde_yaml::Value::from(ns.clone())].into();
    support::apply_account_role(&admin, &role).await;
    support::wait_until(WAIT, "the object deleted once granted again", || async {
        api.get_opt("tenant").await.ok().flatten().is_none()
    })
    .await;
    assert!(support::tagged_with(&uid).await.is_empty());
    support::delete_account_role(&admin, &provider_role).await;

    // 5. An inline roleArn is refused by default (InlineRoleNotAllowed, no session asked for)...
    let mut inline = support::example("orders.yaml");
    inline["metadata"]["name"] = "inline".into();
    for (side, role, id) in [
        (
            "provider",
            "XAPI_PROVIDER_ROLE_ARN",
            "XAPI_PROVIDER_EXTERNAL_ID",
        ),
        (
            "consumer",
            "XAPI_CONSUMER_ROLE_ARN",
            "XAPI_CONSUMER_EXTERNAL_ID",
        ),
    ] {
        let spec = inline["spec"][side]
            .as_mapping_mut()
            .expect("side is a mapping");
        spec.remove("roleRef");
        spec.insert("roleArn".into(), env(role).into());
        spec.insert("externalId".into(), env(id).into());
    }
    let inline_uid = support::create(&admin, &ns, &inline)
        .await
        .metadata
        .uid
        .expect("uid");
    support::wait_for(&admin, &ns, "inline", WAIT, "InlineRoleNotAllowed", |o| {
        condition(o, "Ready").is_some_and(|c| c.1 == "InlineRoleNotAllowed")
    })
    .await;
    assert!(
        sessions_named(&format!("xapi-{ns}-inline"))
            .await
            .is_empty()
    );
    drop(controller);

    // ... and accepted with --allow-inline-roles.
    let controller = ControllerProcess::start_with(
        &ns,
        &env("KUBECONFIG"),
        "5s",
        &["--allow-inline-roles"],
        &format!("{ns}-inline"),
    );
    support::wait_for(&admin, &ns, "inline", WAIT, "Ready with the flag", is_ready).await;
    support::delete_and_wait(&admin, &ns, "inline", WAIT).await;
    assert!(support::tagged_with(&inline_uid).await.is_empty());
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_role_shows_whether_the_operator_can_assume_it() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "account-roles").await;
    let other = support::namespace(&admin, "account-roles-other").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;

    // The ground's AccountRoles: assumed, with the account id.
    for (name, account) in [
        ("xapi-provider", "XAPI_PROVIDER_ACCOUNT"),
        ("xapi-consumer", "XAPI_CONSUMER_ACCOUNT"),
    ] {
        let role = wait_role(&admin, name, "Assumed", |r| {
            role_status(r).is_some_and(|c| c.0 == "True" && c.1 == "Assumed")
        })
        .await;
        let status = role.status.expect("status");
        assert_eq!(status.account_id.as_deref(), Some(env(account).as_str()));
        assert_eq!(status.observed_generation, role.metadata.generation);
    }
    let checks = sessions_named("xapi-accountrole-xapi-provider").await;
    assert!(!checks.is_empty(), "the check's own session");
    assert!(checks.iter().all(|s| s["tags"] == json!({})), "{checks:?}");

    // A role whose trust policy wants another ExternalId: AccessDenied with STS's message in
    // the AccountRole's own status.
    let wrong = format!("{ns}-wrong-id");
    let mut role = support::example_docs("account-roles.yaml").remove(0);
    role["metadata"]["name"] = wrong.clone().into();
    role["spec"]["externalId"] = "not-the-seeded-one".into();
    support::apply_account_role(&admin, &role).await;
    let refused = wait_role(&admin, &wrong, "AccessDenied", |r| {
        role_status(r).is_some_and(|c| c.0 == "False" && c.1 == "AccessDenied")
    })
    .await;
    let (_, _, message) = role_status(&refused).expect("condition");
    assert!(
        message.contains("not authorized to perform: sts:AssumeRole"),
        "{message}"
    );
    assert!(refused.status.and_then(|s| s.account_id).is_none());
    support::delete_account_role(&admin, &wrong).await;

    // The documented trust policy that admits one namespace's sessions only
    // (docs/iam/trust-policy-by-namespace.json), on a role of the provider account: the
    // object of that namespace gets its session, the same AccountRole used from another
    // namespace gets AccessDenied from STS.
    let role_name = format!("xapi-team-{}", &ns[ns.len() - 6..]);
    let trust =
        std::fs::read_to_string(support::root().join("docs/iam/trust-policy-by-namespace.json"))
            .expect("trust policy")
            .replace(
                "arn:aws:iam::OPERATOR_ACCOUNT:role/cross-account-api-operator",
                &format!("arn:aws:iam::{}:root", own_account().await),
            )
            .replace("EXTERNAL_ID", "team-ext-id")
            .replace("TEAM_NAMESPACE", &ns);
    let made = support::http_post(
        &format!("{}/_xapi/iam/roles", env("AWS_ENDPOINT_URL")),
        &json!({"account": env("XAPI_PROVIDER_ACCOUNT"), "name": role_name, "trust_policy": trust})
            .to_string(),
    )
    .await;
    assert!(made.contains("arn:aws:iam::"), "{made}");
    let team_role = format!("{ns}-team");
    let mut role = support::example_docs("account-roles.yaml").remove(0);
    role["metadata"]["name"] = team_role.clone().into();
    role["spec"]["roleArn"] = format!(
        "arn:aws:iam::{}:role/{role_name}",
        env("XAPI_PROVIDER_ACCOUNT")
    )
    .into();
    role["spec"]["externalId"] = "team-ext-id".into();
    role["spec"]["namespaces"] =
        vec![serde_yaml::Value::from(ns.clone()), other.clone().into()].into();
    support::apply_account_role(&admin, &role).await;
    let mut objects = HashMap::new();
    for namespace in [&ns, &other] {
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "team".into();
        obj["spec"]["provider"]["roleRef"] = team_role.clone().into();
        let made = support::create(&admin, namespace, &obj).await;
        objects.insert(namespace.clone(), made.metadata.uid.expect("uid"));
    }
    let other_controller =
        ControllerProcess::start_with(&other, &env("KUBECONFIG"), "5s", &[], &other);
    let refused = support::wait_for(&admin, &other, "team", WAIT, "AccessDenied", |o| {
        condition(o, "EndpointReady").is_some_and(|c| c.1 == "AccessDenied")
    })
    .await;
    let (_, _, message) = condition(&refused, "EndpointReady").expect("condition");
    assert!(message.contains("AssumeRole"), "{message}");
    support::wait_until(WAIT, "the team's own session", || async {
        sessions_named(&format!("xapi-{ns}-team"))
            .await
            .iter()
            .any(|s| s["outcome"] == "ok")
    })
    .await;
    let team_arn = role["spec"]["roleArn"]
        .as_str()
        .expect("role ARN")
        .to_string();
    let denied: Vec<Value> = sessions_named(&format!("xapi-{other}-team"))
        .await
        .into_iter()
        .filter(|s| s["role_arn"] == team_arn.as_str())
        .collect();
    assert!(
        !denied.is_empty() && denied.iter().all(|s| s["outcome"] == "AccessDenied"),
        "{denied:?}"
    );
    for (namespace, uid) in &objects {
        support::delete_and_wait(&admin, namespace, "team", WAIT).await;
        assert!(support::tagged_with(uid).await.is_empty());
    }
    support::delete_account_role(&admin, &team_role).await;
    drop(other_controller);
    drop(controller);
}
