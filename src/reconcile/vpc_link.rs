//! Consumer step: the REST VPC link to the NLB. Its id is known at creation, while it is still
//! PENDING, so the integrations need not wait for AVAILABLE.

use std::time::Duration;

use super::load_balancer::LoadBalancerView;
use super::{Busy, Journal, Outcome, Side};
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

/// How often a link waiting for its NLB looks at it again while the reconcile is still at work.
const NLB_POLL_WHILE_BUSY: Duration = Duration::from_millis(500);

/// The step, looked at again while the reconcile's other branches are still at work (in a
/// quota's queue, say) and the link waits only for its NLB to become active: the link is made as
/// soon as the NLB is, not at the object's next reconcile. The NLB's state comes from the
/// account's shared list, so many objects waiting cost one list read per poll.
pub async fn step_while_busy(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    mut lb: Result<LoadBalancerView>,
    status: &mut ConsumerStatus,
    journal: &Journal,
    busy: &Busy,
) -> (Result<LoadBalancerView>, Outcome<VpcLink>) {
    let mut link = step(side, obj, lb.as_ref().ok(), status, journal).await;
    loop {
        let waits_for_nlb = matches!(
            (&link, &lb),
            (Outcome::Waiting { value: None, .. }, Ok(view)) if !view.is_active()
        );
        if !waits_for_nlb || !busy.pause(NLB_POLL_WHILE_BUSY).await {
            return (lb, link);
        }
        let Ok(view) = &lb else {
            return (lb, link);
        };
        // A failed look keeps what the reconcile saw: the next one reads it all again.
        let Ok(fresh) = super::load_balancer::refreshed(side, view).await else {
            continue;
        };
        // Only an NLB that became active changes what the link step would do.
        let active = fresh.is_active();
        lb = Ok(fresh);
        if active {
            link = step(side, obj, lb.as_ref().ok(), status, journal).await;
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
    // I/O: every link with the uid (one read: AWS allows 20 links per account and region), so
    // that a failed link left behind and copies from lost answers are always seen. The one kept:
    // the recorded one, else one that has not failed (a crash after create), else create.
    let mut all = apigw.owned_vpc_links(&side.owner.uid).await?;
    let kept_at = all
        .iter()
        .position(|l| status.vpc_link_id.as_ref() == Some(&l.id))
        .or_else(|| all.iter().position(|l| l.status != "FAILED"))
        .or((!all.is_empty()).then_some(0));
    let found = kept_at.map(|i| all.remove(i));
    for extra in &all {
        delete_copy(side, extra, journal).await?;
    }
    let kept = match found {
        // A FAILED link never recovers: it goes, and a new one is made.
        Some(l) if l.status == "FAILED" => {
            let why = l
                .status_message
                .clone()
                .unwrap_or_else(|| "VPC link FAILED".into());
            journal.warning("VpcLinkFailed", format!("VPC link {} FAILED: {why}", l.id));
            status.vpc_link_status = Some(l.status.clone());
            match apigw.delete_vpc_link(&l.id).await {
                Ok(()) => {
                    status.vpc_link_id = None;
                    return Err(Error::Aws {
                        operation: "GetVpcLink",
                        account: side.key.account(),
                        code: "VpcLinkFailed".into(),
                        message: why,
                        class: ErrorClass::Retryable,
                    });
                }
                // The edge's integrations name it (they are set while a link is PENDING):
                // a new link first; the failed one goes once the integrations moved.
                Err(e) if e.class() == ErrorClass::InUse => None,
                Err(e) => return Err(e),
            }
        }
        other => other,
    };
    let link = match kept {
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
        match side.clients.apigateway.delete_vpc_link(&extra.id).await {
            // Still named by an integration being moved to the object's link: next time.
            Err(e) if e.class() == ErrorClass::InUse => return Ok(()),
            other => other?,
        }
        if extra.status == "FAILED" {
            journal.normal(
                "DeletedFailedVpcLink",
                format!("deleted failed VPC link {}", extra.id),
            );
        } else {
            journal.warning(
                "DeletedDuplicateVpcLink",
                format!(
                    "deleted VPC link {}, a second copy of this object's",
                    extra.id
                ),
            );
        }
    }
    Ok(())
}
