//! Consumer step: the IP target group, the internal NLB, its TCP 443 listener, and the targets
//! (exactly the endpoint's IPs; new ones registered before stale ones are removed).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::endpoint::EndpointView;
use super::{Journal, Outcome, Side};
use crate::api::{ConsumerStatus, CrossAccountApi, TargetStatus};
use crate::aws::ec2::Subnet;
use crate::aws::elbv2::{Found, Target};
use crate::error::{Error, ErrorClass, Result};

/// What the chain needs from this step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerView {
    /// Target group ARN.
    pub target_group_arn: String,
    /// NLB ARN.
    pub load_balancer_arn: String,
    /// NLB state (provisioning, active, active_impaired, …).
    pub state: String,
}

impl LoadBalancerView {
    /// Serving traffic: `active`, or `active_impaired` (AWS: it routes traffic but lacks the
    /// resources to scale).
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "active" | "active_impaired")
    }
}

/// A target to register: IP and `Some("all")` when the IP is outside the consumer VPC.
pub type WantedTarget = (String, Option<String>);

/// The targets the group should hold: each endpoint IP, with `AvailabilityZone=all` when it lies
/// in none of the consumer VPC's subnets (AWS requires `all` there and refuses it inside).
pub fn wanted_targets(ips: &[String], consumer_subnets: &[Subnet]) -> Vec<WantedTarget> {
    let nets: Vec<Ipv4Net> = consumer_subnets
        .iter()
        .filter_map(|s| s.cidr.parse().ok())
        .collect();
    ips.iter()
        .map(|ip| {
            let inside = ip
                .parse::<Ipv4Addr>()
                .is_ok_and(|addr| nets.iter().any(|n| n.contains(&addr)));
            (ip.clone(), (!inside).then(|| "all".to_string()))
        })
        .collect()
}

/// The first wanted target an NLB cannot take: outside the consumer VPC, only RFC 1918 and
/// 100.64.0.0/10 addresses can be targets.
pub fn untargetable(wanted: &[WantedTarget]) -> Option<&str> {
    wanted
        .iter()
        .find(|(ip, az)| az.is_some() && !crate::limits::targetable_outside_vpc(ip))
        .map(|(ip, _)| ip.as_str())
}

/// Targets to register and to deregister. A draining target that is wanted again is
/// registered again; a draining one that is not wanted is left to drain.
pub fn plan_targets(
    wanted: &[WantedTarget],
    current: &[Target],
) -> (Vec<WantedTarget>, Vec<WantedTarget>) {
    let live = |t: &Target| t.health != "draining";
    let present = |(ip, az): &WantedTarget| {
        current.iter().any(|t| {
            live(t)
                && &t.ip == ip
                && match az {
                    Some(zone) => t.availability_zone.as_deref() == Some(zone.as_str()),
                    None => t.availability_zone.as_deref() != Some("all"),
                }
        })
    };
    let register = wanted.iter().filter(|t| !present(t)).cloned().collect();
    let deregister = current
        .iter()
        .filter(|t| live(t) && !wanted.iter().any(|(ip, _)| ip == &t.ip))
        .map(|t| (t.ip.clone(), t.availability_zone.clone()))
        .collect();
    (register, deregister)
}

/// Ensures the target group, the NLB and the listener; records their ids in `status`.
pub async fn ensure(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Result<LoadBalancerView> {
    let spec = &obj.spec.consumer;
    let elb = &side.clients.elbv2;
    let name = side.owner.short_name();

    // I/O: target group and NLB by the ARNs in status, else by their uid-derived names.
    let group = match elb
        .find_owned_target_group(status.target_group_arn.as_deref(), &name, &side.owner.uid)
        .await?
    {
        Found::Ours(g) => g,
        Found::Foreign(what) => return Err(name_taken(side, "target group", &what)),
        Found::Absent => {
            let g = elb
                .create_target_group(&name, &spec.vpc_id, side.owner)
                .await?;
            journal.normal(
                "CreatedTargetGroup",
                format!("created target group {}", g.arn),
            );
            g
        }
    };
    status.target_group_arn = Some(group.arn.clone());
    let lb = match elb
        .find_owned_load_balancer(status.load_balancer_arn.as_deref(), &name, &side.owner.uid)
        .await?
    {
        Found::Ours(lb) => lb,
        Found::Foreign(what) => return Err(name_taken(side, "load balancer", &what)),
        Found::Absent => {
            let lb = elb
                .create_load_balancer(&name, &spec.subnet_ids, side.owner)
                .await?;
            journal.normal(
                "CreatedLoadBalancer",
                format!("created internal NLB {}", lb.arn),
            );
            lb
        }
    };
    status.load_balancer_arn = Some(lb.arn.clone());
    status.load_balancer_dns_name = Some(lb.dns_name.clone());
    if lb.state == "failed" {
        return Err(Error::Aws {
            operation: "DescribeLoadBalancers",
            account: side.key.account(),
            code: "LoadBalancerFailed".into(),
            message: lb
                .state_reason
                .clone()
                .unwrap_or_else(|| "the NLB failed to provision".into()),
            class: ErrorClass::Terminal,
        });
    }

    if lb.state == "active_impaired" {
        journal.warning(
            "LoadBalancerImpaired",
            format!(
                "NLB {} is active_impaired: it serves traffic but cannot scale",
                lb.arn
            ),
        );
    }

    // I/O: the TCP 443 listener (allowed while the NLB is still provisioning).
    let listeners = elb.listeners(&lb.arn).await?;
    let listener_arn = match listeners.iter().find(|l| l.port == 443) {
        Some(l) => {
            if l.target_group_arn.as_deref() != Some(group.arn.as_str()) {
                elb.forward_listener(&l.arn, &group.arn).await?;
                journal.normal(
                    "RepairedListener",
                    format!("listener {} forwards to {} again", l.arn, group.arn),
                );
            }
            l.arn.clone()
        }
        None => {
            let arn = elb.create_listener(&lb.arn, &group.arn, side.owner).await?;
            journal.normal("CreatedListener", format!("created TCP 443 listener {arn}"));
            arn
        }
    };
    status.listener_arn = Some(listener_arn);
    Ok(LoadBalancerView {
        target_group_arn: group.arn,
        load_balancer_arn: lb.arn,
        state: lb.state,
    })
}

/// `view` with the NLB's state read again (from the account's shared list when its reads are
/// shared), without the target group and listener reads of [`ensure`]. An NLB no longer found
/// keeps the state last seen: the next reconcile's [`ensure`] makes it again.
pub async fn refreshed(side: &Side<'_>, view: &LoadBalancerView) -> Result<LoadBalancerView> {
    let found = side
        .clients
        .elbv2
        .find_owned_load_balancer(
            Some(&view.load_balancer_arn),
            &side.owner.short_name(),
            &side.owner.uid,
        )
        .await?;
    Ok(match found {
        Found::Ours(lb) => LoadBalancerView {
            state: lb.state,
            ..view.clone()
        },
        Found::Absent | Found::Foreign(_) => view.clone(),
    })
}

/// The targets step (`LoadBalancerReady`): needs the NLB's group, the endpoint's IPs and the
/// consumer VPC's subnets; done once the NLB is active with a healthy target.
pub async fn targets_step(
    side: &Side<'_>,
    lb: Result<LoadBalancerView>,
    endpoint: &Outcome<EndpointView>,
    consumer_subnets: Result<Vec<Subnet>>,
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Outcome<()> {
    let (view, subnets) = match (lb, consumer_subnets) {
        (Err(e), _) | (_, Err(e)) => return Outcome::Failed(e),
        (Ok(view), Ok(subnets)) => (view, subnets),
    };
    let Some(ep) = endpoint.value() else {
        return Outcome::waiting(
            None,
            "WaitingForEndpoint",
            "targets need the endpoint's IPs",
        );
    };
    if ep.ips.is_empty() {
        return Outcome::waiting(
            None,
            "WaitingForEndpoint",
            format!("{} has no IPs yet", ep.id),
        );
    }
    let synced = sync_targets(
        side,
        &view.target_group_arn,
        &ep.ips,
        ep.is_ready(),
        &subnets,
        status,
        journal,
    )
    .await;
    if let Err(e) = synced {
        return Outcome::Failed(e);
    }
    if !view.is_active() {
        return Outcome::waiting(
            None,
            "WaitingForLoadBalancer",
            format!("NLB is {}", view.state),
        );
    }
    match targets_health(&status.targets) {
        TargetsHealth::Serving => {
            Outcome::done((), "Active", format!("NLB active; targets {:?}", ep.ips))
        }
        TargetsHealth::Checking => Outcome::waiting(
            None,
            "WaitingForTargets",
            "the NLB's health checks of the endpoint's IPs have not passed yet",
        ),
        TargetsHealth::Unhealthy(reasons) => Outcome::waiting(
            None,
            "TargetsUnhealthy",
            format!(
                "no healthy target: {}; check the route between the consumer and provider VPCs and that the endpoint's security groups allow TCP 443 from the NLB's subnets",
                reasons.join(", ")
            ),
        ),
    }
}

/// Makes the group hold exactly the endpoint IPs; records them with their health in `status`.
/// Stale targets go only when `settled`: while the endpoint's ENIs are changing (a subnet
/// swapped, a new ENI not shown yet), the new IPs are registered first and nothing is removed.
pub async fn sync_targets(
    side: &Side<'_>,
    target_group_arn: &str,
    endpoint_ips: &[String],
    settled: bool,
    consumer_subnets: &[Subnet],
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Result<()> {
    let elb = &side.clients.elbv2;
    let wanted = wanted_targets(endpoint_ips, consumer_subnets);
    if let Some(ip) = untargetable(&wanted) {
        return Err(Error::InvalidSpec {
            field: "spec.provider.vpcId".into(),
            message: format!(
                "endpoint IP {ip} lies outside the consumer VPC and outside RFC 1918 and 100.64.0.0/10: an NLB can target only those there"
            ),
        });
    }
    let current = elb.targets(target_group_arn).await?;
    let (register, mut deregister) = plan_targets(&wanted, &current);
    if !settled {
        deregister.clear();
    }
    // New targets first, so the NLB never has fewer healthy targets than it needs.
    if !register.is_empty() {
        elb.register(target_group_arn, &register).await?;
        journal.normal(
            "RegisteredTargets",
            format!(
                "registered {:?}",
                register.iter().map(|t| &t.0).collect::<Vec<_>>()
            ),
        );
    }
    if !deregister.is_empty() {
        elb.deregister(target_group_arn, &deregister).await?;
        journal.normal(
            "DeregisteredTargets",
            format!(
                "deregistered {:?}",
                deregister.iter().map(|t| &t.0).collect::<Vec<_>>()
            ),
        );
    }
    let current = if register.is_empty() && deregister.is_empty() {
        current
    } else {
        elb.targets(target_group_arn).await?
    };
    status.targets = current
        .into_iter()
        .map(|t| TargetStatus {
            ip: t.ip,
            availability_zone: t.availability_zone,
            health: Some(t.health),
            reason: t.reason,
        })
        .collect();
    Ok(())
}

/// What the targets' health means for `LoadBalancerReady`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetsHealth {
    /// At least one target is healthy: the NLB can forward.
    Serving,
    /// Health checks have not concluded yet (targets `initial`, or none registered yet).
    Checking,
    /// No target is healthy and some failed their checks: AWS's reason codes.
    Unhealthy(Vec<String>),
}

/// Judges the targets' health as DescribeTargetHealth reported it.
pub fn targets_health(targets: &[TargetStatus]) -> TargetsHealth {
    let health = |t: &TargetStatus| t.health.clone().unwrap_or_default();
    if targets.iter().any(|t| health(t) == "healthy") {
        return TargetsHealth::Serving;
    }
    let mut reasons: Vec<String> = targets
        .iter()
        .filter(|t| health(t) == "unhealthy" || health(t) == "unavailable")
        .map(|t| {
            format!(
                "{} {}",
                t.ip,
                t.reason.as_deref().unwrap_or("(no reason given)")
            )
        })
        .collect();
    reasons.sort();
    if reasons.is_empty() {
        TargetsHealth::Checking
    } else {
        TargetsHealth::Unhealthy(reasons)
    }
}

/// A resource holds the operator's uid-derived name but not its uid tag: someone else's.
fn name_taken(side: &Side<'_>, what: &str, found: &str) -> Error {
    Error::Aws {
        operation: "DescribeTags",
        account: side.key.account(),
        code: "NameTaken".into(),
        message: format!(
            "a {what} named {} exists but is not this object's: {found}",
            side.owner.short_name()
        ),
        class: ErrorClass::Terminal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnets() -> Vec<Subnet> {
        vec![
            Subnet {
                id: "subnet-a".into(),
                cidr: "10.1.1.0/24".into(),
                availability_zone: "us-east-1a".into(),
            },
            Subnet {
                id: "subnet-b".into(),
                cidr: "10.1.2.0/24".into(),
                availability_zone: "us-east-1b".into(),
            },
        ]
    }

    fn target(ip: &str, az: Option<&str>, health: &str) -> Target {
        Target {
            ip: ip.into(),
            availability_zone: az.map(str::to_string),
            health: health.into(),
            reason: None,
        }
    }

    #[test]
    fn an_impaired_nlb_still_serves() {
        let view = |state: &str| LoadBalancerView {
            target_group_arn: "tg".into(),
            load_balancer_arn: "lb".into(),
            state: state.into(),
        };
        assert!(view("active").is_active());
        assert!(view("active_impaired").is_active());
        assert!(!view("provisioning").is_active());
        assert!(!view("failed").is_active());
    }

    #[test]
    fn ready_needs_one_healthy_target() {
        let t = |ip: &str, health: &str, reason: Option<&str>| TargetStatus {
            ip: ip.into(),
            availability_zone: Some("all".into()),
            health: Some(health.into()),
            reason: reason.map(str::to_string),
        };
        assert_eq!(
            targets_health(&[
                t("10.2.1.5", "unhealthy", Some("Target.Timeout")),
                t("10.2.2.7", "healthy", None)
            ]),
            TargetsHealth::Serving
        );
        assert_eq!(
            targets_health(&[t("10.2.1.5", "initial", Some("Elb.RegistrationInProgress"))]),
            TargetsHealth::Checking
        );
        assert_eq!(targets_health(&[]), TargetsHealth::Checking);
        assert_eq!(
            targets_health(&[
                t("10.2.2.7", "unhealthy", Some("Target.Timeout")),
                t("10.2.1.5", "initial", None)
            ]),
            TargetsHealth::Unhealthy(vec!["10.2.2.7 Target.Timeout".into()])
        );
    }

    #[test]
    fn az_all_only_outside_the_consumer_subnets() {
        // 10.1.200.7 is inside the VPC's CIDR 10.1.0.0/16 but in no subnet: AWS decides by subnets.
        let ips = vec![
            "10.2.1.15".to_string(),
            "10.1.1.9".to_string(),
            "10.1.200.7".to_string(),
        ];
        let wanted = wanted_targets(&ips, &subnets());
        assert_eq!(
            wanted,
            vec![
                ("10.2.1.15".to_string(), Some("all".to_string())),
                ("10.1.1.9".to_string(), None),
                ("10.1.200.7".to_string(), Some("all".to_string())),
            ]
        );
    }

    #[test]
    fn public_addresses_outside_the_vpc_cannot_be_targets() {
        let wanted = wanted_targets(&["10.2.1.15".into(), "54.1.2.3".into()], &subnets());
        assert_eq!(untargetable(&wanted), Some("54.1.2.3"));
        let inside = wanted_targets(&["10.1.1.9".into()], &subnets());
        assert_eq!(untargetable(&inside), None);
    }

    #[test]
    fn register_new_deregister_stale() {
        let wanted = vec![
            ("10.2.1.15".to_string(), Some("all".to_string())),
            ("10.2.2.27".to_string(), Some("all".to_string())),
        ];
        let current = vec![
            target("10.2.1.15", Some("all"), "healthy"),
            target("10.2.3.3", Some("all"), "healthy"),
        ];
        let (register, deregister) = plan_targets(&wanted, &current);
        assert_eq!(
            register,
            vec![("10.2.2.27".to_string(), Some("all".to_string()))]
        );
        assert_eq!(
            deregister,
            vec![("10.2.3.3".to_string(), Some("all".to_string()))]
        );
    }

    #[test]
    fn steady_state_plans_nothing_and_draining_is_reregistered() {
        let wanted = vec![("10.2.1.15".to_string(), Some("all".to_string()))];
        assert_eq!(
            plan_targets(&wanted, &[target("10.2.1.15", Some("all"), "healthy")]),
            (vec![], vec![])
        );
        let (register, deregister) =
            plan_targets(&wanted, &[target("10.2.1.15", Some("all"), "draining")]);
        assert_eq!(register, wanted);
        assert!(deregister.is_empty());
        // A stale target already draining is not deregistered twice.
        let (_, deregister) = plan_targets(
            &wanted,
            &[
                target("10.2.1.15", Some("all"), "healthy"),
                target("10.2.9.9", Some("all"), "draining"),
            ],
        );
        assert!(deregister.is_empty());
    }
}
