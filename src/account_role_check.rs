//! The operator's own check of each `AccountRole`: it assumes the role (session
//! `xapi-accountrole-<name>`) when the role is new or its spec changed, and writes the account
//! id and a `Ready` condition, so an admin sees a broken grant before any tenant does.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::account_role::{AccountRole, AccountRoleStatus};
use crate::aws::{AccountKey, Session};
use crate::conditions::{self, Progress, StepCondition};
use crate::controller::{Context, MANAGER};
use crate::error::{Error, ErrorClass};

/// Region for the check when the AccountRole names none: STS answers in every region.
const DEFAULT_REGION: &str = "us-east-1";

/// Runs the check until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<AccountRole> = Api::all(ctx.kube.clone());
    let (reader, writer) = reflector::store();
    // Only spec changes: the check's own status write must not start it again.
    let changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    Controller::for_stream(changes, reader)
        .shutdown_on_signal()
        .run(check, on_error, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "AccountRole check failed");
            }
        })
        .await;
}

/// The key of the check's own session.
pub fn check_key(role: &AccountRole) -> AccountKey {
    AccountKey {
        role_arn: Some(role.spec.role_arn.clone()),
        external_id: role.spec.external_id.clone(),
        region: role
            .spec
            .regions
            .as_ref()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| DEFAULT_REGION.to_string()),
        session: Some(Session::for_account_role(&role.name_any())),
    }
}

async fn check(role: Arc<AccountRole>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = role.name_any();
    let (account_id, condition, progress) = match ctx.aws.check(&check_key(&role)).await {
        Ok(account) => (
            Some(account.clone()),
            StepCondition::ready("Ready", "Assumed", format!("assumed; account {account}")),
            Progress::Moving,
        ),
        // A refusal waits for a change to the role in AWS or to the AccountRole; a throttle
        // or an outage does not.
        Err(e) => (
            None,
            StepCondition::not_ready("Ready", e.reason(), e.to_string()),
            crate::controller::progress_of(Some(&e)),
        ),
    };
    let old = role.status.clone().unwrap_or_default();
    let status = AccountRoleStatus {
        observed_generation: role.metadata.generation,
        account_id: account_id.or_else(|| old.account_id.clone()),
        conditions: conditions::set_ready(
            &old.conditions,
            condition.clone(),
            progress,
            role.metadata.generation,
            &Time(jiff::Timestamp::now()),
        ),
    };
    if status != old {
        let patch = json!({
            "apiVersion": AccountRole::api_version(&()),
            "kind": AccountRole::kind(&()),
            "status": status,
        });
        Api::<AccountRole>::all(ctx.kube.clone())
            .patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    info!(account_role = %name, ready = condition.ready, reason = %condition.reason, "AccountRole checked");
    // A refusal is retried slowly: the admin's fix (trust policy, external id) is outside the
    // cluster, and a spec change checks again at once.
    Ok(if condition.ready {
        Action::await_change()
    } else {
        Action::requeue(crate::controller::backoff(ErrorClass::Terminal, 2))
    })
}

fn on_error(_: Arc<AccountRole>, err: &Error, _: Arc<Context>) -> Action {
    warn!(error = %err, "AccountRole status not written");
    Action::requeue(Duration::from_secs(10))
}
