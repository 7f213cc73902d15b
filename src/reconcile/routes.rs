//! The routes of the edge: each is one private API behind one path (the short form is one
//! route at `/`). A route's private API, its part of the edge and its probe are steps of their
//! own, so one broken route holds no other back; a route gone from the spec is retired (its
//! private API deleted, or the operator's statement taken off an adopted one) only once the
//! edge no longer serves it.

use super::private_api::{self, PrivateApiView};
use super::regional_api::Backend;
use super::{Journal, Outcome, Side};
use crate::api::{CrossAccountApi, Route, RouteStatus, UID_TAG};
use crate::aws::apigateway;
use crate::conditions::StepCondition;
use crate::error::{Error, Result};
use crate::policy;

/// One status per route of the spec, carrying what the last status recorded for its path.
pub fn starting_statuses(routes: &[Route<'_>], old: &[RouteStatus]) -> Vec<RouteStatus> {
    routes
        .iter()
        .map(|r| {
            let recorded = old.iter().find(|o| o.path == r.path).cloned();
            let mut status = recorded.unwrap_or_default();
            status.path = r.path.to_string();
            // Another adopted API at the same path (a switch between the spec's two forms):
            // what was recorded belongs to the API that is retired.
            if r.private_api.id.is_some() && status.private_api_id != r.private_api.id {
                status = RouteStatus {
                    path: r.path.to_string(),
                    ..Default::default()
                };
            }
            status
        })
        .collect()
}

/// Recorded routes whose private API no route uses any more: paths gone from the spec, and an
/// API replaced at the same path.
pub fn retiring(old: &[RouteStatus], current: &[RouteStatus]) -> Vec<RouteStatus> {
    old.iter()
        .filter(|o| o.private_api_id.is_some())
        .filter(|o| match current.iter().find(|c| c.path == o.path) {
            None => true,
            Some(c) => c.private_api_id.is_some() && c.private_api_id != o.private_api_id,
        })
        .cloned()
        .collect()
}

/// What the edge serves: each route whose private API is done (an id and a deployed stage);
/// the paths of the other routes, whose edge resources stay as they are meanwhile.
pub fn backends<'r>(
    obj: &CrossAccountApi,
    routes: &'r [Route<'_>],
    privates: &[Outcome<PrivateApiView>],
) -> (Vec<Backend>, Vec<&'r str>) {
    let mut served = Vec::new();
    let mut kept = Vec::new();
    for (route, private) in routes.iter().zip(privates) {
        match private.done_value() {
            Some(api) => served.push(Backend {
                prefix: route.path.to_string(),
                private_api_id: api.id.clone(),
                region: obj.spec.provider.region.clone(),
                stage: route.private_api.stage_name.clone(),
                strip_prefix: route.strip_prefix,
            }),
            None => kept.push(route.path),
        }
    }
    (served, kept)
}

/// One condition over the routes' parts: the part itself for a single route; else done when
/// every route is, with `k/n routes ready` and each route's reason when not.
pub fn summary(type_: &'static str, parts: &[(&str, StepCondition)]) -> StepCondition {
    if let [(_, only)] = parts {
        return StepCondition {
            type_,
            ..only.clone()
        };
    }
    let ready = parts.iter().filter(|(_, c)| c.ready).count();
    match parts.iter().find(|(_, c)| !c.ready) {
        None => StepCondition::ready(
            type_,
            parts
                .first()
                .map(|(_, c)| c.reason.as_str())
                .unwrap_or("Ready"),
            format!(
                "{ready}/{} routes ready: {}",
                parts.len(),
                parts
                    .iter()
                    .map(|(path, c)| format!("{path}: {}", c.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        Some((_, first)) => StepCondition::not_ready(
            type_,
            first.reason.clone(),
            format!(
                "{ready}/{} routes ready; {}",
                parts.len(),
                parts
                    .iter()
                    .filter(|(_, c)| !c.ready)
                    .map(|(path, c)| format!("{path}: {} {}", c.reason, c.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    }
}

/// The edge URL of a route: the stage's URL, with the path for any route but `/`.
pub fn route_invoke_url(edge_url: &str, path: &str) -> String {
    if path == "/" {
        edge_url.to_string()
    } else {
        format!("{edge_url}{path}")
    }
}

/// Retires what the edge no longer serves (call only once the edge is deployed without it):
/// each retiring route's private API, and created APIs carrying the uid that no route uses
/// (made by a create whose route left the spec before its id was recorded; listed only when
/// the spec changed since the last status). Returns the routes not yet retired.
pub async fn retire(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    retiring: Vec<RouteStatus>,
    in_use: &[RouteStatus],
    journal: &Journal,
) -> (Vec<RouteStatus>, Option<Error>) {
    let mut left = Vec::new();
    let mut error = None;
    for route in retiring {
        // Another route may serve the same adopted API.
        if in_use
            .iter()
            .any(|r| r.private_api_id == route.private_api_id)
        {
            continue;
        }
        match release(side, obj, &route, journal).await {
            Ok(()) => {}
            Err(e) => {
                error.get_or_insert(e);
                left.push(RouteStatus {
                    ready: false,
                    reason: Some("Removing".into()),
                    message: Some(
                        "its private API is released once the edge no longer serves it".into(),
                    ),
                    ..route
                });
            }
        }
    }
    let spec_changed =
        obj.status.as_ref().and_then(|s| s.observed_generation) != obj.metadata.generation;
    if spec_changed
        && error.is_none()
        && let Err(e) = delete_unused(side, obj, in_use, journal).await
    {
        error = Some(e);
    }
    (left, error)
}

/// Gives a route's private API back: a created one (carrying the uid) is deleted; an adopted
/// one loses exactly what the operator added to its policy and is redeployed to the route's
/// stage so that the change takes effect. One already gone counts as released.
pub async fn release(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    route: &RouteStatus,
    journal: &Journal,
) -> Result<()> {
    let apigw = &side.clients.apigateway;
    let Some(id) = route.private_api_id.as_deref() else {
        return Ok(());
    };
    let Some(api) = apigw.get_rest_api(id).await? else {
        return Ok(());
    };
    if api.tags.get(UID_TAG) == Some(&side.owner.uid) {
        apigw.delete_rest_api(id).await?;
        journal.normal(
            "DeletedPrivateApi",
            format!("deleted private REST API {id} of route {}", route.path),
        );
        return Ok(());
    }
    let Some(current) = api.policy.as_deref().and_then(policy::parse_stored) else {
        return Ok(());
    };
    let vpce = obj
        .status
        .as_ref()
        .and_then(|s| s.provider.as_ref())
        .and_then(|p| p.vpc_endpoint_id.clone())
        .or_else(|| obj.spec.provider.vpc_endpoint_id.clone())
        .unwrap_or_default();
    // The endpoint leaves the deny-list only if the operator put it there (unrecorded: it did
    // if it made the endpoint).
    let added = route
        .added_to_deny_list
        .unwrap_or(obj.spec.provider.vpc_endpoint_id.is_none());
    let sid = policy::statement_sid(&side.owner.uid);
    let stripped = policy::strip_adopted(&current, &sid, &vpce, added);
    if policy::same_meaning(&stripped, &current) {
        return Ok(());
    }
    apigw
        .update_rest_api(
            id,
            vec![apigateway::replace("/policy", stripped.to_string())],
        )
        .await?;
    if let Some(stage) = route
        .private_api_invoke_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next())
    {
        apigw
            .deploy(
                id,
                stage,
                "cross-account-api-operator: removed its statement",
            )
            .await?;
    }
    journal.normal(
        "RestoredPolicy",
        format!("removed the operator's statement from {id} and redeployed it"),
    );
    Ok(())
}

/// Deletes created private APIs carrying the uid that no route of the spec uses.
async fn delete_unused(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    in_use: &[RouteStatus],
    journal: &Journal,
) -> Result<()> {
    let apigw = &side.clients.apigateway;
    let created_paths: Vec<String> = obj
        .routes()
        .iter()
        .filter(|r| r.creates_api())
        .map(|r| r.path.to_string())
        .collect();
    for api in apigw.owned_rest_apis(&side.owner.uid, "PRIVATE").await? {
        let used = in_use
            .iter()
            .any(|r| r.private_api_id.as_deref() == Some(api.id.as_str()));
        // A route of the spec whose id is not recorded yet adopts it on its next look-up.
        let awaited = created_paths
            .iter()
            .any(|p| p == private_api::route_of(&api));
        if !used && !awaited {
            apigw.delete_rest_api(&api.id).await?;
            journal.normal(
                "DeletedPrivateApi",
                format!("deleted private REST API {}, used by no route", api.id),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(path: &str, id: Option<&str>) -> RouteStatus {
        RouteStatus {
            path: path.into(),
            private_api_id: id.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn routes_gone_or_replaced_retire() {
        let old = [
            status("/orders", Some("a")),
            status("/payments", Some("b")),
            status("/", Some("c")),
            status("/new", None),
        ];
        let current = [status("/orders", Some("a")), status("/", Some("d"))];
        let gone: Vec<_> = retiring(&old, &current)
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(gone, ["/payments", "/"]);
        // A route whose API is not known yet retires nothing.
        assert!(retiring(&old[..1], &[status("/orders", None)]).is_empty());
    }

    #[test]
    fn one_route_keeps_its_condition_several_are_summarised() {
        let ok = StepCondition::ready("x", "Deployed", "a1 deployed");
        let bad = StepCondition::not_ready("x", "AccessDenied", "not allowed");
        let one = summary("PrivateApiReady", &[("/", bad.clone())]);
        assert_eq!(one.type_, "PrivateApiReady");
        assert_eq!(one.message, "not allowed");
        let two = summary(
            "PrivateApiReady",
            &[
                ("/orders", ok.clone()),
                ("/payments", bad),
                ("/", ok.clone()),
            ],
        );
        assert!(!two.ready);
        assert_eq!(two.reason, "AccessDenied");
        assert_eq!(
            two.message,
            "2/3 routes ready; /payments: AccessDenied not allowed"
        );
        let all = summary("PrivateApiReady", &[("/orders", ok.clone()), ("/", ok)]);
        assert!(
            all.ready
                && all
                    .message
                    .starts_with("2/2 routes ready: /orders: a1 deployed")
        );
    }

    #[test]
    fn route_urls() {
        let edge = "https://z9.execute-api.us-east-1.amazonaws.com/prod";
        assert_eq!(route_invoke_url(edge, "/"), edge);
        assert_eq!(
            route_invoke_url(edge, "/orders"),
            "https://z9.execute-api.us-east-1.amazonaws.com/prod/orders"
        );
    }
}
