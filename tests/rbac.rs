//! The chart's RBAC is enough and no more. The ClusterRoles and the Lease Role are taken from
//! `helm template` of the chart, and bound to users without rights of their own; what those users
//! asked and were refused is read back from the API server's audit log, not from the controller.
//!
//! - With every rule, leader election on, an object goes to Ready and through deletion, no
//!   request is refused, and every verb of every rule is used.
//! - For each verb of each rule, a run with just that verb removed is refused exactly that verb on
//!   exactly that resource.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cross_account_api_operator::api::CrossAccountApi;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::{ControllerProcess, env, is_ready};

/// One verb of one rule: what a run without it must be refused.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Permission {
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    verb: String,
}

/// The chart's roles as `helm template` renders them (leader election on): the ClusterRoles'
/// rules and the Lease Role's rules.
fn rendered_rules() -> (Vec<PolicyRule>, Vec<PolicyRule>) {
    let out = std::process::Command::new(env("XAPI_HELM"))
        .args(["template", "xapi", "charts/cross-account-api-operator"])
        .args(["--set", "leaderElection.enabled=true"])
        .current_dir(support::root())
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (mut cluster, mut lease) = (Vec::new(), Vec::new());
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_yaml::Value = serde::Deserialize::deserialize(doc).expect("YAML");
        match value["kind"].as_str() {
            Some("ClusterRole") => {
                let role: ClusterRole = serde_yaml::from_value(value).expect("ClusterRole");
                cluster.extend(role.rules.unwrap_or_default());
            }
            Some("Role") => {
                let role: Role = serde_yaml::from_value(value).expect("Role");
                lease.extend(role.rules.unwrap_or_default());
            }
            _ => {}
        }
    }
    assert!(!cluster.is_empty() && !lease.is_empty(), "roles rendered");
    (cluster, lease)
}

fn permissions(rules: &[PolicyRule]) -> Vec<Permission> {
    let mut out = Vec::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.push(Permission {
                        group: group.clone(),
                        resource: resource.clone(),
                        verb: verb.clone(),
                    });
                }
            }
        }
    }
    out
}

/// `rules` without `gone`.
fn without(rules: &[PolicyRule], gone: &Permission) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for rule in rules {
        let hit = rule.api_groups.iter().flatten().any(|g| *g == gone.group)
            && rule.resources.iter().flatten().any(|r| *r == gone.resource);
        let mut rule = rule.clone();
        if hit {
            rule.verbs.retain(|v| *v != gone.verb);
        }
        if !rule.verbs.is_empty() {
            out.push(rule);
        }
    }
    out
}

fn user(i: usize) -> String {
    format!("xapi-rbac-{i:02}")
}

/// Binds `cluster` cluster-wide and `lease` in `ns` to user `i` (and nothing else).
async fn bind(
    admin: &kube::Client,
    i: usize,
    ns: &str,
    cluster: &[PolicyRule],
    lease: &[PolicyRule],
) {
    let name = user(i);
    let ssa = PatchParams::apply("xapi-tests").force();
    let subject = Subject {
        kind: "User".into(),
        name: name.clone(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        ..Default::default()
    };
    let meta = kube::api::ObjectMeta {
        name: Some(name.clone()),
        ..Default::default()
    };
    let role_ref = |kind: &str| RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: kind.into(),
        name: name.clone(),
    };
    Api::<ClusterRole>::all(admin.clone())
        .patch(
            &name,
            &ssa,
            &Patch::Apply(&ClusterRole {
                metadata: meta.clone(),
                rules: Some(cluster.to_vec()),
                ..Default::default()
            }),
        )
        .await
        .expect("ClusterRole");
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(
            &name,
            &ssa,
            &Patch::Apply(&ClusterRoleBinding {
                metadata: meta.clone(),
                role_ref: role_ref("ClusterRole"),
                subjects: Some(vec![subject.clone()]),
            }),
        )
        .await
        .expect("ClusterRoleBinding");
    Api::<Role>::namespaced(admin.clone(), ns)
        .patch(
            &name,
            &ssa,
            &Patch::Apply(&Role {
                metadata: meta.clone(),
                rules: Some(lease.to_vec()),
            }),
        )
        .await
        .expect("Role");
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .patch(
            &name,
            &ssa,
            &Patch::Apply(&RoleBinding {
                metadata: meta,
                role_ref: role_ref("Role"),
                subjects: Some(vec![subject]),
            }),
        )
        .await
        .expect("RoleBinding");
}

/// The requests of `user` in the audit log: (permission asked, HTTP code).
fn audited(user: &str) -> Vec<(Permission, i64)> {
    let log = std::fs::read_to_string(env("XAPI_AUDIT_LOG")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["user"]["username"] == user)
        .filter_map(|e| {
            let object = &e["objectRef"];
            let resource = object["resource"].as_str()?;
            let resource = match object["subresource"].as_str() {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_string(),
            };
            Some((
                Permission {
                    group: object["apiGroup"].as_str().unwrap_or_default().to_string(),
                    resource,
                    verb: e["verb"].as_str()?.to_string(),
                },
                e["responseStatus"]["code"].as_i64().unwrap_or_default(),
            ))
        })
        .collect()
}

fn start(i: usize, ns: &str) -> ControllerProcess {
    let kubeconfig = format!("{}/{}.kubeconfig", env("XAPI_RBAC_KUBECONFIGS"), user(i));
    let flags = ["--leader-election", "--leader-election-namespace", ns];
    ControllerProcess::start_with(ns, &kubeconfig, "5s", &flags, &user(i))
}

/// A fresh AccountRole (named after the run's user), so that this run's controller writes its
/// status: an AccountRole checked before keeps a status no check needs to change.
async fn fresh_account_role(admin: &kube::Client, i: usize) {
    let mut role = support::example_docs("account-roles.yaml").remove(0);
    role["metadata"]["name"] = user(i).into();
    support::apply_account_role(admin, &role).await;
}

/// An object whose roleRef no AccountRole grants: refused at every retry, so its Warning Event
/// repeats (the second one patches the first's series).
fn refused_object() -> serde_yaml::Value {
    let mut obj = support::example("orders.yaml");
    obj["metadata"]["name"] = "refused".into();
    obj["spec"]["provider"]["roleRef"] = "no-such-account-role".into();
    obj
}

#[tokio::test(flavor = "multi_thread")]
async fn the_charts_rbac_is_enough_and_each_verb_is_needed() {
    if env("XAPI_AUDIT_LOG").is_empty() {
        eprintln!("skipped: the cluster of KUBECONFIG has no audit log this test can read");
        return;
    }
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let (cluster, lease) = rendered_rules();
    let needed: Vec<Permission> = permissions(&cluster)
        .into_iter()
        .chain(permissions(&lease))
        .collect();
    assert!(needed.len() < 16, "more verbs than test users");

    // Every rule: Ready and deleted, every verb used, nothing refused.
    let ns = support::namespace(&admin, "rbac-all").await;
    bind(&admin, 0, &ns, &cluster, &lease).await;
    fresh_account_role(&admin, 0).await;
    let controller = start(0, &ns);
    support::create(&admin, &ns, &support::example("orders.yaml")).await;
    support::create(&admin, &ns, &refused_object()).await;
    support::wait_for(
        &admin,
        &ns,
        "orders",
        Duration::from_secs(300),
        "Ready",
        is_ready,
    )
    .await;
    support::delete_and_wait(&admin, &ns, "orders", Duration::from_secs(240)).await;
    support::delete_and_wait(&admin, &ns, "refused", Duration::from_secs(60)).await;
    support::wait_until(Duration::from_secs(60), "every verb used", || async {
        let used: BTreeSet<Permission> = audited(&user(0)).into_iter().map(|(p, _)| p).collect();
        needed.iter().all(|p| used.contains(p))
    })
    .await;
    drop(controller);
    support::delete_account_role(&admin, &user(0)).await;
    let refused: Vec<_> = audited(&user(0))
        .into_iter()
        .filter(|(_, code)| *code == 403)
        .collect();
    assert!(refused.is_empty(), "refused with every rule: {refused:?}");

    // Each verb removed in turn: the API server refuses exactly that one. The namespaces are
    // granted no AccountRole, so the objects make no AWS call, yet use every permission: the
    // finalizer, the status (RoleNotPermitted), the Warning Event and its repeat, the
    // AccountRoles' status, the grants' watches and the Lease.
    for (n, gone) in needed.iter().enumerate() {
        let i = n + 1;
        let ns = support::namespace_labelled(&admin, &format!("rbac-{i:02}"), &[]).await;
        bind(
            &admin,
            i,
            &ns,
            &without(&cluster, gone),
            &without(&lease, gone),
        )
        .await;
        fresh_account_role(&admin, i).await;
        let controller = start(i, &ns);
        support::create(&admin, &ns, &support::example("orders.yaml")).await;
        support::wait_until(
            Duration::from_secs(90),
            &format!("{} refused {gone:?}", user(i)),
            || async {
                audited(&user(i))
                    .iter()
                    .any(|(p, code)| p == gone && *code == 403)
            },
        )
        .await;
        drop(controller);
        let other: BTreeSet<Permission> = audited(&user(i))
            .into_iter()
            .filter(|(p, code)| *code == 403 && p != gone)
            .map(|(p, _)| p)
            .collect();
        assert!(
            other.is_empty(),
            "{} without {gone:?} was refused {other:?}",
            user(i)
        );
        // The controller may have put the finalizer on without being able to take it off.
        let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
        let unblock = json!({"metadata": {"finalizers": null}});
        let _ = api
            .patch("orders", &PatchParams::default(), &Patch::Merge(unblock))
            .await;
        let _ = api.delete("orders", &Default::default()).await;
        support::delete_account_role(&admin, &user(i)).await;
    }
}
