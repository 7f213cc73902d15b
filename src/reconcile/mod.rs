//! The reconcile pipeline: provider and consumer chains run side by side; only what truly
//! depends on another step waits for it (targets need the endpoint IPs, integrations need the
//! VPC link id and each route's private API id). Each step observes, plans (pure, unit-tested)
//! and applies, and ends in an [`Outcome`].

pub mod cleanup;
pub mod endpoint;
pub mod load_balancer;
mod outcome;
pub mod private_api;
pub mod probe;
pub mod regional_api;
pub mod routes;
pub mod vpc_link;

pub use outcome::Outcome;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use kube::runtime::events::EventType;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::{ConsumerStatus, CrossAccountApi, ProbeStatus, ProviderStatus, RouteStatus};
use crate::aws::apigateway::RestApi;
use crate::aws::{AccountClients, AccountKey, ListReads, Ownership};
use crate::conditions::StepCondition;
use crate::error::Error;

/// One side (provider or consumer) of one object: its clients and the ownership tags.
pub struct Side<'a> {
    /// Who the calls are made as.
    pub key: AccountKey,
    /// The clients.
    pub clients: AccountClients,
    /// Tags for what is created.
    pub owner: &'a Ownership,
}

/// Both sides.
pub struct Sides<'a> {
    /// Account B.
    pub provider: Side<'a>,
    /// Account A.
    pub consumer: Side<'a>,
}

impl<'a> Side<'a> {
    /// This side reading shared lists as `reads` says.
    fn sharing_reads(self, reads: ListReads) -> Self {
        Side {
            clients: self.clients.sharing_reads(reads),
            ..self
        }
    }
}

impl Sides<'_> {
    /// Both sides reading shared lists as `reads` says.
    pub fn sharing_reads(self, reads: ListReads) -> Self {
        Sides {
            provider: self.provider.sharing_reads(reads),
            consumer: self.consumer.sharing_reads(reads),
        }
    }
}

/// The branches of a reconcile still at work, so that one waiting on AWS can look again
/// meanwhile instead of at the next reconcile.
pub struct Busy {
    left: AtomicUsize,
    finished: Notify,
}

impl Busy {
    /// `branches` at work.
    pub fn new(branches: usize) -> Self {
        Busy {
            left: AtomicUsize::new(branches),
            finished: Notify::new(),
        }
    }

    /// One branch finished.
    pub fn done(&self) {
        self.left.fetch_sub(1, Ordering::SeqCst);
        self.finished.notify_waiters();
    }

    /// Waits `poll`, or until a branch finishes; false at once, or then, when none is at work.
    pub async fn pause(&self, poll: std::time::Duration) -> bool {
        let finished = self.finished.notified();
        if self.left.load(Ordering::SeqCst) == 0 {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = finished => {}
        }
        self.left.load(Ordering::SeqCst) > 0
    }
}

/// Events gathered during a reconcile, published afterwards.
#[derive(Default)]
pub struct Journal(Mutex<Vec<(EventType, String, String)>>);

impl Journal {
    /// A Normal event.
    pub fn normal(&self, reason: &str, note: impl Into<String>) {
        self.push(EventType::Normal, reason, note.into());
    }
    /// A Warning event.
    pub fn warning(&self, reason: &str, note: impl Into<String>) {
        self.push(EventType::Warning, reason, note.into());
    }
    fn push(&self, kind: EventType, reason: &str, note: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push((kind, reason.to_string(), note));
        }
    }
    /// Everything recorded, in order.
    pub fn take(&self) -> Vec<(EventType, String, String)> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// sha256 (16 hex digits) of a value's canonical JSON: the "effective configuration" of an API.
pub fn config_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..8])
}

pub use crate::partition::invoke_url;

/// The object's REST API of `endpoint_type` (the recorded one, else one tagged with its uid);
/// other copies go. CreateRestApi takes no client token, so an SDK retry after a lost answer
/// makes a copy: found here when the create's own answer never came, and by
/// [`delete_extra_rest_apis`] after a create that was answered.
pub async fn owned_rest_api(
    side: &Side<'_>,
    known_id: Option<&str>,
    endpoint_type: &str,
    journal: &Journal,
) -> crate::error::Result<Option<RestApi>> {
    let found = side
        .clients
        .apigateway
        .find_owned_rest_api(known_id, &side.owner.uid, endpoint_type)
        .await?;
    if let Some(keep) = &found.keep {
        delete_rest_api_copies(side, &keep.id, found.extras, journal).await?;
    }
    Ok(found.keep)
}

/// After creating `keep`, deletes the other REST APIs of `endpoint_type` carrying the uid.
pub async fn delete_extra_rest_apis(
    side: &Side<'_>,
    keep: &str,
    endpoint_type: &str,
    journal: &Journal,
) -> crate::error::Result<()> {
    let all = side
        .clients
        .apigateway
        .owned_rest_apis(&side.owner.uid, endpoint_type)
        .await?;
    delete_rest_api_copies(side, keep, all, journal).await
}

/// Deletes the REST APIs of `copies` other than `keep` (Warning Event `DeletedDuplicateRestApi`).
pub(crate) async fn delete_rest_api_copies(
    side: &Side<'_>,
    keep: &str,
    copies: Vec<RestApi>,
    journal: &Journal,
) -> crate::error::Result<()> {
    for extra in copies.into_iter().filter(|a| a.id != keep) {
        side.clients.apigateway.delete_rest_api(&extra.id).await?;
        journal.warning(
            "DeletedDuplicateRestApi",
            format!("deleted REST API {}, a second copy of {keep}", extra.id),
        );
    }
    Ok(())
}

/// What one Apply found and did.
pub struct Applied {
    /// Provider ids.
    pub provider: ProviderStatus,
    /// Consumer ids.
    pub consumer: ConsumerStatus,
    /// One entry per route.
    pub routes: Vec<RouteStatus>,
    /// One condition per step.
    pub steps: Vec<StepCondition>,
    /// The first error that only a change resolves, else the first error (for Stalled, the
    /// backoff and the Warning Event).
    pub error: Option<Error>,
    /// The probes made in this reconcile (for the metrics).
    pub probes_ran: Vec<ProbeStatus>,
}

impl Applied {
    /// Every step done.
    pub fn is_ready(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.ready)
    }
}

/// Which account a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideName {
    /// Account B.
    Provider,
    /// Account A.
    Consumer,
}

/// The outcome when one side's credentials cannot be had (a role that cannot be assumed): that
/// side's steps carry the error, the other side's wait, and nothing was called.
pub fn without_credentials(obj: &CrossAccountApi, side: SideName, e: Error) -> Applied {
    let status = obj.status.clone().unwrap_or_default();
    let (mine, other) = match side {
        SideName::Provider => (&PROVIDER_STEPS[..], "provider"),
        SideName::Consumer => (&CONSUMER_STEPS[..], "consumer"),
    };
    let steps = PROVIDER_STEPS
        .iter()
        .chain(CONSUMER_STEPS.iter())
        .map(|t| {
            if mine.contains(t) {
                failed(t, &e)
            } else {
                StepCondition::not_ready(
                    t,
                    "WaitingForCredentials",
                    format!("the {other} account's role cannot be assumed"),
                )
            }
        })
        .collect();
    Applied {
        provider: status.provider.unwrap_or_default(),
        consumer: status.consumer.unwrap_or_default(),
        routes: status.routes,
        steps,
        error: Some(e),
        probes_ran: Vec::new(),
    }
}

const PROVIDER_STEPS: [&str; 2] = ["EndpointReady", "PrivateApiReady"];
const CONSUMER_STEPS: [&str; 3] = ["LoadBalancerReady", "VpcLinkReady", "RegionalApiReady"];

fn failed(type_: &'static str, e: &Error) -> StepCondition {
    StepCondition::not_ready(type_, e.reason(), e.to_string())
}

/// Runs every step once for `obj`; a probe is due at least every `probe_fallback` unless the
/// object sets its own interval. The steps follow what truly depends on what: the provider
/// chain (endpoint → each route's private API) and the consumer chain (NLB → VPC link, the
/// edge API) run side by side; the targets need the endpoint's IPs; the edge's routes need the
/// VPC link and the private APIs; retiring and probing need the deployed edge.
pub async fn apply(
    sides: &Sides<'_>,
    obj: &CrossAccountApi,
    journal: &Journal,
    probe_fallback: std::time::Duration,
) -> Applied {
    let status = obj.status.clone().unwrap_or_default();
    let mut provider = status.provider.clone().unwrap_or_default();
    let mut consumer = status.consumer.clone().unwrap_or_default();
    let routes = obj.routes();
    let mut route_statuses = routes::starting_statuses(&routes, &status.routes);
    let owned = private_api::OwnedApis::default();

    // The edge API and the provider chain may wait long in a quota's queue; meanwhile the VPC
    // link keeps looking at its NLB.
    let busy = Busy::new(2);
    let provider_chain = async {
        let endpoint = endpoint::step(&sides.provider, obj, &mut provider, journal).await;
        let vpce = endpoint.value().map(|e| e.id.clone());
        let privates = futures::future::join_all(routes.iter().zip(route_statuses.iter_mut()).map(
            |(route, route_status)| {
                private_api::step(
                    &sides.provider,
                    obj,
                    route,
                    vpce.as_deref(),
                    &owned,
                    route_status,
                    journal,
                )
            },
        ))
        .await;
        busy.done();
        (endpoint, privates)
    };
    let mut regional_api_id = consumer.regional_api_id.clone();
    let edge_api = async {
        let edge =
            regional_api::ensure_api(&sides.consumer, obj, &mut regional_api_id, journal).await;
        busy.done();
        edge
    };
    let link_chain = async {
        let subnets = sides
            .consumer
            .clients
            .ec2
            .vpc_subnets(&obj.spec.consumer.vpc_id)
            .await;
        let lb = load_balancer::ensure(&sides.consumer, obj, &mut consumer, journal).await;
        let (lb, link) =
            vpc_link::step_while_busy(&sides.consumer, obj, lb, &mut consumer, journal, &busy)
                .await;
        (subnets, lb, link)
    };
    let ((endpoint, privates), edge, (subnets, lb, link)) =
        tokio::join!(provider_chain, edge_api, link_chain);
    consumer.regional_api_id = regional_api_id;

    let targets = load_balancer::targets_step(
        &sides.consumer,
        lb,
        &endpoint,
        subnets,
        &mut consumer,
        journal,
    )
    .await;
    let (backends, kept) = routes::backends(obj, &routes, &privates);
    let served = regional_api::edge_step(
        &sides.consumer,
        obj,
        edge,
        link.value(),
        &backends,
        &kept,
        &mut consumer,
        journal,
    )
    .await;

    // Routes gone from the spec are retired once the edge is deployed without them.
    let mut retiring = routes::retiring(&status.routes, &route_statuses);
    let mut retire_error = None;
    if served.is_done() {
        (retiring, retire_error) =
            routes::retire(&sides.provider, obj, retiring, &route_statuses, journal).await;
    }

    // Each served route: its URL, its readiness, its probe.
    let edge_url = consumer.invoke_url.clone().unwrap_or_default();
    let proxies = served.done_value().map(|s| &s.proxy_resources);
    let deployed = served.done_value().is_some_and(|s| s.deployed);
    let mut probes_ran = Vec::new();
    let mut probed = Vec::new();
    let mut waiting_probe = false;
    for ((route, route_status), private) in
        routes.iter().zip(route_statuses.iter_mut()).zip(&privates)
    {
        let proxy = proxies.and_then(|p| p.get(route.path));
        route_status.ready = private.is_done() && proxy.is_some();
        route_status.invoke_url = proxy.map(|_| routes::route_invoke_url(&edge_url, route.path));
        let (reason, message) = if !private.is_done() {
            private.note()
        } else if proxy.is_none() {
            served.note()
        } else {
            (String::new(), String::new())
        };
        route_status.reason = (!route_status.ready).then_some(reason);
        route_status.message = (!route_status.ready).then_some(message);
        let Some(probe_path) = probe::probe_path(obj, route) else {
            route_status.probe = None;
            continue;
        };
        let (Some(proxy), Some(edge_id)) = (proxy, consumer.regional_api_id.as_deref()) else {
            waiting_probe = true;
            continue;
        };
        let path = probe::request_path(route.path, &probe_path);
        let last = route_status.probe.clone();
        let interval = probe::interval(obj, probe_fallback);
        if probe::due(
            last.as_ref(),
            &path,
            deployed,
            interval,
            jiff::Timestamp::now(),
        ) {
            let result =
                probe::run(&sides.consumer.clients.apigateway, edge_id, proxy, &path).await;
            note_probe_change(last.as_ref(), &result, journal);
            probes_ran.push(result.clone());
            route_status.probe = Some(result);
        }
        probed.extend(route_status.probe.clone());
    }
    let probe_cond = if !probed.is_empty() {
        Some(probe::summary(&probed.iter().collect::<Vec<_>>()))
    } else if waiting_probe {
        Some(StepCondition::not_ready(
            "Probed",
            "WaitingForDeployment",
            "the edge is probed once it serves the route",
        ))
    } else {
        None
    };

    let parts = |f: &dyn Fn(usize) -> StepCondition| -> Vec<(&str, StepCondition)> {
        routes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.path, f(i)))
            .collect()
    };
    let private_cond = routes::summary(
        "PrivateApiReady",
        &parts(&|i| privates[i].condition("PrivateApiReady")),
    );
    let regional_cond = if served.is_done() {
        routes::summary(
            "RegionalApiReady",
            &parts(&|i| {
                if route_statuses[i].ready {
                    served.condition("RegionalApiReady")
                } else {
                    StepCondition::not_ready(
                        "RegionalApiReady",
                        "WaitingForPrivateApi",
                        "served once its private API is ready",
                    )
                }
            }),
        )
    } else {
        served.condition("RegionalApiReady")
    };
    let steps = [
        endpoint.condition("EndpointReady"),
        private_cond,
        targets.condition("LoadBalancerReady"),
        link.condition("VpcLinkReady"),
        regional_cond,
    ]
    .into_iter()
    .chain(probe_cond)
    .collect();

    // The short form's private API is also named in the provider's status.
    let short = obj.spec.provider.private_api.is_some();
    provider.private_api_id = route_statuses
        .first()
        .filter(|_| short)
        .and_then(|r| r.private_api_id.clone());
    provider.private_api_invoke_url = route_statuses
        .first()
        .filter(|_| short)
        .and_then(|r| r.private_api_invoke_url.clone());
    provider.endpoint_ips.sort();
    consumer.targets.sort_by(|a, b| a.ip.cmp(&b.ip));
    // A retiring API at a path still in use (another API adopted there) cannot keep its own
    // entry: paths are the list's keys.
    let current: Vec<String> = route_statuses.iter().map(|r| r.path.clone()).collect();
    route_statuses.extend(retiring.into_iter().filter(|r| !current.contains(&r.path)));

    let errors: Vec<Error> = endpoint
        .into_error()
        .into_iter()
        .chain(privates.into_iter().filter_map(Outcome::into_error))
        .chain(targets.into_error())
        .chain(link.into_error())
        .chain(served.into_error())
        .chain(retire_error)
        .collect();
    let error = first_that_stalls(errors);
    Applied {
        provider,
        consumer,
        routes: route_statuses,
        steps,
        error,
        probes_ran,
    }
}

/// The error the object reports: one only a change resolves comes before those that retrying
/// may mend (a route refused while another step retries is stalled all the same).
fn first_that_stalls(errors: Vec<Error>) -> Option<Error> {
    let terminal = errors
        .iter()
        .position(|e| e.class() == crate::error::ErrorClass::Terminal);
    let mut errors = errors;
    match terminal {
        Some(i) => Some(errors.swap_remove(i)),
        None => errors.into_iter().next(),
    }
}

/// An Event when the probe's verdict changes (not on every probe).
fn note_probe_change(last: Option<&ProbeStatus>, now: &ProbeStatus, journal: &Journal) {
    let passed = |p: &ProbeStatus| p.status.is_some_and(|s| (200..300).contains(&s));
    if last.map(passed) == Some(passed(now)) {
        return;
    }
    let c = probe::condition(now);
    if c.ready {
        journal.normal("ProbeSucceeded", c.message);
    } else {
        journal.warning(&c.reason, c.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::classify;

    fn aws(code: &str) -> Error {
        Error::Aws {
            operation: "Op",
            account: "111111111111".into(),
            code: code.into(),
            message: "m".into(),
            class: classify(code, "m"),
        }
    }

    #[test]
    fn an_error_only_a_change_mends_comes_first() {
        let picked = first_that_stalls(vec![aws("InternalFailure"), aws("InvalidParameter")]);
        assert_eq!(
            picked.as_ref().and_then(Error::code),
            Some("InvalidParameter")
        );
        let picked = first_that_stalls(vec![aws("InternalFailure"), aws("ServiceUnavailable")]);
        assert_eq!(
            picked.as_ref().and_then(Error::code),
            Some("InternalFailure")
        );
        assert!(first_that_stalls(Vec::new()).is_none());
    }
}
