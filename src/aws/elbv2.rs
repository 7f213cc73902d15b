//! ELBv2: the internal NLB, its IP target group and the TCP 443 listener.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag,
    TargetDescription, TargetTypeEnum,
};
use tracing::instrument;

use super::shared::{self, Sharing};
use super::{Caller, Ownership, error_code, to_error};
use crate::api::UID_TAG;
use crate::error::{Error, Result};

/// A target group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroup {
    /// ARN.
    pub arn: String,
    /// VPC.
    pub vpc_id: String,
}

/// A registered target and its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// IP address.
    pub ip: String,
    /// `all`, a zone, or `None` (AWS picked the zone from the subnet).
    pub availability_zone: Option<String>,
    /// initial, healthy, unhealthy, unused, draining, unavailable.
    pub health: String,
    /// AWS's reason code when not healthy, e.g. `Target.Timeout`.
    pub reason: Option<String>,
}

/// A Network Load Balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    /// ARN.
    pub arn: String,
    /// DNS name.
    pub dns_name: String,
    /// provisioning, active, active_impaired, failed.
    pub state: String,
    /// Reason given with the state, if any.
    pub state_reason: Option<String>,
}

/// A listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// ARN.
    pub arn: String,
    /// Port.
    pub port: i32,
    /// Target group of the forward default action.
    pub target_group_arn: Option<String>,
}

/// ELBv2 client of one account and region.
#[derive(Clone, Debug)]
pub struct Elbv2 {
    client: Client,
    caller: Caller,
    account: String,
    /// The NLB and target group read from the account's lists, when shared.
    sharing: Sharing,
}

fn load_balancer_from(
    lb: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
) -> Option<LoadBalancer> {
    Some(LoadBalancer {
        arn: lb.load_balancer_arn()?.to_string(),
        dns_name: lb.dns_name().unwrap_or_default().to_string(),
        state: lb
            .state()
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        state_reason: lb.state().and_then(|s| s.reason()).map(str::to_string),
    })
}

fn target_group_from(
    g: &aws_sdk_elasticloadbalancingv2::types::TargetGroup,
) -> Option<TargetGroup> {
    Some(TargetGroup {
        arn: g.target_group_arn()?.to_string(),
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
    })
}

/// What a look-up of the operator's resource found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found<T> {
    /// The operator's own (by the ARN it recorded, or by its name and uid tag).
    Ours(T),
    /// Nothing by that ARN or name.
    Absent,
    /// A resource with the operator's name that is not tagged with its uid: `<arn> (uid tag …)`.
    Foreign(String),
}

/// Targets on port 443, with `AvailabilityZone` where given.
fn descriptions(targets: &[(String, Option<String>)]) -> Vec<TargetDescription> {
    targets
        .iter()
        .map(|(ip, az)| {
            TargetDescription::builder()
                .id(ip)
                .port(443)
                .set_availability_zone(az.clone())
                .build()
        })
        .collect()
}

fn tags(owner: &Ownership) -> Vec<Tag> {
    owner
        .tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl Elbv2 {
    pub(crate) fn new(client: Client, caller: Caller, account: String, sharing: Sharing) -> Self {
        Elbv2 {
            client,
            caller,
            account,
            sharing,
        }
    }

    /// Each call's configuration override: signed by this client's caller.
    fn signed(&self) -> aws_sdk_elasticloadbalancingv2::config::Builder {
        super::signed_by!(aws_sdk_elasticloadbalancingv2, self.caller)
    }

    /// This client, reading NLBs and target groups from the account's lists as `reads` says.
    pub fn sharing_reads(mut self, reads: shared::ListReads) -> Self {
        self.sharing = self.sharing.reading(reads);
        self
    }

    /// The uid tag of a resource, `None` when it has none.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeTags"))]
    async fn uid_tag(&self, arn: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_tags()
            .resource_arns(arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("DescribeTags", &self.account))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .find(|t| t.key() == Some(UID_TAG))
            .and_then(|t| t.value().map(str::to_string)))
    }

    /// The operator's target group: by the ARN it recorded, else by its name (names are unique
    /// per account and region) checked against its uid tag.
    pub async fn find_owned_target_group(
        &self,
        known_arn: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<Found<TargetGroup>> {
        if let Some(arn) = known_arn
            && let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists
                .target_groups
                .get(reads, || self.list_target_groups())
                .await?
            && let Some(g) = all.iter().find(|g| g.arn == arn)
        {
            return Ok(Found::Ours(g.clone()));
        }
        if let Some(arn) = known_arn
            && let Some(g) = self.find_target_group(Some(arn), name).await?
        {
            return Ok(Found::Ours(g));
        }
        let by_name = self.find_target_group(None, name).await?;
        self.owned(by_name, |g| &g.arn, uid).await
    }

    /// The operator's NLB, found like [`Self::find_owned_target_group`].
    pub async fn find_owned_load_balancer(
        &self,
        known_arn: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<Found<LoadBalancer>> {
        if let Some(arn) = known_arn
            && let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists
                .load_balancers
                .get(reads, || self.list_load_balancers())
                .await?
            && let Some(lb) = all.iter().find(|lb| lb.arn == arn)
        {
            return Ok(Found::Ours(lb.clone()));
        }
        if let Some(arn) = known_arn
            && let Some(lb) = self.find_load_balancer(Some(arn), name).await?
        {
            return Ok(Found::Ours(lb));
        }
        let by_name = self.find_load_balancer(None, name).await?;
        self.owned(by_name, |lb| &lb.arn, uid).await
    }

    async fn owned<T>(
        &self,
        found: Option<T>,
        arn: impl Fn(&T) -> &str,
        uid: &str,
    ) -> Result<Found<T>> {
        let Some(item) = found else {
            return Ok(Found::Absent);
        };
        match self.uid_tag(arn(&item)).await? {
            Some(tag) if tag == uid => Ok(Found::Ours(item)),
            other => Ok(Found::Foreign(format!(
                "{} (uid tag {other:?})",
                arn(&item)
            ))),
        }
    }

    /// The target group by ARN or by name; `None` if it does not exist.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeTargetGroups"))]
    async fn find_target_group(
        &self,
        arn: Option<&str>,
        name: &str,
    ) -> Result<Option<TargetGroup>> {
        let req = self.client.describe_target_groups();
        let req = match arn {
            Some(arn) => req.target_group_arns(arn),
            None => req.names(name),
        };
        match req.customize().config_override(self.signed()).send().await {
            Ok(out) => Ok(out.target_groups().iter().find_map(target_group_from)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(to_error("DescribeTargetGroups", &self.account)(e)),
        }
    }

    /// Every target group of the account and region (pages of 400).
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeTargetGroups"))]
    async fn list_target_groups(&self) -> Result<Vec<TargetGroup>> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .describe_target_groups()
                .page_size(shared::ELB_PAGE as i32)
                .set_marker(marker)
                .customize()
                .config_override(self.signed())
                .send()
                .await
                .map_err(to_error("DescribeTargetGroups", &self.account))?;
            all.extend(out.target_groups().iter().filter_map(target_group_from));
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Every load balancer of the account and region (pages of 400).
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeLoadBalancers"))]
    async fn list_load_balancers(&self) -> Result<Vec<LoadBalancer>> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .client
                .describe_load_balancers()
                .page_size(shared::ELB_PAGE as i32)
                .set_marker(marker)
                .customize()
                .config_override(self.signed())
                .send()
                .await
                .map_err(to_error("DescribeLoadBalancers", &self.account))?;
            all.extend(out.load_balancers().iter().filter_map(load_balancer_from));
            match out.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Creates the IP target group: TCP 443 with a TCP health check every 10 s that takes 2
    /// passes to turn healthy (20 s, well within the VPC link's minutes) and 2 failures to turn
    /// unhealthy.
    #[instrument(skip(self, owner), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "CreateTargetGroup"))]
    pub async fn create_target_group(
        &self,
        name: &str,
        vpc_id: &str,
        owner: &Ownership,
    ) -> Result<TargetGroup> {
        let out = self
            .client
            .create_target_group()
            .name(name)
            .protocol(ProtocolEnum::Tcp)
            .port(443)
            .vpc_id(vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .health_check_protocol(ProtocolEnum::Tcp)
            .health_check_interval_seconds(10)
            .healthy_threshold_count(2)
            .unhealthy_threshold_count(2)
            .set_tags(Some(tags(owner)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("CreateTargetGroup", &self.account))?;
        out.target_groups()
            .iter()
            .find_map(|g| {
                Some(TargetGroup {
                    arn: g.target_group_arn()?.to_string(),
                    vpc_id: vpc_id.to_string(),
                })
            })
            .ok_or_else(|| Error::Unexpected {
                operation: "CreateTargetGroup",
                account: self.account.clone(),
                detail: "no target group in the answer".into(),
            })
    }

    /// Registered targets with their health, sorted by IP.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeTargetHealth"))]
    pub async fn targets(&self, target_group_arn: &str) -> Result<Vec<Target>> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("DescribeTargetHealth", &self.account))?;
        let mut targets: Vec<Target> = out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let t = d.target()?;
                Some(Target {
                    ip: t.id()?.to_string(),
                    availability_zone: t.availability_zone().map(str::to_string),
                    health: d
                        .target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    reason: d
                        .target_health()
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                })
            })
            .collect();
        targets.sort_by(|a, b| a.ip.cmp(&b.ip));
        Ok(targets)
    }

    /// Registers targets on port 443.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "RegisterTargets"))]
    pub async fn register(
        &self,
        target_group_arn: &str,
        targets: &[(String, Option<String>)],
    ) -> Result<()> {
        self.client
            .register_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(descriptions(targets)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("RegisterTargets", &self.account))?;
        Ok(())
    }

    /// Deregisters targets (they drain).
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DeregisterTargets"))]
    pub async fn deregister(
        &self,
        target_group_arn: &str,
        targets: &[(String, Option<String>)],
    ) -> Result<()> {
        self.client
            .deregister_targets()
            .target_group_arn(target_group_arn)
            .set_targets(Some(descriptions(targets)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("DeregisterTargets", &self.account))?;
        Ok(())
    }

    /// Deletes a target group; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DeleteTargetGroup"))]
    pub async fn delete_target_group(&self, arn: &str) -> Result<()> {
        match self
            .client
            .delete_target_group()
            .target_group_arn(arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("DeleteTargetGroup", &self.account)(e)),
        }
    }

    /// The NLB by ARN or by name; `None` if it does not exist.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeLoadBalancers"))]
    async fn find_load_balancer(
        &self,
        arn: Option<&str>,
        name: &str,
    ) -> Result<Option<LoadBalancer>> {
        let req = self.client.describe_load_balancers();
        let req = match arn {
            Some(arn) => req.load_balancer_arns(arn),
            None => req.names(name),
        };
        match req.customize().config_override(self.signed()).send().await {
            Ok(out) => Ok(out.load_balancers().iter().find_map(load_balancer_from)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(to_error("DescribeLoadBalancers", &self.account)(e)),
        }
    }

    /// Creates the internal NLB.
    #[instrument(skip(self, owner), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "CreateLoadBalancer"))]
    pub async fn create_load_balancer(
        &self,
        name: &str,
        subnet_ids: &[String],
        owner: &Ownership,
    ) -> Result<LoadBalancer> {
        let out = self
            .client
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Network)
            .scheme(LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(subnet_ids.to_vec()))
            .set_tags(Some(tags(owner)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("CreateLoadBalancer", &self.account))?;
        out.load_balancers()
            .iter()
            .find_map(load_balancer_from)
            .ok_or_else(|| Error::Unexpected {
                operation: "CreateLoadBalancer",
                account: self.account.clone(),
                detail: "no load balancer in the answer".into(),
            })
    }

    /// Deletes an NLB; one already gone counts as deleted. ResourceInUse (a VPC link still
    /// targets it) comes back as an in-use error.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DeleteLoadBalancer"))]
    pub async fn delete_load_balancer(&self, arn: &str) -> Result<()> {
        match self
            .client
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("DeleteLoadBalancer", &self.account)(e)),
        }
    }

    /// The NLB's listeners.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DescribeListeners"))]
    pub async fn listeners(&self, load_balancer_arn: &str) -> Result<Vec<Listener>> {
        match self
            .client
            .describe_listeners()
            .load_balancer_arn(load_balancer_arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(out) => Ok(out
                .listeners()
                .iter()
                .filter_map(|l| {
                    Some(Listener {
                        arn: l.listener_arn()?.to_string(),
                        port: l.port().unwrap_or_default(),
                        target_group_arn: l
                            .default_actions()
                            .iter()
                            .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
                            .and_then(|a| a.target_group_arn().map(str::to_string)),
                    })
                })
                .collect()),
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(to_error("DescribeListeners", &self.account)(e)),
        }
    }

    fn forward(target_group_arn: &str) -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(target_group_arn)
            .build()
    }

    /// Creates the TCP 443 listener forwarding to the target group (TLS passes through).
    #[instrument(skip(self, owner), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "CreateListener"))]
    pub async fn create_listener(
        &self,
        load_balancer_arn: &str,
        target_group_arn: &str,
        owner: &Ownership,
    ) -> Result<String> {
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(load_balancer_arn)
            .protocol(ProtocolEnum::Tcp)
            .port(443)
            .default_actions(Self::forward(target_group_arn))
            .set_tags(Some(tags(owner)))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("CreateListener", &self.account))?;
        out.listeners()
            .iter()
            .find_map(|l| l.listener_arn().map(str::to_string))
            .ok_or_else(|| Error::Unexpected {
                operation: "CreateListener",
                account: self.account.clone(),
                detail: "no listener in the answer".into(),
            })
    }

    /// Points the listener's default action at the target group.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "ModifyListener"))]
    pub async fn forward_listener(&self, listener_arn: &str, target_group_arn: &str) -> Result<()> {
        self.client
            .modify_listener()
            .listener_arn(listener_arn)
            .default_actions(Self::forward(target_group_arn))
            .customize()
            .config_override(self.signed())
            .send()
            .await
            .map_err(to_error("ModifyListener", &self.account))?;
        Ok(())
    }

    /// Deletes a listener; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "elasticloadbalancingv2", operation = "DeleteListener"))]
    pub async fn delete_listener(&self, arn: &str) -> Result<()> {
        match self
            .client
            .delete_listener()
            .listener_arn(arn)
            .customize()
            .config_override(self.signed())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(to_error("DeleteListener", &self.account)(e)),
        }
    }
}

fn is_not_found<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    error_code(err).is_some_and(|code| code.ends_with("NotFound"))
}
