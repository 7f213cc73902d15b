//! The reconcile pipeline: provider and consumer chains run side by side; only what truly
//! depends on another step waits for it (targets need the endpoint IPs, integrations need the
//! VPC link id and the private API id). Each step observes, plans (pure, unit-tested) and applies.

pub mod cleanup;
pub mod endpoint;
pub mod load_balancer;
pub mod private_api;
pub mod probe;
pub mod regional_api;
pub mod vpc_link;

use std::sync::Mutex;

use kube::runtime::events::EventType;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::{ConsumerStatus, CrossAccountApi, ProbeStatus, ProviderStatus, RouteStatus};
use crate::aws::apigateway::RestApi;
use crate::aws::{AccountClients, AccountKey, Ownership};
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

async fn delete_rest_api_copies(
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
    /// The first error, if any step failed (for backoff and the Warning Event).
    pub error: Option<Error>,
    /// The probe made in this reconcile, if one was due (for the metrics).
    pub probe_ran: Option<ProbeStatus>,
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
        probe_ran: None,
    }
}

const PROVIDER_STEPS: [&str; 2] = ["EndpointReady", "PrivateApiReady"];
const CONSUMER_STEPS: [&str; 3] = ["LoadBalancerReady", "VpcLinkReady", "RegionalApiReady"];

fn failed(type_: &'static str, e: &Error) -> StepCondition {
    StepCondition::not_ready(type_, e.reason(), e.to_string())
}

/// Runs every step once for `obj`; a probe is due at least every `probe_fallback` unless the
/// object sets its own interval.
pub async fn apply(
    sides: &Sides<'_>,
    obj: &CrossAccountApi,
    journal: &Journal,
    probe_fallback: std::time::Duration,
) -> Applied {
    let status = obj.status.clone().unwrap_or_default();
    let mut provider = status.provider.unwrap_or_default();
    let mut consumer = status.consumer.unwrap_or_default();
    let mut errors: Vec<Error> = Vec::new();

    // Phase 1: the two chains side by side.
    let provider_chain = async {
        let endpoint = endpoint::ensure(&sides.provider, obj, &mut provider, journal).await;
        let api = match &endpoint {
            // The endpoint id exists from creation on; the policy can name it while pending.
            Ok(e) => {
                Some(private_api::ensure(&sides.provider, obj, &e.id, &mut provider, journal).await)
            }
            Err(_) => None,
        };
        (endpoint, api, provider)
    };
    let consumer_chain = async {
        let subnets = sides
            .consumer
            .clients
            .ec2
            .vpc_subnets(&obj.spec.consumer.vpc_id)
            .await;
        let lb = load_balancer::ensure(&sides.consumer, obj, &mut consumer, journal).await;
        let link = match &lb {
            Ok(lb) => {
                let active = lb.is_active();
                Some(
                    vpc_link::ensure(
                        &sides.consumer,
                        obj,
                        &lb.load_balancer_arn,
                        active,
                        &mut consumer,
                        journal,
                    )
                    .await,
                )
            }
            Err(_) => None,
        };
        let api = regional_api::ensure_api(&sides.consumer, obj, &mut consumer, journal).await;
        (subnets, lb, link, api, consumer)
    };
    let ((endpoint, private, provider_out), (subnets, lb, link, regional, consumer_out)) =
        tokio::join!(provider_chain, consumer_chain);
    let (mut provider, mut consumer) = (provider_out, consumer_out);

    // Endpoint condition.
    let endpoint_cond = match &endpoint {
        Ok(e) if e.is_ready() => StepCondition::ready(
            "EndpointReady",
            "Available",
            format!("{} available with IPs {:?}", e.id, e.ips),
        ),
        Ok(e) if e.unseen_enis > 0 => StepCondition::not_ready(
            "EndpointReady",
            "WaitingForEndpoint",
            format!(
                "{} is {}; {} of its ENIs not shown by EC2 yet",
                e.id, e.state, e.unseen_enis
            ),
        ),
        Ok(e) => StepCondition::not_ready(
            "EndpointReady",
            "WaitingForEndpoint",
            format!("{} is {}", e.id, e.state),
        ),
        Err(e) => failed("EndpointReady", e),
    };
    let private_cond = match &private {
        Some(Ok(api)) => StepCondition::ready(
            "PrivateApiReady",
            "Deployed",
            match &api.posture {
                Some(posture) => format!(
                    "{} deployed with a policy pinning the endpoint; {posture}",
                    api.id
                ),
                None => format!("{} deployed with a policy pinning the endpoint", api.id),
            },
        ),
        Some(Err(e)) => failed("PrivateApiReady", e),
        None => StepCondition::not_ready(
            "PrivateApiReady",
            "WaitingForEndpoint",
            "needs the VPC endpoint's id",
        ),
    };

    // Phase 2a: targets, once both the endpoint IPs and the target group exist.
    let lb_cond = match (&lb, &endpoint, &subnets) {
        (Err(e), _, _) | (_, _, Err(e)) => failed("LoadBalancerReady", e),
        (Ok(_), Err(_), _) => StepCondition::not_ready(
            "LoadBalancerReady",
            "WaitingForEndpoint",
            "targets need the endpoint's IPs",
        ),
        (Ok(view), Ok(ep), Ok(subnets)) => {
            if ep.ips.is_empty() {
                StepCondition::not_ready(
                    "LoadBalancerReady",
                    "WaitingForEndpoint",
                    format!("{} has no IPs yet", ep.id),
                )
            } else {
                match load_balancer::sync_targets(
                    &sides.consumer,
                    &view.target_group_arn,
                    &ep.ips,
                    ep.is_ready(),
                    subnets,
                    &mut consumer,
                    journal,
                )
                .await
                {
                    Err(e) => failed("LoadBalancerReady", &e),
                    Ok(()) if !view.is_active() => StepCondition::not_ready(
                        "LoadBalancerReady",
                        "WaitingForLoadBalancer",
                        format!("NLB is {}", view.state),
                    ),
                    Ok(()) => match load_balancer::targets_health(&consumer.targets) {
                        load_balancer::TargetsHealth::Serving => StepCondition::ready(
                            "LoadBalancerReady",
                            "Active",
                            format!("NLB active; targets {:?}", ep.ips),
                        ),
                        load_balancer::TargetsHealth::Checking => StepCondition::not_ready(
                            "LoadBalancerReady",
                            "WaitingForTargets",
                            "the NLB's health checks of the endpoint's IPs have not passed yet",
                        ),
                        load_balancer::TargetsHealth::Unhealthy(reasons) => {
                            StepCondition::not_ready(
                                "LoadBalancerReady",
                                "TargetsUnhealthy",
                                format!(
                                    "no healthy target: {}; check the route between the consumer and provider VPCs and that the endpoint's security groups allow TCP 443 from the NLB's subnets",
                                    reasons.join(", ")
                                ),
                            )
                        }
                    },
                }
            }
        }
    };
    let link_cond = match &link {
        Some(Ok(Some(l))) if l.status == "AVAILABLE" => {
            StepCondition::ready("VpcLinkReady", "Available", format!("{} AVAILABLE", l.id))
        }
        Some(Ok(Some(l))) if l.status == "DELETING" => StepCondition::not_ready(
            "VpcLinkReady",
            "WaitingForVpcLink",
            format!("{} is DELETING; a new link is made once it is gone", l.id),
        ),
        Some(Ok(Some(l))) => StepCondition::not_ready(
            "VpcLinkReady",
            "WaitingForVpcLink",
            format!("{} is {}", l.id, l.status),
        ),
        Some(Ok(None)) => StepCondition::not_ready(
            "VpcLinkReady",
            "WaitingForLoadBalancer",
            "a VPC link needs an active NLB",
        ),
        Some(Err(e)) => failed("VpcLinkReady", e),
        None => StepCondition::not_ready("VpcLinkReady", "WaitingForLoadBalancer", "needs the NLB"),
    };

    // Phase 2b: routes, once the VPC link id and the private API id exist.
    let mut edge_served: Option<(String, regional_api::Served)> = None;
    let regional_cond = match (&regional, &link, &private) {
        (Err(e), _, _) => failed("RegionalApiReady", e),
        // A link DELETING (by hand) is replaced once gone; nothing is pointed at it meanwhile.
        (Ok(edge), Some(Ok(Some(l))), Some(Ok(private))) if l.status != "DELETING" => {
            let backend = regional_api::Backend {
                prefix: "/".into(),
                private_api_id: private.id.clone(),
                region: obj.spec.provider.region.clone(),
                stage: obj.spec.provider.private_api.stage_name.clone(),
            };
            match regional_api::ensure_routes(
                &sides.consumer,
                obj,
                edge,
                l,
                &[backend],
                &mut consumer,
                journal,
            )
            .await
            {
                Ok(regional_api::Routes::Deployed(served)) => {
                    edge_served = Some((edge.id.clone(), served));
                    StepCondition::ready(
                        "RegionalApiReady",
                        "Deployed",
                        format!("{} deployed", edge.id),
                    )
                }
                Ok(regional_api::Routes::WaitingForVpcLink) => StepCondition::not_ready(
                    "RegionalApiReady",
                    "WaitingForVpcLink",
                    format!(
                        "integrations of {} set; deployed once VPC link {} is AVAILABLE (now {})",
                        edge.id, l.id, l.status
                    ),
                ),
                Err(e) => {
                    let cond = failed("RegionalApiReady", &e);
                    errors.push(e);
                    cond
                }
            }
        }
        (Ok(_), _, _) => StepCondition::not_ready(
            "RegionalApiReady",
            "WaitingForDependencies",
            "integrations need the VPC link and the private API",
        ),
    };

    // Phase 3: the end-to-end probe, once the edge serves the route.
    let last_probe = status.routes.first().and_then(|r| r.probe.clone());
    let mut probe_ran = None;
    let (probe_status, probe_cond) = match probe::probe_path(obj) {
        None => (None, None),
        Some(probe_path) => {
            let path = probe::request_path("/", &probe_path);
            match &edge_served {
                Some((edge_id, served))
                    if probe::due(
                        last_probe.as_ref(),
                        &path,
                        served.deployed,
                        probe::interval(obj, probe_fallback),
                        jiff::Timestamp::now(),
                    ) =>
                {
                    let result = probe::run(
                        &sides.consumer.clients.apigateway,
                        edge_id,
                        &served.proxy_resource_id,
                        &path,
                    )
                    .await;
                    note_probe_change(last_probe.as_ref(), &result, journal);
                    probe_ran = Some(result.clone());
                    let cond = probe::condition(&result);
                    (Some(result), Some(cond))
                }
                Some(_) => {
                    let cond = last_probe.as_ref().map(probe::condition);
                    (last_probe.clone(), cond)
                }
                None => (
                    last_probe.clone(),
                    Some(StepCondition::not_ready(
                        "Probed",
                        "WaitingForDeployment",
                        "the edge is probed once it serves the route",
                    )),
                ),
            }
        }
    };

    errors.extend(
        [
            endpoint.err(),
            private.and_then(|p| p.err()),
            lb.err(),
            link.and_then(|l| l.err()),
            regional.err(),
            subnets.err(),
        ]
        .into_iter()
        .flatten(),
    );
    provider.endpoint_ips.sort();
    consumer.targets.sort_by(|a, b| a.ip.cmp(&b.ip));
    let mut steps = vec![
        endpoint_cond,
        private_cond,
        lb_cond,
        link_cond,
        regional_cond,
    ];
    let route_ready = steps[1].ready && steps[4].ready;
    let route = RouteStatus {
        path: "/".into(),
        private_api_id: provider.private_api_id.clone(),
        private_api_invoke_url: provider.private_api_invoke_url.clone(),
        invoke_url: consumer.invoke_url.clone(),
        deployment: provider.deployment.clone(),
        ready: route_ready,
        reason: (!route_ready).then(|| {
            steps
                .iter()
                .find(|s| !s.ready)
                .map(|s| s.reason.clone())
                .unwrap_or_default()
        }),
        message: None,
        probe: probe_status,
    };
    steps.extend(probe_cond);
    Applied {
        provider,
        consumer,
        routes: vec![route],
        steps,
        error: errors.into_iter().next(),
        probe_ran,
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
