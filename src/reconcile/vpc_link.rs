//! Consumer step: the REST VPC link to the NLB. Its id is known at creation, while it is still
//! PENDING, so the integrations need not wait for AVAILABLE.

use super::load_balancer::LoadBalancerView;
use super::{Journal, Outcome, Side};
use crate::api::{ConsumerStatus, CrossAccountApi};
use crate::aws::apigateway::VpcLink;
use crate::error::{Error, ErrorClass, Result};

/// The step (`VpcLinkReady`): needs the NLB; done once the link is AVAILABLE. While PENDING
/// its id is known and the integrations may use it.
pub async fn step(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    lb: Option<&LoadBalancerView>,
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Outcome<VpcLink> {
    let Some(lb) = lb else {
        return Outcome::waiting(None, "WaitingForLoadBalancer", "needs the NLB");
    };
    match ensure(
        side,
        obj,
        &lb.load_balancer_arn,
        lb.is_active(),
        status,
        journal,
    )
    .await
    {
        Err(e) => Outcome::Failed(e),
        Ok(None) => Outcome::waiting(
            None,
            "WaitingForLoadBalancer",
            "a VPC link needs an active NLB",
        ),
        Ok(Some(l)) if l.status == "AVAILABLE" => {
            let message = format!("{} AVAILABLE", l.id);
            Outcome::done(l, "Available", message)
        }
        Ok(Some(l)) => {
            let message = if l.status == "DELETING" {
                format!("{} is DELETING; a new link is made once it is gone", l.id)
            } else {
                format!("{} is {}", l.id, l.status)
            };
            Outcome::waiting(Some(l), "WaitingForVpcLink", message)
        }
    }
}

/// Ensures the VPC link to `nlb_arn`; records its id and status. `Ok(None)`: there is no link
/// yet and the NLB is not active (AWS fails a link created against a provisioning NLB).
pub async fn ensure(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    nlb_arn: &str,
    nlb_active: bool,
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Result<Option<VpcLink>> {
    let apigw = &side.clients.apigateway;
    // I/O: by status id, else by uid tag (a crash after create), else create.
    let found = apigw
        .find_owned_vpc_link(status.vpc_link_id.as_deref(), &side.owner.uid)
        .await?;
    for extra in &found.extras {
        delete_copy(side, extra, journal).await?;
    }
    let link = match found.keep {
        // A FAILED link never recovers: remove it so the next attempt makes a new one.
        Some(l) if l.status == "FAILED" => {
            apigw.delete_vpc_link(&l.id).await?;
            status.vpc_link_id = None;
            status.vpc_link_status = Some(l.status.clone());
            journal.warning(
                "VpcLinkFailed",
                format!(
                    "VPC link {} FAILED: {}",
                    l.id,
                    l.status_message.clone().unwrap_or_default()
                ),
            );
            return Err(Error::Aws {
                operation: "GetVpcLink",
                account: side.key.account(),
                code: "VpcLinkFailed".into(),
                message: l.status_message.unwrap_or_else(|| "VPC link FAILED".into()),
                class: ErrorClass::Retryable,
            });
        }
        Some(l) => l,
        None if !nlb_active => return Ok(None),
        None => {
            let name = obj.owner_ref().replace('/', "-");
            let repaired = status.vpc_link_id.is_some();
            let l = apigw
                .create_vpc_link(&format!("xapi-{name}"), nlb_arn, side.owner)
                .await?;
            // CreateVpcLink takes no client token: a retry after a lost answer makes a copy.
            for extra in apigw.owned_vpc_links(&side.owner.uid).await? {
                if extra.id != l.id {
                    delete_copy(side, &extra, journal).await?;
                }
            }
            if repaired {
                journal.normal(
                    "RepairedVpcLink",
                    format!("VPC link was gone; created {}", l.id),
                );
            } else {
                journal.normal(
                    "CreatedVpcLink",
                    format!("created VPC link {} to {nlb_arn}", l.id),
                );
            }
            l
        }
    };
    if !link.target_arns.iter().any(|a| a == nlb_arn) {
        return Err(Error::Aws {
            operation: "GetVpcLink",
            account: side.key.account(),
            code: "VpcLinkTargetMismatch".into(),
            message: format!(
                "VPC link {} targets {:?}, not {nlb_arn}; delete it to let the operator make a new one",
                link.id, link.target_arns
            ),
            class: ErrorClass::Terminal,
        });
    }
    status.vpc_link_id = Some(link.id.clone());
    status.vpc_link_status = Some(link.status.clone());
    Ok(Some(link))
}

/// Deletes a second VPC link of the object (left by a create repeated after its lost answer).
async fn delete_copy(side: &Side<'_>, extra: &VpcLink, journal: &Journal) -> Result<()> {
    if extra.status != "DELETING" {
        side.clients.apigateway.delete_vpc_link(&extra.id).await?;
        journal.warning(
            "DeletedDuplicateVpcLink",
            format!(
                "deleted VPC link {}, a second copy of this object's",
                extra.id
            ),
        );
    }
    Ok(())
}
