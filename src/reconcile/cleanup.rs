//! Deletion in reverse order, so nothing is deleted while still in use: regional API → VPC link
//! (until gone) → listener, NLB → target group → private API (or only the operator's policy
//! statement on an adopted one) → endpoint → security group.
//!
//! Every resource is found by status id or by its uid tag, so this works even if Apply never
//! finished; every copy with the uid tag goes (a create repeated after a lost answer leaves
//! one); what is already gone counts as deleted; AWS's ordering refusals become waits.

use super::{Journal, Sides, invoke_url, routes};
use crate::api::{ConsumerStatus, CrossAccountApi, ProviderStatus, RouteStatus};
use crate::aws::elbv2::Found;
use crate::error::{ErrorClass, Result};

/// `Ok(None)`: everything is gone. `Ok(Some(why))`: wait and call again.
pub async fn run(
    sides: &Sides<'_>,
    obj: &CrossAccountApi,
    journal: &Journal,
) -> Result<Option<String>> {
    let status = obj.status.clone().unwrap_or_default();
    let consumer_status = status.consumer.unwrap_or_default();
    let provider_status = status.provider.unwrap_or_default();
    let c = &sides.consumer;
    let p = &sides.provider;
    let uid = &c.owner.uid;

    // 1. Regional API (its integrations hold the VPC link).
    let edge_apigw = &c.clients.apigateway;
    for api in edge_apigw.owned_rest_apis(uid, "REGIONAL").await? {
        edge_apigw.delete_rest_api(&api.id).await?;
        journal.normal(
            "DeletedRegionalApi",
            format!("deleted regional REST API {}", api.id),
        );
    }

    // 2. VPC links, polled until gone (a link has no DELETED state).
    let links = edge_apigw.owned_vpc_links(uid).await?;
    for link in &links {
        if link.status != "DELETING" {
            if let Some(wait) = in_use(edge_apigw.delete_vpc_link(&link.id).await)? {
                return Ok(Some(format!(
                    "VPC link {} is still referenced: {wait}",
                    link.id
                )));
            }
            journal.normal("DeletingVpcLink", format!("deleting VPC link {}", link.id));
        }
    }
    if let Some(link) = links.first() {
        return Ok(Some(format!(
            "waiting for VPC link {} to be deleted",
            link.id
        )));
    }

    // 3. Listener and NLB.
    let name = c.owner.short_name();
    let elb = &c.clients.elbv2;
    // Someone else's resource under our name is never touched.
    if let Found::Ours(lb) = elb
        .find_owned_load_balancer(consumer_status.load_balancer_arn.as_deref(), &name, uid)
        .await?
    {
        for listener in elb.listeners(&lb.arn).await? {
            elb.delete_listener(&listener.arn).await?;
        }
        if let Some(wait) = in_use(elb.delete_load_balancer(&lb.arn).await)? {
            return Ok(Some(format!("NLB {} is still in use: {wait}", lb.arn)));
        }
        journal.normal("DeletedLoadBalancer", format!("deleted NLB {}", lb.arn));
    }

    // 4. Target group.
    if let Found::Ours(group) = elb
        .find_owned_target_group(consumer_status.target_group_arn.as_deref(), &name, uid)
        .await?
    {
        if let Some(wait) = in_use(elb.delete_target_group(&group.arn).await)? {
            return Ok(Some(format!(
                "target group {} is still in use: {wait}",
                group.arn
            )));
        }
        journal.normal(
            "DeletedTargetGroup",
            format!("deleted target group {}", group.arn),
        );
    }

    // 5. Private APIs: created ones go; adopted ones lose only what the operator added.
    let spec = &obj.spec.provider;
    let apigw = &p.clients.apigateway;
    for api in apigw.owned_rest_apis(uid, "PRIVATE").await? {
        apigw.delete_rest_api(&api.id).await?;
        journal.normal(
            "DeletedPrivateApi",
            format!("deleted private REST API {}", api.id),
        );
    }
    for route in adopted_routes(obj) {
        routes::release(p, obj, &route, journal).await?;
    }

    // 6. Endpoints (created only). One made moments ago may not be listed yet: wait for it.
    let ec2 = &p.clients.ec2;
    if spec.vpc_endpoint_id.is_none() {
        let endpoints = ec2.find_endpoints_by_uid(&spec.vpc_id, uid).await?;
        for endpoint in &endpoints {
            ec2.delete_endpoint(&endpoint.id).await?;
            journal.normal(
                "DeletingVpcEndpoint",
                format!("deleting VPC endpoint {}", endpoint.id),
            );
        }
        if let Some(id) = not_listed_yet(ec2, &provider_status.vpc_endpoint_id, endpoints.len()) {
            return Ok(Some(format!("waiting for EC2 to show VPC endpoint {id}")));
        }
    }

    // 7. Security group (owned only); an endpoint still deleting holds it.
    if spec.security_group_ids.is_none() {
        let group = ec2.find_security_group_by_uid(&spec.vpc_id, uid).await?;
        if let Some(group) = &group {
            if let Some(wait) = in_use(ec2.delete_security_group(&group.id).await)? {
                return Ok(Some(format!(
                    "security group {} is still in use: {wait}",
                    group.id
                )));
            }
            journal.normal(
                "DeletedSecurityGroup",
                format!("deleted security group {}", group.id),
            );
        }
        let found = usize::from(group.is_some());
        if let Some(id) = not_listed_yet(ec2, &provider_status.security_group_id, found) {
            return Ok(Some(format!("waiting for EC2 to show security group {id}")));
        }
    }
    Ok(None)
}

/// Every adopted private API the object may have changed: the spec's, with what the status
/// recorded of them, and the recorded ones of routes since removed. Each once.
fn adopted_routes(obj: &CrossAccountApi) -> Vec<RouteStatus> {
    let recorded = obj
        .status
        .as_ref()
        .map(|s| s.routes.clone())
        .unwrap_or_default();
    let mut all: Vec<RouteStatus> = obj
        .routes()
        .iter()
        .filter_map(|r| {
            let id = r.private_api.id.clone()?;
            let known = recorded
                .iter()
                .find(|s| s.private_api_id.as_ref() == Some(&id))
                .cloned();
            Some(known.unwrap_or_else(|| RouteStatus {
                path: r.path.to_string(),
                private_api_invoke_url: Some(invoke_url(
                    &id,
                    &obj.spec.provider.region,
                    &r.private_api.stage_name,
                )),
                private_api_id: Some(id),
                ..Default::default()
            }))
        })
        .collect();
    for route in recorded {
        if !all.iter().any(|a| a.private_api_id == route.private_api_id) {
            all.push(route);
        }
    }
    all
}

/// Whether the object's status records no AWS resource at all.
pub fn made_nothing(obj: &CrossAccountApi) -> bool {
    let status = obj.status.clone().unwrap_or_default();
    status.provider.unwrap_or_default() == ProviderStatus::default()
        && status.consumer.unwrap_or_default() == ConsumerStatus::default()
        && status.routes.iter().all(|r| r.private_api_id.is_none())
}

/// The recorded id, when a tag look-up found nothing although this process made it moments ago
/// (EC2 lists new resources with a delay): deleting nothing then would leak it.
fn not_listed_yet<'a>(
    ec2: &crate::aws::ec2::Ec2,
    recorded: &'a Option<String>,
    found: usize,
) -> Option<&'a str> {
    recorded
        .as_deref()
        .filter(|id| found == 0 && ec2.just_created(id))
}

/// Turns AWS's "still in use" refusals into a wait; other errors stay errors.
fn in_use(result: Result<()>) -> Result<Option<String>> {
    match result {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.class(), ErrorClass::InUse | ErrorClass::NotYetVisible) => {
            Ok(Some(e.to_string()))
        }
        Err(e) => Err(e),
    }
}
