//! Provider step: the endpoint's security group (when the operator owns it) and the
//! execute-api Interface endpoint with its ENI IPs.

use super::{Journal, Outcome, Side, config_hash};
use crate::api::{CrossAccountApi, ProviderStatus};
use crate::aws::ec2::{Ec2, Endpoint, EndpointChange, EndpointRequest};
use crate::error::{Error, Result};

/// What the provider chain needs from this step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointView {
    /// `vpce-…`, known as soon as the endpoint exists (even while pending).
    pub id: String,
    /// Endpoint state, lower case.
    pub state: String,
    /// ENI IPs, sorted.
    pub ips: Vec<String>,
    /// ENIs the endpoint lists that EC2 does not show yet (or any more).
    pub unseen_enis: usize,
}

impl EndpointView {
    /// Available with the IPs of all its ENIs known.
    pub fn is_ready(&self) -> bool {
        self.state == "available" && !self.ips.is_empty() && self.unseen_enis == 0
    }
}

/// The service name of API Gateway's Interface endpoint in a region.
pub use crate::partition::execute_api_service as service_name;

/// CIDRs to allow and to revoke so that the group allows exactly `wanted` on TCP 443.
pub fn plan_ingress(current: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let add = wanted
        .iter()
        .filter(|c| !current.contains(c))
        .cloned()
        .collect();
    let revoke = current
        .iter()
        .filter(|c| !wanted.contains(c))
        .cloned()
        .collect();
    (add, revoke)
}

/// The change that brings a created endpoint to the spec's subnets, groups and private DNS.
pub fn plan_endpoint_change(
    current: &Endpoint,
    subnets: &[String],
    groups: &[String],
    private_dns: bool,
) -> EndpointChange {
    let missing = |want: &[String], have: &[String]| -> Vec<String> {
        want.iter().filter(|x| !have.contains(x)).cloned().collect()
    };
    EndpointChange {
        add_subnet_ids: missing(subnets, &current.subnet_ids),
        remove_subnet_ids: missing(&current.subnet_ids, subnets),
        add_security_group_ids: missing(groups, &current.security_group_ids),
        remove_security_group_ids: missing(&current.security_group_ids, groups),
        private_dns_enabled: (current.private_dns_enabled != private_dns).then_some(private_dns),
    }
}

/// The step: done once the endpoint is available with every ENI's IP known; while it waits,
/// its id (and any IPs) are already usable.
pub async fn step(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    status: &mut ProviderStatus,
    journal: &Journal,
) -> Outcome<EndpointView> {
    match ensure(side, obj, status, journal).await {
        Err(e) => Outcome::Failed(e),
        Ok(e) if e.is_ready() => {
            let message = format!("{} available with IPs {:?}", e.id, e.ips);
            Outcome::done(e, "Available", message)
        }
        Ok(e) => {
            let message = if e.unseen_enis > 0 {
                format!(
                    "{} is {}; {} of its ENIs not shown by EC2 yet",
                    e.id, e.state, e.unseen_enis
                )
            } else {
                format!("{} is {}", e.id, e.state)
            };
            Outcome::waiting(Some(e), "WaitingForEndpoint", message)
        }
    }
}

/// Ensures the security group (when owned), then the endpoint; records ids and IPs in `status`.
pub async fn ensure(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    status: &mut ProviderStatus,
    journal: &Journal,
) -> Result<EndpointView> {
    let spec = &obj.spec.provider;
    let ec2 = &side.clients.ec2;
    let groups = match &spec.security_group_ids {
        Some(given) => given.clone(),
        None => vec![ensure_security_group(side, obj, status, journal).await?],
    };

    // I/O: find the endpoint (adopted by id, else ours by status id or by uid tag).
    let endpoint = match &spec.vpc_endpoint_id {
        Some(id) => {
            let found = ec2
                .find_endpoint(id)
                .await?
                .ok_or_else(|| Error::InvalidSpec {
                    field: "spec.provider.vpcEndpointId".into(),
                    message: format!("VPC endpoint {id} does not exist in the provider account"),
                })?;
            if status.vpc_endpoint_id.as_deref() != Some(id) {
                journal.normal("AdoptedVpcEndpoint", format!("adopted VPC endpoint {id}"));
            }
            found
        }
        None => match find_owned(side, obj, status, journal).await? {
            Some(e) => {
                let change =
                    plan_endpoint_change(&e, &spec.subnet_ids, &groups, spec.private_dns_enabled);
                if !change.is_empty() && e.state == "available" {
                    ec2.modify_endpoint(&e.id, &change).await?;
                    journal.normal(
                        "ChangedVpcEndpoint",
                        format!("VPC endpoint {}: {}", e.id, describe_change(&change)),
                    );
                    // The ENIs changed with the subnets: read them anew, not from before.
                    ec2.find_endpoint(&e.id).await?.unwrap_or(e)
                } else {
                    e
                }
            }
            None => {
                let req = EndpointRequest {
                    vpc_id: &spec.vpc_id,
                    service_name: service_name(&spec.region),
                    subnet_ids: &spec.subnet_ids,
                    security_group_ids: &groups,
                    private_dns_enabled: spec.private_dns_enabled,
                };
                let uid = &side.owner.uid;
                let mut e = ec2
                    .create_endpoint(
                        &req,
                        side.owner,
                        &client_token(uid, status.vpc_endpoint_id.as_deref()),
                    )
                    .await?;
                if Ec2::is_gone(&e) {
                    // The token's first endpoint was deleted since: a new token makes a new one.
                    e = ec2
                        .create_endpoint(&req, side.owner, &client_token(uid, Some(&e.id)))
                        .await?;
                }
                journal.normal(
                    "CreatedVpcEndpoint",
                    format!("created VPC endpoint {} in {}", e.id, spec.vpc_id),
                );
                e
            }
        },
    };
    status.vpc_endpoint_id = Some(endpoint.id.clone());

    // I/O: the ENIs' addresses (only once the endpoint has its ENIs).
    let addresses = ec2.eni_addresses(&endpoint.network_interface_ids).await?;
    let ips = addresses.ips;
    if !status.endpoint_ips.is_empty() && status.endpoint_ips != ips && !ips.is_empty() {
        journal.normal(
            "EndpointIpsChanged",
            format!("endpoint IPs {:?} -> {:?}", status.endpoint_ips, ips),
        );
    }
    status.endpoint_ips = ips.clone();
    Ok(EndpointView {
        id: endpoint.id,
        state: endpoint.state,
        ips,
        unseen_enis: addresses.unseen,
    })
}

/// The client token of a created endpoint. EC2 answers a repeated token with the endpoint it
/// first made, even once that is deleted; so the token changes with the endpoint that is gone,
/// and an endpoint deleted by hand is really made again.
pub fn client_token(uid: &str, gone: Option<&str>) -> String {
    match gone {
        None => format!("xapi-{uid}"),
        Some(id) => format!("xapi-{uid}-{}", config_hash(&id)),
    }
}

/// The operator's endpoint: the recorded one if it still exists (one read), else the one tagged
/// with the object's uid. CreateVpcEndpoint's client token makes a repeated create return the
/// first endpoint, so a second tagged one is rare (a crash while EC2 did not list the first
/// yet); found here, it is deleted.
async fn find_owned(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    status: &ProviderStatus,
    journal: &Journal,
) -> Result<Option<Endpoint>> {
    let ec2 = &side.clients.ec2;
    if let Some(id) = &status.vpc_endpoint_id
        && let Some(recorded) = ec2.find_endpoint(id).await?
    {
        return Ok(Some(recorded));
    }
    let mut tagged = ec2
        .find_endpoints_by_uid(&obj.spec.provider.vpc_id, &side.owner.uid)
        .await?;
    tagged.sort_by(|a, b| a.id.cmp(&b.id));
    let keep = tagged.first().cloned();
    for extra in tagged
        .iter()
        .filter(|e| Some(&e.id) != keep.as_ref().map(|k| &k.id))
    {
        ec2.delete_endpoint(&extra.id).await?;
        journal.warning(
            "DeletedDuplicateVpcEndpoint",
            format!(
                "deleted VPC endpoint {}, a second copy of this object's",
                extra.id
            ),
        );
    }
    Ok(keep)
}

fn describe_change(change: &EndpointChange) -> String {
    let mut parts = Vec::new();
    if !change.add_subnet_ids.is_empty() {
        parts.push(format!("added subnets {:?}", change.add_subnet_ids));
    }
    if !change.remove_subnet_ids.is_empty() {
        parts.push(format!("removed subnets {:?}", change.remove_subnet_ids));
    }
    if !change.add_security_group_ids.is_empty() || !change.remove_security_group_ids.is_empty() {
        parts.push(format!(
            "groups +{:?} -{:?}",
            change.add_security_group_ids, change.remove_security_group_ids
        ));
    }
    if let Some(dns) = change.private_dns_enabled {
        parts.push(format!("private DNS {dns}"));
    }
    parts.join(", ")
}

async fn ensure_security_group(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    status: &mut ProviderStatus,
    journal: &Journal,
) -> Result<String> {
    let spec = &obj.spec.provider;
    let ec2 = &side.clients.ec2;
    let wanted: Vec<String> = spec.allowed_cidrs.clone().unwrap_or_default();
    // I/O: ours by uid tag (the status id alone could name a group deleted by hand).
    let group = match ec2
        .find_security_group_by_uid(&spec.vpc_id, &side.owner.uid)
        .await?
    {
        Some(g) => g,
        None => {
            let name = side.owner.short_name();
            let id = ec2
                .create_security_group(&spec.vpc_id, &name, side.owner)
                .await?;
            journal.normal(
                "CreatedSecurityGroup",
                format!("created security group {id} for the endpoint"),
            );
            crate::aws::ec2::SecurityGroup {
                id,
                https_cidrs: Vec::new(),
            }
        }
    };
    status.security_group_id = Some(group.id.clone());
    let (add, revoke) = plan_ingress(&group.https_cidrs, &wanted);
    if !add.is_empty() {
        ec2.allow_https_from(&group.id, &add).await?;
    }
    if !revoke.is_empty() {
        ec2.revoke_https_from(&group.id, &revoke).await?;
    }
    if !add.is_empty() || !revoke.is_empty() {
        journal.normal(
            "ChangedSecurityGroup",
            format!("security group {}: TCP 443 from {:?}", group.id, wanted),
        );
    }
    Ok(group.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(subnets: &[&str], groups: &[&str]) -> Endpoint {
        Endpoint {
            id: "vpce-1".into(),
            state: "available".into(),
            vpc_id: "vpc-1".into(),
            service_name: service_name("us-east-1"),
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            security_group_ids: groups.iter().map(|s| s.to_string()).collect(),
            network_interface_ids: vec![],
            private_dns_enabled: false,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subnet_change_adds_and_removes() {
        let change = plan_endpoint_change(
            &endpoint(&["subnet-a", "subnet-b"], &["sg-1"]),
            &strings(&["subnet-b", "subnet-c"]),
            &strings(&["sg-1"]),
            false,
        );
        assert_eq!(change.add_subnet_ids, strings(&["subnet-c"]));
        assert_eq!(change.remove_subnet_ids, strings(&["subnet-a"]));
        assert!(change.add_security_group_ids.is_empty());
        assert_eq!(change.private_dns_enabled, None);
    }

    #[test]
    fn unchanged_endpoint_plans_nothing() {
        let change = plan_endpoint_change(
            &endpoint(&["subnet-a"], &["sg-1"]),
            &strings(&["subnet-a"]),
            &strings(&["sg-1"]),
            false,
        );
        assert!(change.is_empty());
        let dns = plan_endpoint_change(
            &endpoint(&["subnet-a"], &["sg-1"]),
            &strings(&["subnet-a"]),
            &strings(&["sg-1"]),
            true,
        );
        assert_eq!(dns.private_dns_enabled, Some(true));
    }

    #[test]
    fn ingress_plan_is_exact() {
        let (add, revoke) = plan_ingress(
            &strings(&["10.1.0.0/16", "0.0.0.0/0"]),
            &strings(&["10.1.0.0/16", "10.3.0.0/16"]),
        );
        assert_eq!(add, strings(&["10.3.0.0/16"]));
        assert_eq!(revoke, strings(&["0.0.0.0/0"]));
    }

    #[test]
    fn ready_needs_available_and_ips() {
        let mut v = EndpointView {
            id: "vpce-1".into(),
            state: "pending".into(),
            ips: vec!["10.2.1.5".into()],
            unseen_enis: 0,
        };
        assert!(!v.is_ready());
        v.state = "available".into();
        assert!(v.is_ready());
        v.unseen_enis = 1;
        assert!(!v.is_ready(), "an ENI EC2 does not show yet");
        v.unseen_enis = 0;
        v.ips.clear();
        assert!(!v.is_ready());
    }

    #[test]
    fn token_changes_with_the_endpoint_that_is_gone() {
        let uid = "0f6a2c1e-4b7d-4e2a-9c3b-1d2e3f4a5b6c";
        let first = client_token(uid, None);
        let after_a = client_token(uid, Some("vpce-0aaaaaaaaaaaaaaaa"));
        let after_b = client_token(uid, Some("vpce-0bbbbbbbbbbbbbbbb"));
        assert_ne!(first, after_a);
        assert_ne!(after_a, after_b);
        assert_eq!(after_a, client_token(uid, Some("vpce-0aaaaaaaaaaaaaaaa")));
        // EC2 takes client tokens of up to 64 ASCII characters.
        assert!(after_a.len() <= 64 && first.len() <= 64);
    }
}
