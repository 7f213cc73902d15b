//! EC2: the execute-api Interface endpoint, its ENIs, the endpoint's security group, subnets.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, VpcEndpointType,
};
use tracing::instrument;

use super::{Ownership, error_code, to_error};
use crate::api::UID_TAG;
use crate::error::{Error, Result};

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
    account: String,
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
    pub(crate) fn new(client: Client, account: String) -> Self {
        Ec2 { client, account }
    }

    /// The endpoint with this id; `None` when it does not exist or is deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeVpcEndpoints"))]
    pub async fn find_endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        match self
            .client
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .vpc_endpoints()
                .iter()
                .filter_map(endpoint_from)
                .find(|e| !GONE_STATES.contains(&e.state.as_str()))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(to_error("DescribeVpcEndpoints", &self.account)(e)),
        }
    }

    /// The live endpoint tagged with this uid in `vpc_id`, if any (adoption after a crash).
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeVpcEndpoints"))]
    pub async fn find_endpoint_by_uid(&self, vpc_id: &str, uid: &str) -> Result<Option<Endpoint>> {
        let out = self
            .client
            .describe_vpc_endpoints()
            .filters(filter(&format!("tag:{UID_TAG}"), uid))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(to_error("DescribeVpcEndpoints", &self.account))?;
        Ok(out
            .vpc_endpoints()
            .iter()
            .filter_map(endpoint_from)
            .find(|e| !GONE_STATES.contains(&e.state.as_str())))
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
                Some(&owner.owner),
            ))
            .send()
            .await
            .map_err(to_error("CreateVpcEndpoint", &self.account))?;
        out.vpc_endpoint()
            .and_then(endpoint_from)
            .ok_or_else(|| Error::Unexpected {
                operation: "CreateVpcEndpoint",
                account: self.account.clone(),
                detail: "no endpoint in the answer".into(),
            })
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
            .send()
            .await
            .map_err(to_error("ModifyVpcEndpoint", &self.account))?;
        Ok(())
    }

    /// Deletes an endpoint; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DeleteVpcEndpoints"))]
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        match self
            .client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
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

    /// Private IPv4 addresses of these ENIs, sorted.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeNetworkInterfaces"))]
    pub async fn eni_ips(&self, eni_ids: &[String]) -> Result<Vec<String>> {
        if eni_ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_network_interfaces()
            .set_network_interface_ids(Some(eni_ids.to_vec()))
            .send()
            .await
            .map_err(to_error("DescribeNetworkInterfaces", &self.account))?;
        let mut ips: Vec<String> = out
            .network_interfaces()
            .iter()
            .filter_map(|n| n.private_ip_address().map(str::to_string))
            .collect();
        ips.sort();
        Ok(ips)
    }

    /// The security group tagged with this uid in `vpc_id`, if any.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeSecurityGroups"))]
    pub async fn find_security_group_by_uid(
        &self,
        vpc_id: &str,
        uid: &str,
    ) -> Result<Option<SecurityGroup>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(filter(&format!("tag:{UID_TAG}"), uid))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(to_error("DescribeSecurityGroups", &self.account))?;
        Ok(out.security_groups().iter().find_map(|g| {
            Some(SecurityGroup {
                id: g.group_id()?.to_string(),
                https_cidrs: https_cidrs(g.ip_permissions()),
            })
        }))
    }

    /// Creates the endpoint's security group (no ingress yet).
    #[instrument(skip(self, owner), fields(account = %self.account, service = "ec2", operation = "CreateSecurityGroup"))]
    pub async fn create_security_group(
        &self,
        vpc_id: &str,
        name: &str,
        owner: &Ownership,
    ) -> Result<String> {
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(format!(
                "execute-api endpoint of {} (cross-account-api-operator)",
                owner.owner
            ))
            .vpc_id(vpc_id)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, owner, Some(name)))
            .send()
            .await
            .map_err(to_error("CreateSecurityGroup", &self.account))?;
        out.group_id()
            .map(str::to_string)
            .ok_or_else(|| Error::Unexpected {
                operation: "CreateSecurityGroup",
                account: self.account.clone(),
                detail: "no group id in the answer".into(),
            })
    }

    /// Allows TCP 443 from these CIDRs.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "AuthorizeSecurityGroupIngress"))]
    pub async fn allow_https_from(&self, group_id: &str, cidrs: &[String]) -> Result<()> {
        self.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(cidrs))
            .send()
            .await
            .map_err(to_error("AuthorizeSecurityGroupIngress", &self.account))?;
        Ok(())
    }

    /// Removes TCP 443 from these CIDRs.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "RevokeSecurityGroupIngress"))]
    pub async fn revoke_https_from(&self, group_id: &str, cidrs: &[String]) -> Result<()> {
        self.client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(https_permission(cidrs))
            .send()
            .await
            .map_err(to_error("RevokeSecurityGroupIngress", &self.account))?;
        Ok(())
    }

    /// Deletes a security group; one already gone counts as deleted. DependencyViolation (an
    /// endpoint still uses it) comes back as an [`crate::error::ErrorClass::InUse`] error.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DeleteSecurityGroup"))]
    pub async fn delete_security_group(&self, group_id: &str) -> Result<()> {
        match self
            .client
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("DeleteSecurityGroup", &self.account)(e)),
        }
    }

    /// The subnets of a VPC.
    #[instrument(skip(self), fields(account = %self.account, service = "ec2", operation = "DescribeSubnets"))]
    pub async fn vpc_subnets(&self, vpc_id: &str) -> Result<Vec<Subnet>> {
        let out = self
            .client
            .describe_subnets()
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .map_err(to_error("DescribeSubnets", &self.account))?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| {
                Some(Subnet {
                    id: s.subnet_id()?.to_string(),
                    cidr: s.cidr_block()?.to_string(),
                    availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }
}

fn is_not_found<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    error_code(err).is_some_and(|code| code.ends_with(".NotFound"))
}
