//! EC2: the execute-api Interface endpoint, its ENIs, the endpoint's security group, subnets.
//!
//! EC2 is eventually consistent: what was just created can be NotFound to the next call for a
//! moment. The client remembers what it created, and a NotFound for such an id is an error of
//! class [`ErrorClass::NotYetVisible`] (retried soon), not a sign that the resource is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, VpcEndpointType,
};
use tracing::instrument;

use super::shared::{self, Sharing};
use super::{Caller, Ownership, error_code, to_error};
use crate::api::UID_TAG;
use crate::error::{Error, ErrorClass, Result};

/// How long after its creation a NotFound for an id is taken for EC2 catching up. AWS documents
/// no bound; its guide speaks of seconds, so a minute errs on the safe side.
const SETTLING: Duration = Duration::from_secs(60);

/// Ids this client created, with when.
#[derive(Debug, Default)]
struct RecentIds(Mutex<HashMap<String, Instant>>);

impl RecentIds {
    fn note(&self, id: &str) {
        if let Ok(mut ids) = self.0.lock() {
            ids.retain(|_, at| at.elapsed() < SETTLING);
            ids.insert(id.to_string(), Instant::now());
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut ids) = self.0.lock() {
            ids.remove(id);
        }
    }

    fn any_recent<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> bool {
        self.0.lock().is_ok_and(|known| {
            ids.into_iter()
                .any(|id| known.get(id).is_some_and(|at| at.elapsed() < SETTLING))
        })
    }
}

/// An Interface VPC endpoint as the controller needs to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `vpce-…`.
    pub id: String,
    /// pending, available, deleting, deleted, failed, rejected, …
    pub state: String,
    /// The endpoint's VPC.
    pub vpc_id: String,
    /// Its service, e.g. `com.amazonaws.us-east-1.execute-api`.
    pub service_name: String,
    /// Subnets with an ENI.
    pub subnet_ids: Vec<String>,
    /// Security groups on its ENIs.
    pub security_group_ids: Vec<String>,
    /// Its ENIs.
    pub network_interface_ids: Vec<String>,
    /// Whether private DNS is on.
    pub private_dns_enabled: bool,
}

/// A security group and its TCP 443 ingress CIDRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// CIDRs allowed on TCP 443.
    pub https_cidrs: Vec<String>,
}

/// A subnet: id, IPv4 CIDR, zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// IPv4 CIDR block.
    pub cidr: String,
    /// Availability zone name.
    pub availability_zone: String,
}

/// What a new endpoint looks like.
#[derive(Clone, Debug)]
pub struct EndpointRequest<'a> {
    /// VPC.
    pub vpc_id: &'a str,
    /// `com.amazonaws.<region>.execute-api`.
    pub service_name: String,
    /// Subnets.
    pub subnet_ids: &'a [String],
    /// Security groups.
    pub security_group_ids: &'a [String],
    /// Private DNS.
    pub private_dns_enabled: bool,
}

/// A change to an endpoint's subnets, groups or private DNS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointChange {
    /// Subnets to add (an ENI each).
    pub add_subnet_ids: Vec<String>,
    /// Subnets to remove.
    pub remove_subnet_ids: Vec<String>,
    /// Groups to add.
    pub add_security_group_ids: Vec<String>,
    /// Groups to remove.
    pub remove_security_group_ids: Vec<String>,
    /// New private DNS setting.
    pub private_dns_enabled: Option<bool>,
}

impl EndpointChange {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == EndpointChange::default()
    }
}

/// EC2 client of one account and region.
#[derive(Clone, Debug)]
pub struct Ec2 {
    client: Client,
    caller: Caller,
    account: String,
    recent: Arc<RecentIds>,
    /// Endpoints, security groups and subnets read from the account's lists, when shared.
    sharing: Sharing,
}

/// The addresses of an endpoint's ENIs, and whether EC2 showed every one of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EniAddresses {
    /// Private IPv4 addresses, sorted.
    pub ips: Vec<String>,
    /// ENIs the endpoint lists that DescribeNetworkInterfaces did not show (just made or just
    /// removed by a change of subnets).
    pub unseen: usize,
}

fn filter(name: &str, value: impl Into<String>) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag_spec(kind: ResourceType, owner: &Ownership, name: Option<&str>) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in owner.tags() {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    if let Some(name) = name {
        spec = spec.tags(Tag::builder().key("Name").value(name).build());
    }
    spec.build()
}

fn endpoint_from(e: &aws_sdk_ec2::types::VpcEndpoint) -> Option<Endpoint> {
    Some(Endpoint {
        id: e.vpc_endpoint_id()?.to_string(),
        state: e
            .state()
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_default(),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        network_interface_ids: e.network_interface_ids().to_vec(),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
    })
}

fn https_cidrs(permissions: &[IpPermission]) -> Vec<String> {
    let mut cidrs: Vec<String> = permissions
        .iter()
        .filter(|p| {
            p.ip_protocol() == Some("tcp") && p.from_port() == Some(443) && p.to_port() == Some(443)
        })
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip().map(str::to_string))
        })
        .collect();
    cidrs.sort();
    cidrs
}

fn https_permission(cidrs: &[String]) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443);
    for cidr in cidrs {
        p = p.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .description("execute-api via cross-account-api-operator")
                .build(),
        );
    }
    p.build()
}

/// States after which an endpoint no longer counts as existing.
const GONE_STATES: &[&str] = &["deleted", "deleting", "failed", "rejected", "expired"];

impl Ec2 {
    pub(crate) fn new(client: Client, caller: Caller, account: String, sharing: Sharing) -> Self {
        Ec2 {
            client,
            caller,
            account,
            recent: Arc::default(),
            sharing,
        }
    }

    /// Each call's configuration override: signed by this client's caller.
    fn signed(&self) -> aws_sdk_ec2::config::Builder {
        super::signed_by!(aws_sdk_ec2, self.caller)
    }

    /// This client, reading endpoints, security groups and subnets from the account's lists as
    /// `reads` says.
    pub fn sharing_reads(mut self, reads: shared::ListReads) -> Self {
        self.sharing = self.sharing.reading(reads);
        self
    }

    /// Whether this client created `id` moments ago, so that EC2 may not show it yet.
    pub fn just_created(&self, id: &str) -> bool {
        self.recent.any_recent([id])
    }

    /// `err` retried soon when it is a NotFound about one of `ids` (EC2 names the id in its
    /// message) that was created here moments ago.
    fn settling(&self, err: Error, ids: &[&str]) -> Error {
        let about: Vec<&str> = match &err {
            Error::Aws { code, message, .. } if code.ends_with(".NotFound") => ids
                .iter()
                .copied()
                .filter(|id| message.contains(id))
                .collect(),
            _ => Vec::new(),
        };
        if self.recent.any_recent(about) {
            err.not_yet_visible()
        } else {
            err
        }
    }

    /// The endpoint with this id; `None` when it does not exist or is deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeVpcEndpoints"))]
    pub async fn find_endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        let live = |e: &Endpoint| e.id == id && !GONE_STATES.contains(&e.state.as_str());
        if let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists.endpoints.get(reads, || self.list_endpoints()).await?
            && let Some(found) = all.iter().find(|e| live(e))
        {
            return Ok(Some(found.clone()));
        }
        match self
            .client
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(out) => Ok(out
                .vpc_endpoints()
                .iter()
                .filter_map(endpoint_from)
                .find(live)),
            Err(e) if is_not_found(&e) && !self.recent.any_recent([id]) => Ok(None),
            Err(e) => Err(self.settling(to_error("DescribeVpcEndpoints", &self.account)(e), &[id])),
        }
    }

    /// Every VPC endpoint of the account and region (pages of 1000).
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeVpcEndpoints"))]
    async fn list_endpoints(&self) -> Result<Vec<Endpoint>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_vpc_endpoints()
                .max_results(shared::EC2_PAGE as i32)
                .set_next_token(token)
                .customize()
                .config_override(self.signed())
                .send()
                .await
                .map_err(to_error("DescribeVpcEndpoints", &self.account))?;
            all.extend(out.vpc_endpoints().iter().filter_map(endpoint_from));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// The live endpoint tagged with this uid in `vpc_id`, if any (adoption after a crash).
    pub async fn find_endpoint_by_uid(&self, vpc_id: &str, uid: &str) -> Result<Option<Endpoint>> {
        Ok(self
            .find_endpoints_by_uid(vpc_id, uid)
            .await?
            .into_iter()
            .next())
    }

    /// Every live endpoint tagged with this uid in `vpc_id`: more than one only when a create
    /// was repeated after its answer was lost.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeVpcEndpoints"))]
    pub async fn find_endpoints_by_uid(&self, vpc_id: &str, uid: &str) -> Result<Vec<Endpoint>> {
        let out = self
            .client
            .describe_vpc_endpoints()
            .filters(filter(&format!("tag:{UID_TAG}"), uid))
            .filters(filter("vpc-id", vpc_id))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("DescribeVpcEndpoints", &self.account))?;
        Ok(out
            .vpc_endpoints()
            .iter()
            .filter_map(endpoint_from)
            .filter(|e| !GONE_STATES.contains(&e.state.as_str()))
            .collect())
    }

    /// Creates the endpoint; `client_token` makes a retried create return the first endpoint.
    #[instrument(skip(self, req, owner), fields(account = %self.account, service = "ec2", operation = "CreateVpcEndpoint"))]
    pub async fn create_endpoint(
        &self,
        req: &EndpointRequest<'_>,
        owner: &Ownership,
        client_token: &str,
    ) -> Result<Endpoint> {
        let out = self
            .client
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(req.vpc_id)
            .service_name(&req.service_name)
            .set_subnet_ids(Some(req.subnet_ids.to_vec()))
            .set_security_group_ids(Some(req.security_group_ids.to_vec()))
            .private_dns_enabled(req.private_dns_enabled)
            .client_token(client_token)
            .tag_specifications(tag_spec(
                ResourceType::VpcEndpoint,
                owner,
                Some(&crate::limits::fit(
                    &owner.owner,
                    crate::limits::TAG_VALUE_MAX,
                )),
            ))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(|e| {
                let groups: Vec<&str> = req.security_group_ids.iter().map(String::as_str).collect();
                self.settling(to_error("CreateVpcEndpoint", &self.account)(e), &groups)
            })?;
        let endpoint =
            out.vpc_endpoint()
                .and_then(endpoint_from)
                .ok_or_else(|| Error::Unexpected {
                    operation: "CreateVpcEndpoint",
                    account: self.account.clone(),
                    detail: "no endpoint in the answer".into(),
                })?;
        self.recent.note(&endpoint.id);
        for eni in &endpoint.network_interface_ids {
            self.recent.note(eni);
        }
        Ok(endpoint)
    }

    /// Whether an endpoint's state means it no longer exists (deleted, failed, …).
    pub fn is_gone(endpoint: &Endpoint) -> bool {
        GONE_STATES.contains(&endpoint.state.as_str())
    }

    /// Applies a change to an endpoint.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "ModifyVpcEndpoint"))]
    pub async fn modify_endpoint(&self, id: &str, change: &EndpointChange) -> Result<()> {
        let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        self.client
            .modify_vpc_endpoint()
            .vpc_endpoint_id(id)
            .set_add_subnet_ids(non_empty(&change.add_subnet_ids))
            .set_remove_subnet_ids(non_empty(&change.remove_subnet_ids))
            .set_add_security_group_ids(non_empty(&change.add_security_group_ids))
            .set_remove_security_group_ids(non_empty(&change.remove_security_group_ids))
            .set_private_dns_enabled(change.private_dns_enabled)
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(|e| {
                let mut ids = vec![id];
                ids.extend(change.add_security_group_ids.iter().map(String::as_str));
                self.settling(to_error("ModifyVpcEndpoint", &self.account)(e), &ids)
            })?;
        Ok(())
    }

    /// Deletes an endpoint; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DeleteVpcEndpoints"))]
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        // Deleted only once a look-up showed it: EC2 has caught up with its creation, and a
        // NotFound after a delete whose answer was lost means it is gone.
        self.recent.forget(id);
        self.delete_endpoint_once(id).await
    }

    async fn delete_endpoint_once(&self, id: &str) -> Result<()> {
        match self
            .client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(out) => {
                // DeleteVpcEndpoints reports per-endpoint failures in the body.
                match out.unsuccessful().iter().filter_map(|u| u.error()).next() {
                    Some(err) if !err.code().unwrap_or_default().contains("NotFound") => {
                        Err(Error::Aws {
                            operation: "DeleteVpcEndpoints",
                            account: self.account.clone(),
                            code: err.code().unwrap_or("Unknown").to_string(),
                            message: err.message().unwrap_or_default().to_string(),
                            class: crate::error::classify(
                                err.code().unwrap_or_default(),
                                err.message().unwrap_or_default(),
                            ),
                        })
                    }
                    _ => Ok(()),
                }
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("DeleteVpcEndpoints", &self.account)(e)),
        }
    }

    /// Private IPv4 addresses of these ENIs. Asked by filter, not by id: by id, EC2 fails the
    /// whole call when one ENI is gone (removed with its subnet) or not visible yet.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeNetworkInterfaces"))]
    pub async fn eni_addresses(&self, eni_ids: &[String]) -> Result<EniAddresses> {
        if eni_ids.is_empty() {
            return Ok(EniAddresses::default());
        }
        let out = self
            .client
            .describe_network_interfaces()
            .filters(
                Filter::builder()
                    .name("network-interface-id")
                    .set_values(Some(eni_ids.to_vec()))
                    .build(),
            )
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("DescribeNetworkInterfaces", &self.account))?;
        let seen = out.network_interfaces();
        let mut ips: Vec<String> = seen
            .iter()
            .filter_map(|n| n.private_ip_address().map(str::to_string))
            .collect();
        ips.sort();
        Ok(EniAddresses {
            ips,
            unseen: eni_ids.len().saturating_sub(seen.len()),
        })
    }

    /// The security group tagged with this uid in `vpc_id`, if any.
    pub async fn find_security_group_by_uid(
        &self,
        vpc_id: &str,
        uid: &str,
    ) -> Result<Option<SecurityGroup>> {
        if let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists
                .security_groups
                .get(reads, || self.list_owned_security_groups())
                .await?
            && let Some((_, _, g)) = all.iter().find(|(v, u, _)| v == vpc_id && u == uid)
        {
            return Ok(Some(g.clone()));
        }
        let found = self
            .security_groups(vec![
                filter(&format!("tag:{UID_TAG}"), uid),
                filter("vpc-id", vpc_id),
            ])
            .await?;
        Ok(found.into_iter().next().map(|(g, _, _)| g))
    }

    /// Every security group of the account and region with a uid tag: (VPC, uid, group).
    async fn list_owned_security_groups(&self) -> Result<Vec<(String, String, SecurityGroup)>> {
        let found = self
            .security_groups(vec![filter("tag-key", UID_TAG)])
            .await?;
        Ok(found
            .into_iter()
            .filter_map(|(g, uid, vpc)| Some((vpc, uid?, g)))
            .collect())
    }

    /// Security groups matching `filters`, each with its uid tag.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeSecurityGroups"))]
    async fn security_groups(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<(SecurityGroup, Option<String>, String)>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_security_groups()
                .set_filters(Some(filters.clone()))
                .max_results(shared::EC2_PAGE as i32)
                .set_next_token(token)
                .customize()
                .config_override(self.signed())
                .send()
                .await
                .map_err(to_error("DescribeSecurityGroups", &self.account))?;
            all.extend(out.security_groups().iter().filter_map(|g| {
                let uid = g
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(UID_TAG))
                    .and_then(|t| t.value())
                    .map(str::to_string);
                Some((
                    SecurityGroup {
                        id: g.group_id()?.to_string(),
                        https_cidrs: https_cidrs(g.ip_permissions()),
                    },
                    uid,
                    g.vpc_id().unwrap_or_default().to_string(),
                ))
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Creates the endpoint's security group (no ingress yet) and returns its id. Group names
    /// are unique per VPC and CreateSecurityGroup takes no client token: when a retry after a
    /// lost answer finds the name taken by this object's own group, that group is the answer.
    pub async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        owner: &Ownership,
    ) -> Result<String> {
        match self.create_security_group_once(vpc_id, name, owner).await {
            Err(e) if e.code() == Some("InvalidGroup.Duplicate") => {
                let found = self
                    .security_groups(vec![filter("group-name", name), filter("vpc-id", vpc_id)])
                    .await?;
                match found.into_iter().next() {
                    Some((group, uid, _)) if uid.as_deref() == Some(owner.uid.as_str()) => {
                        Ok(group.id)
                    }
                    Some((group, _, _)) => Err(Error::Aws {
                        operation: "CreateSecurityGroup",
                        account: self.account.clone(),
                        code: "NameTaken".into(),
                        message: format!(
                            "security group {} is named {name} but is not this object's",
                            group.id
                        ),
                        class: ErrorClass::Terminal,
                    }),
                    // The name is taken by a group EC2 does not show yet: ours, just made.
                    None => Err(e.not_yet_visible()),
                }
            }
            other => other,
        }
    }

    #[instrument(skip(self, owner), fields(account = %self.account, service = "ec2", operation = "CreateSecurityGroup"))]
    async fn create_security_group_once(
        &self,
        vpc_id: &str,
        name: &str,
        owner: &Ownership,
    ) -> Result<String> {
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(crate::limits::fit(
                &format!(
                    "execute-api endpoint of {} (cross-account-api-operator)",
                    owner.owner
                ),
                crate::limits::SECURITY_GROUP_DESCRIPTION_MAX,
            ))
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, owner, Some(name)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("CreateSecurityGroup", &self.account))?;
        let id = out.group_id().ok_or_else(|| Error::Unexpected {
            operation: "CreateSecurityGroup",
            account: self.account.clone(),
            detail: "no group id in the answer".into(),
        })?;
        self.recent.note(id);
        Ok(id.to_string())
    }

    /// Allows TCP 443 from these CIDRs.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "AuthorizeSecurityGroupIngress"))]
    /// A rule that exists already (a retry after a lost answer) counts as allowed.
    pub async fn allow_https_from(&self, group_id: &str, cidrs: &[String]) -> Result<()> {
        match self
            .client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(cidrs))
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("InvalidPermission.Duplicate") => Ok(()),
            Err(e) => Err(self.settling(
                to_error("AuthorizeSecurityGroupIngress", &self.account)(e),
                &[group_id],
            )),
        }
    }

    /// Removes TCP 443 from these CIDRs.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "RevokeSecurityGroupIngress"))]
    /// A rule already gone counts as removed.
    pub async fn revoke_https_from(&self, group_id: &str, cidrs: &[String]) -> Result<()> {
        match self
            .client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(cidrs))
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("InvalidPermission.NotFound") => Ok(()),
            Err(e) => Err(self.settling(
                to_error("RevokeSecurityGroupIngress", &self.account)(e),
                &[group_id],
            )),
        }
    }

    /// Deletes a security group; one already gone counts as deleted. DependencyViolation (an
    /// endpoint still uses it) comes back as an [`crate::error::ErrorClass::InUse`] error.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DeleteSecurityGroup"))]
    pub async fn delete_security_group(&self, group_id: &str) -> Result<()> {
        // As for endpoints: deleted only once a look-up showed it.
        self.recent.forget(group_id);
        match self
            .client
            .delete_security_group()
            .group_id(group_id)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.settling(
                to_error("DeleteSecurityGroup", &self.account)(e),
                &[group_id],
            )),
        }
    }

    /// The subnets of a VPC.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeSubnets"))]
    pub async fn vpc_subnets(&self, vpc_id: &str) -> Result<Vec<Subnet>> {
        let of_vpc = |all: &[(String, Subnet)]| -> Vec<Subnet> {
            all.iter()
                .filter(|(vpc, _)| vpc == vpc_id)
                .map(|(_, s)| s.clone())
                .collect()
        };
        if let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists.subnets.get(reads, || self.subnets(None)).await?
        {
            let found = of_vpc(&all);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(of_vpc(&self.subnets(Some(vpc_id)).await?))
    }

    /// The subnets of one VPC, or of every VPC, each with its VPC (pages of 1000).
    async fn subnets(&self, vpc_id: Option<&str>) -> Result<Vec<(String, Subnet)>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_subnets()
                .set_filters(vpc_id.map(|v| vec![filter("vpc-id", v)]))
                .max_results(shared::EC2_PAGE as i32)
                .set_next_token(token)
                .customize()
                .config_override(self.signed())
                .send()
                .await
                .map_err(to_error("DescribeSubnets", &self.account))?;
            all.extend(out.subnets().iter().filter_map(|s| {
                Some((
                    s.vpc_id().unwrap_or_default().to_string(),
                    Subnet {
                        id: s.subnet_id()?.to_string(),
                        cidr: s.cidr_block()?.to_string(),
                        availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                    },
                ))
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }
}

fn is_not_found<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    error_code(err).is_some_and(|code| code.ends_with(".NotFound"))
}
