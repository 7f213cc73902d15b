//! kube-runtime Controller wiring: finalizer, status patch, Events, metrics and the requeue
//! policy (a per-object backoff, since kube gives none).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::utils::Predicate;
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::access::{GrantFeeds, Grants};
use crate::api::{CrossAccountApi, CrossAccountApiStatus, DeletionPolicy, FINALIZER};
use crate::aws::{AwsClients, ListReads, Ownership};
use crate::conditions::{self, Progress, StepCondition};
use crate::error::{Error, ErrorClass, Result};
use crate::events::Events;
use crate::reconcile::{self, Journal, Side, SideName, Sides};
use crate::telemetry::{Metrics, Readiness};

/// Field manager of every write.
pub const MANAGER: &str = "cross-account-api-operator";

/// Shared state of every reconcile.
pub struct Context {
    /// Kubernetes client.
    pub kube: Client,
    /// AWS clients per account.
    pub aws: AwsClients,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Events about objects.
    pub events: Events,
    /// How often a Ready object is re-checked for drift.
    pub resync: Duration,
    /// Which roles each object may act as.
    pub grants: Grants,
    /// Consecutive failed reconciles per object, for the error backoff.
    errors: Mutex<HashMap<String, u32>>,
    /// What each object is waiting on, for the polling delay.
    waits: Mutex<HashMap<String, Waiting>>,
}

impl Context {
    /// A context.
    pub fn new(
        kube: Client,
        aws: AwsClients,
        metrics: Arc<Metrics>,
        resync: Duration,
        grants: Grants,
    ) -> Self {
        let events = Events::new(kube.clone(), MANAGER, std::env::var("POD_NAME").ok());
        Context {
            kube,
            aws,
            metrics,
            events,
            resync,
            grants,
            errors: Mutex::default(),
            waits: Mutex::default(),
        }
    }

    /// One more failure: the error backoff grows; the waiting delay starts over afterwards.
    fn next_error(&self, key: &str) -> u32 {
        forget(&self.waits, key);
        count(&self.errors, key)
    }

    /// One more wait on AWS: progress, so the error count starts over. How long the object
    /// has been waiting, and waiting on `what`, so far.
    fn next_wait(&self, key: &str, what: String) -> Waited {
        forget(&self.errors, key);
        waited(&self.waits, key, what, Instant::now())
    }

    fn reset_attempts(&self, key: &str) {
        forget(&self.errors, key);
        forget(&self.waits, key);
    }
}

/// Counts one more for `key` and returns the count.
fn count(counts: &Mutex<HashMap<String, u32>>, key: &str) -> u32 {
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    let n = counts.entry(key.to_string()).or_insert(0);
    *n = n.saturating_add(1);
    *n
}

/// An object's wait on AWS: since when it waits at all, and on what (its waiting steps'
/// reasons) since when.
#[derive(Clone, Debug)]
struct Waiting {
    on: String,
    since: Instant,
    on_since: Instant,
}

/// How long an object has waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waited {
    /// Since its first waiting poll.
    pub total: Duration,
    /// Since the first poll that found it waiting on what it waits on now.
    pub in_state: Duration,
}

/// How long `key` has waited, and waited on `what`, at `now`: each state AWS passes through is
/// timed on its own.
fn waited(
    since: &Mutex<HashMap<String, Waiting>>,
    key: &str,
    what: String,
    now: Instant,
) -> Waited {
    let mut since = since.lock().unwrap_or_else(|e| e.into_inner());
    let w = since.entry(key.to_string()).or_insert_with(|| Waiting {
        on: what.clone(),
        since: now,
        on_since: now,
    });
    if w.on != what {
        w.on = what;
        w.on_since = now;
    }
    Waited {
        total: now.saturating_duration_since(w.since),
        in_state: now.saturating_duration_since(w.on_since),
    }
}

/// Starts `key`'s count over.
fn forget<V>(counts: &Mutex<HashMap<String, V>>, key: &str) {
    counts.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
}

/// Delay before the next try after `attempt` consecutive failures of `class`.
pub fn backoff(class: ErrorClass, attempt: u32) -> Duration {
    let exp = |base: u64, cap: u64| {
        Duration::from_secs(
            base.saturating_mul(1u64 << attempt.saturating_sub(1).min(10))
                .min(cap),
        )
    };
    match class {
        ErrorClass::InUse => Duration::from_secs(3),
        ErrorClass::NotYetVisible => Duration::from_secs(1),
        ErrorClass::Retryable => exp(2, 120),
        ErrorClass::Throttled => exp(10, 300),
        ErrorClass::Terminal => exp(30, 600),
    }
}

/// The shortest delay between two polls of one waiting object.
const FASTEST_POLL: Duration = Duration::from_millis(250);

/// Delay while waiting on AWS (endpoint pending, NLB provisioning, VPC link PENDING): a
/// thirtieth of the time waited on the current state so far, between 1 s and 15 s, and 250 ms
/// within the object's first second of waiting. AWS gives no completion time and its waits range
/// from instant to minutes, so the poll is a fixed fraction of the wait whatever its length: a
/// state is seen at most 3.3 % (or 15 s) after it was reached, and a transition that is over at
/// once costs no whole second. States that alternate (a flapping target) poll at 1 s, not faster.
pub fn waiting_delay(waited: Waited) -> Duration {
    if waited.total < Duration::from_secs(1) {
        return FASTEST_POLL;
    }
    (waited.in_state / 30).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// Runs the controller until a shutdown signal.
pub async fn run(
    ctx: Arc<Context>,
    feeds: GrantFeeds,
    namespace: Option<String>,
    concurrency: u16,
    readiness: Readiness,
) -> anyhow_like::Result {
    let api: Api<CrossAccountApi> = match &namespace {
        Some(ns) => Api::namespaced(ctx.kube.clone(), ns),
        None => Api::all(ctx.kube.clone()),
    };
    // Fail early and clearly when the CRD is missing.
    api.list(&ListParams::default().limit(1)).await.map_err(|e| {
        format!("cannot list crossaccountapis.apigw.crossaccount.io ({e}); is the CRD installed? `cross-account-api-operator crd | kubectl apply -f -`")
    })?;
    // Ready once the CRD answers a list: kube-runtime 5.0's store readiness was seen never to
    // resolve although the watch ran.
    readiness.set_ready();
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        "controller up"
    );
    // Reconcile on spec changes (generation: deletion bumps it too) and finalizer changes, not
    // on the operator's own status writes: the probe's time changes the status on every probe,
    // and reconciling again for it would double every resync's reads. Resyncs come from the
    // requeue.
    let (reader, writer) = reflector::store();
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(forget_bookkeeping)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            Predicate::combine(predicates::generation, predicates::finalizers),
            Default::default(),
        );
    // A grant that changes (an AccountRole, a namespace's labels) re-checks the objects it
    // concerns at once.
    let (roles, namespaces) = feeds.watch(ctx.kube.clone());
    let by_role = reader.clone();
    let by_namespace = reader.clone();
    let controller = Controller::for_stream(changes, reader)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .watches_stream(roles, move |role| {
            Grants::users_of(&by_role, &role.name_any())
        })
        .watches_stream(namespaces, move |ns| {
            Grants::in_namespace(&by_namespace, &ns.name_any())
        });
    let objects = controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "reconcile failed");
            }
        });
    tokio::join!(objects, crate::account_role_check::run(ctx));
    info!("controller stopped");
    Ok(())
}

/// A tiny error alias for `run`: the message is what the operator prints before exiting.
pub mod anyhow_like {
    /// `Ok(())` or a message.
    pub type Result = std::result::Result<(), String>;
}

/// Drops from a watched object what the controller never reads and the cache would hold for
/// every object: the field managers and kubectl's copy of the last applied manifest.
fn forget_bookkeeping(obj: &mut CrossAccountApi) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
}

fn object_key(obj: &CrossAccountApi) -> String {
    obj.owner_ref()
}

#[instrument(skip(obj, ctx), fields(object = %obj.owner_ref()))]
async fn reconcile(obj: Arc<CrossAccountApi>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<CrossAccountApi> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, &ctx, &api).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if let Err(e) = &result {
        let deleting = matches!(e, Error::Finalizer(inner) if matches!(inner.as_ref(), kube::runtime::finalizer::Error::CleanupFailed(Error::DeletionPending(_))));
        ctx.metrics
            .reconciled(if deleting { "deleting" } else { "error" });
    }
    ctx.metrics.reconcile_took(started.elapsed());
    result
}

fn error_policy(obj: Arc<CrossAccountApi>, err: &Error, ctx: Arc<Context>) -> Action {
    let class = match err {
        Error::Finalizer(inner) => match inner.as_ref() {
            kube::runtime::finalizer::Error::CleanupFailed(e)
            | kube::runtime::finalizer::Error::ApplyFailed(e) => e.class(),
            _ => ErrorClass::Retryable,
        },
        other => other.class(),
    };
    let attempt = ctx.next_error(&object_key(&obj));
    let delay = backoff(class, attempt);
    if class != ErrorClass::InUse {
        warn!(object = %obj.owner_ref(), error = %err, ?delay, "will retry");
    }
    Action::requeue(delay)
}

/// Both sides' clients. The grants are checked first, so a side the object may not use makes
/// no AWS call at all.
async fn sides<'a>(
    ctx: &'a Context,
    obj: &CrossAccountApi,
    owner: &'a Ownership,
) -> std::result::Result<Sides<'a>, (SideName, Error)> {
    let provider_key = ctx
        .grants
        .key_for(obj, SideName::Provider)
        .map_err(|e| (SideName::Provider, e))?;
    let consumer_key = ctx
        .grants
        .key_for(obj, SideName::Consumer)
        .map_err(|e| (SideName::Consumer, e))?;
    let (provider, consumer) = tokio::join!(
        ctx.aws.for_account(&provider_key),
        ctx.aws.for_account(&consumer_key)
    );
    let provider = provider.map_err(|e| (SideName::Provider, e))?;
    let consumer = consumer.map_err(|e| (SideName::Consumer, e))?;
    Ok(Sides {
        provider: Side {
            key: provider_key,
            clients: provider,
            owner,
        },
        consumer: Side {
            key: consumer_key,
            clients: consumer,
            owner,
        },
    })
}

fn ownership(obj: &CrossAccountApi) -> Result<Ownership> {
    let uid = obj.metadata.uid.clone().ok_or_else(|| Error::InvalidSpec {
        field: "metadata.uid".into(),
        message: "object has no uid yet".into(),
    })?;
    Ok(Ownership {
        owner: obj.owner_ref(),
        uid,
    })
}

async fn apply(obj: &CrossAccountApi, ctx: &Context, api: &Api<CrossAccountApi>) -> Result<Action> {
    let owner = ownership(obj)?;
    let journal = Journal::default();
    let old = obj.status.clone().unwrap_or_default();
    let was_ready = obj.was_ready();
    // What many objects of an account share is read once for all of them: once per resync for
    // Ready objects, whose resync confirms; a fraction of a second old for the others, so that many
    // objects waiting on their NLBs and VPC links poll one list, not one each (and read their own
    // resources when the others' writes leave no list to share).
    let reads = if was_ready {
        ListReads::resync(ctx.resync)
    } else {
        ListReads::polling(LIST_MAX_AGE_WHILE_WORKING)
    };
    let applied = match sides(ctx, obj, &owner).await {
        Ok(sides) => {
            let sides = sides.sharing_reads(reads);
            reconcile::apply(&sides, obj, &journal, ctx.resync).await
        }
        Err((side, e)) => reconcile::without_credentials(obj, side, e),
    };

    let now = Time(jiff::Timestamp::now());
    let error = applied.error.as_ref().map(|e| (e.reason(), e.to_string()));
    let status = CrossAccountApiStatus {
        observed_generation: obj.metadata.generation,
        conditions: conditions::merge(
            &old.conditions,
            &applied.steps,
            progress_of(applied.error.as_ref()),
            error.as_ref().map(|(r, m)| (r.as_str(), m.as_str())),
            obj.metadata.generation,
            &now,
        ),
        provider: Some(applied.provider.clone()),
        consumer: Some(applied.consumer.clone()),
        routes: applied.routes.clone(),
    };
    patch_status(api, obj, &old, status).await?;
    let events = journal.take();
    if was_ready {
        for (_, reason, _) in events.iter().filter(|(t, _, _)| *t == EventType::Normal) {
            if let Some(kind) = drift_kind(reason) {
                ctx.metrics.drift_repaired(kind);
            }
        }
    }
    if applied.is_ready() && !was_ready {
        let since = old
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.last_transition_time.0)
            .or(obj.metadata.creation_timestamp.as_ref().map(|t| t.0));
        if let Some(since) = since {
            let took = now.0.duration_since(since);
            ctx.metrics
                .became_ready(Duration::try_from(took).unwrap_or_default());
        }
    }
    ctx.metrics
        .object_ready(&object_key(obj), Some(applied.is_ready()));
    publish_events(ctx, obj, events).await;
    for probe in &applied.probes_ran {
        ctx.metrics.probed(probe.status, probe.latency_ms);
    }

    let key = object_key(obj);
    ctx.metrics.reconciled(if applied.error.is_some() {
        "error"
    } else if applied.is_ready() {
        "ready"
    } else {
        "waiting"
    });
    if let Some(err) = &applied.error {
        // EC2 catching up with what was just made is no news: the condition shows it.
        if err.class() != ErrorClass::NotYetVisible {
            publish_one(ctx, obj, EventType::Warning, &err.reason(), err.to_string()).await;
        }
        let attempt = ctx.next_error(&key);
        let delay = backoff(err.class(), attempt);
        warn!(error = %err, ?delay, "step failed");
        return Ok(Action::requeue(delay));
    }
    if applied.is_ready() {
        ctx.reset_attempts(&key);
        info!("ready");
        // Drift checks every resync; probes as often as the object asks.
        let next = if reconcile::probe::is_probed(obj) {
            reconcile::probe::interval(obj, ctx.resync).min(ctx.resync)
        } else {
            ctx.resync
        };
        Ok(Action::requeue(next))
    } else {
        let waiting_on = applied
            .steps
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.reason.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let waited = ctx.next_wait(&key, waiting_on);
        Ok(Action::requeue(waiting_delay(waited)))
    }
}

/// How old a shared list may be for an object that is not Ready: no older than the fastest
/// poll, so a single object never reads its own list again (its next poll comes later), while
/// many objects polling at once share one.
const LIST_MAX_AGE_WHILE_WORKING: Duration = FASTEST_POLL;

/// Stalled when the error is one only a change resolves (kstatus).
pub fn progress_of(error: Option<&Error>) -> Progress {
    match error.map(Error::class) {
        Some(ErrorClass::Terminal) => Progress::Stalled,
        _ => Progress::Moving,
    }
}

async fn cleanup(
    obj: &CrossAccountApi,
    ctx: &Context,
    api: &Api<CrossAccountApi>,
) -> Result<Action> {
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        publish_one(
            ctx,
            obj,
            EventType::Normal,
            "Retained",
            "deletionPolicy Retain: AWS resources left in place".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let owner = ownership(obj)?;
    let sides = match sides(ctx, obj, &owner).await {
        Ok(sides) => sides,
        // Without both sides' credentials Apply makes nothing: an object whose status records
        // nothing never made anything, and its finalizer goes.
        Err((_, e)) if reconcile::cleanup::made_nothing(obj) => {
            info!(error = %e, "nothing was made; no cleanup needed");
            ctx.reset_attempts(&object_key(obj));
            return Ok(Action::await_change());
        }
        // Nothing is deleted with credentials the object may no longer use: the finalizer
        // stays until the grant is back (or an admin removes it), and the status says why.
        Err((_, e)) => {
            if matches!(e, Error::NotPermitted { .. }) {
                let old = obj.status.clone().unwrap_or_default();
                let mut status = old.clone();
                status.conditions = conditions::set_ready(
                    &old.conditions,
                    StepCondition::not_ready("Ready", e.reason(), e.to_string()),
                    Progress::Stalled,
                    obj.metadata.generation,
                    &Time(jiff::Timestamp::now()),
                );
                patch_status(api, obj, &old, status).await?;
                publish_one(
                    ctx,
                    obj,
                    EventType::Warning,
                    &e.reason(),
                    format!("deletion waits: {e}"),
                )
                .await;
            }
            return Err(e);
        }
    };
    let journal = Journal::default();
    let outcome = reconcile::cleanup::run(&sides, obj, &journal).await;
    publish(ctx, obj, journal).await;
    match outcome? {
        None => {
            ctx.reset_attempts(&object_key(obj));
            ctx.aws
                .forget(&[sides.provider.key, sides.consumer.key])
                .await;
            ctx.metrics.reconciled("deleted");
            ctx.metrics.object_ready(&object_key(obj), None);
            info!("cleaned up");
            Ok(Action::await_change())
        }
        Some(wait) => {
            let old = obj.status.clone().unwrap_or_default();
            let now = Time(jiff::Timestamp::now());
            let mut status = old.clone();
            status.conditions = conditions::set_ready(
                &old.conditions,
                StepCondition::not_ready("Ready", "Deleting", wait.clone()),
                Progress::Moving,
                obj.metadata.generation,
                &now,
            );
            patch_status(api, obj, &old, status).await?;
            // Keep the finalizer: an Err makes the finalizer helper leave it in place.
            Err(Error::DeletionPending(wait))
        }
    }
}

async fn patch_status(
    api: &Api<CrossAccountApi>,
    obj: &CrossAccountApi,
    old: &CrossAccountApiStatus,
    new: CrossAccountApiStatus,
) -> Result<()> {
    // Skip the write when nothing but time would change.
    if *old == new {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": CrossAccountApi::api_version(&()),
        "kind": CrossAccountApi::kind(&()),
        "status": new,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

async fn publish(ctx: &Context, obj: &CrossAccountApi, journal: Journal) {
    publish_events(ctx, obj, journal.take()).await;
}

async fn publish_events(
    ctx: &Context,
    obj: &CrossAccountApi,
    events: Vec<(EventType, String, String)>,
) {
    for (kind, reason, note) in events {
        publish_one(ctx, obj, kind, &reason, note).await;
    }
}

/// The kind of resource a Normal Event's reason says was written (`RepairedVpcLink` →
/// `VpcLink`); probes write nothing.
fn drift_kind(reason: &str) -> Option<&str> {
    const VERBS: [&str; 9] = [
        "Created",
        "Changed",
        "Repaired",
        "Restored",
        "Updated",
        "Registered",
        "Deregistered",
        "Deployed",
        "Deleted",
    ];
    if reason.starts_with("Probe") {
        return None;
    }
    Some(
        VERBS
            .iter()
            .find_map(|v| reason.strip_prefix(v).filter(|k| !k.is_empty()))
            .unwrap_or(reason),
    )
}

async fn publish_one(
    ctx: &Context,
    obj: &CrossAccountApi,
    kind: EventType,
    reason: &str,
    note: String,
) {
    if let Err(e) = ctx.events.publish(obj, kind, reason, note).await {
        warn!(error = %e, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_no_bookkeeping() {
        let mut obj: CrossAccountApi = serde_yaml::from_str(
            r#"
apiVersion: apigw.crossaccount.io/v1alpha1
kind: CrossAccountApi
metadata:
  name: orders
  namespace: team-a
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}", team: orders}
  managedFields: [{manager: kubectl, operation: Apply, apiVersion: v1}]
spec:
  provider: {region: us-east-1, vpcId: vpc-0123abcd, subnetIds: [subnet-0123abcd], allowedCidrs: [10.1.0.0/16], privateApi: {stageName: prod}}
  consumer: {region: us-east-1, vpcId: vpc-4567abcd, subnetIds: [subnet-4567abcd], regionalApi: {stageName: prod}}
"#,
        )
        .expect("object");
        forget_bookkeeping(&mut obj);
        assert!(obj.managed_fields().is_empty());
        assert_eq!(
            obj.annotations().keys().collect::<Vec<_>>(),
            ["team"],
            "other annotations stay"
        );
    }

    #[test]
    fn drift_kinds_name_the_resource() {
        assert_eq!(drift_kind("RepairedVpcLink"), Some("VpcLink"));
        assert_eq!(drift_kind("RestoredPolicy"), Some("Policy"));
        assert_eq!(drift_kind("RegisteredTargets"), Some("Targets"));
        assert_eq!(drift_kind("EndpointIpsChanged"), Some("EndpointIpsChanged"));
        assert_eq!(drift_kind("ProbeSucceeded"), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(ErrorClass::Retryable, 1), Duration::from_secs(2));
        assert_eq!(backoff(ErrorClass::Retryable, 3), Duration::from_secs(8));
        assert_eq!(backoff(ErrorClass::Retryable, 30), Duration::from_secs(120));
        assert_eq!(backoff(ErrorClass::Throttled, 2), Duration::from_secs(20));
        assert_eq!(backoff(ErrorClass::Terminal, 100), Duration::from_secs(600));
        assert_eq!(backoff(ErrorClass::InUse, 9), Duration::from_secs(3));
    }

    #[test]
    fn errors_are_counted_per_object_and_start_over() {
        let errors = Mutex::default();
        assert_eq!(count(&errors, "ns/a"), 1);
        assert_eq!(count(&errors, "ns/a"), 2);
        // A wait is progress: the error count starts over.
        forget(&errors, "ns/a");
        assert_eq!(count(&errors, "ns/a"), 1, "backoff from its start again");
        assert_eq!(count(&errors, "ns/b"), 1, "per object");
    }

    #[test]
    fn a_wait_is_timed_from_the_first_poll_of_its_state() {
        let since = Mutex::default();
        let t0 = Instant::now();
        let secs = Duration::from_secs;
        let nlb = || "WaitingForLoadBalancer".to_string();
        let link = || "WaitingForVpcLink".to_string();
        let w = |total, in_state| Waited {
            total: secs(total),
            in_state: secs(in_state),
        };
        assert_eq!(waited(&since, "ns/a", nlb(), t0), w(0, 0));
        assert_eq!(waited(&since, "ns/a", nlb(), t0 + secs(40)), w(40, 40));
        assert_eq!(
            waited(&since, "ns/b", nlb(), t0 + secs(40)),
            w(0, 0),
            "per object"
        );
        assert_eq!(
            waited(&since, "ns/a", link(), t0 + secs(40)),
            w(40, 0),
            "a new state"
        );
        assert_eq!(waited(&since, "ns/a", link(), t0 + secs(45)), w(45, 5));
        forget(&since, "ns/a");
        assert_eq!(
            waited(&since, "ns/a", nlb(), t0 + secs(45)),
            w(0, 0),
            "starts over"
        );
    }

    #[test]
    fn the_poll_is_a_fixed_fraction_of_the_wait() {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        let delay = |total, in_state| waiting_delay(Waited { total, in_state });
        assert_eq!(delay(ms(0), ms(0)), ms(250));
        assert_eq!(delay(ms(900), ms(900)), ms(250));
        assert_eq!(delay(secs(1), secs(1)), secs(1));
        assert_eq!(delay(secs(30), secs(30)), secs(1));
        // The same fraction at a short wait and at one four times longer: the overshoot does
        // not depend on how long AWS takes.
        assert_eq!(delay(secs(60), secs(60)), secs(2));
        assert_eq!(delay(secs(240), secs(240)), secs(8));
        assert_eq!(delay(secs(3600), secs(3600)), secs(15));
        // Each state on its own; one that keeps changing polls at 1 s, not faster.
        assert_eq!(delay(secs(300), secs(60)), secs(2));
        assert_eq!(delay(secs(300), ms(0)), secs(1));
    }
}
