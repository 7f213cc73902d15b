//! Provider step, once per route: the route's private REST API, created (PRIVATE, the endpoint
//! associated, `GET /health`, tagged with the uid and the route's path) or adopted, its resource
//! policy as DESIGN.md "Ownership" says, and a deployment to the stage whenever the effective
//! configuration changed.

use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Journal, Outcome, Side, config_hash, invoke_url};
use crate::api::{CrossAccountApi, DeploymentStatus, ROUTE_TAG, Route, RouteStatus};
use crate::aws::apigateway::{self, RestApi};
use crate::error::{Error, Result};
use crate::policy;

const HEALTH_BODY: &str = r#"{"status":"ok"}"#;

/// The route a created private API serves, from its route tag (an API made before routes
/// existed has none and serves `/`).
pub fn route_of(api: &RestApi) -> &str {
    api.tags.get(ROUTE_TAG).map(String::as_str).unwrap_or("/")
}

/// The object's created private APIs, listed at most once per reconcile and only when a route
/// needs a look-up by tag (its recorded id is gone, or it has none yet).
#[derive(Default)]
pub struct OwnedApis(OnceCell<Vec<RestApi>>);

impl OwnedApis {
    async fn of_route(&self, side: &Side<'_>, path: &str) -> Result<Vec<RestApi>> {
        let all = self
            .0
            .get_or_try_init(|| {
                side.clients
                    .apigateway
                    .owned_rest_apis(&side.owner.uid, "PRIVATE")
            })
            .await?;
        Ok(all
            .iter()
            .filter(|a| route_of(a) == path)
            .cloned()
            .collect())
    }
}

/// The policy the API should have, given what it has now.
pub fn wanted_policy(adopted: bool, current: Option<&Value>, sid: &str, vpce: &str) -> Value {
    if adopted {
        policy::merge_adopted(current, sid, vpce)
    } else {
        policy::created_policy(vpce)
    }
}

/// What the chain needs from this step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateApiView {
    /// The API id.
    pub id: String,
    /// For an adopted API: what its TLS settings mean for the chain.
    pub posture: Option<String>,
}

/// Refuses an adopted API the chain cannot reach, and says what its TLS settings mean.
pub fn adopted_posture(api: &RestApi, field: &str) -> Result<Option<String>> {
    if api.execute_api_disabled {
        return Err(Error::InvalidSpec {
            field: format!("{field}.id"),
            message: format!(
                "REST API {} has disableExecuteApiEndpoint: true; the edge's integration calls it by its execute-api name, so enable that endpoint",
                api.id
            ),
        });
    }
    let mut notes = Vec::new();
    if let Some(policy) = &api.security_policy {
        notes.push(format!(
            "securityPolicy {policy} sets the TLS versions it accepts from the edge's integration"
        ));
    }
    if let Some(mode) = &api.endpoint_access_mode {
        notes.push(format!(
            "endpointAccessMode {mode}{}",
            if mode == "STRICT" {
                ": requests must come through its VPC endpoint by its own execute-api name, as the edge's integration sends them"
            } else {
                ""
            }
        ));
    }
    Ok((!notes.is_empty()).then(|| notes.join("; ")))
}

/// The step for one route (its part of `PrivateApiReady`): needs the endpoint's id (known
/// while it is still pending; the policy can name it).
pub async fn step(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    route: &Route<'_>,
    vpce: Option<&str>,
    owned: &OwnedApis,
    status: &mut RouteStatus,
    journal: &Journal,
) -> Outcome<PrivateApiView> {
    let Some(vpce) = vpce else {
        return Outcome::waiting(None, "WaitingForEndpoint", "needs the VPC endpoint's id");
    };
    match ensure(side, obj, route, vpce, owned, status, journal).await {
        Err(e) => Outcome::Failed(e),
        Ok(api) => {
            let message = match &api.posture {
                Some(posture) => format!(
                    "{} deployed with a policy pinning the endpoint; {posture}",
                    api.id
                ),
                None => format!("{} deployed with a policy pinning the endpoint", api.id),
            };
            Outcome::done(api, "Deployed", message)
        }
    }
}

/// Ensures the route's API, its policy and its deployment.
pub async fn ensure(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    route: &Route<'_>,
    vpce: &str,
    owned: &OwnedApis,
    status: &mut RouteStatus,
    journal: &Journal,
) -> Result<PrivateApiView> {
    let spec = route.private_api;
    let apigw = &side.clients.apigateway;
    let adopted = spec.id.is_some();
    let sid = policy::statement_sid(&side.owner.uid);
    let id_field = || format!("{}.id", route.field);

    // I/O: find or create the API.
    let mut posture = None;
    let api = match &spec.id {
        Some(id) => {
            let api = apigw
                .get_rest_api(id)
                .await?
                .ok_or_else(|| Error::InvalidSpec {
                    field: id_field(),
                    message: format!("REST API {id} does not exist in the provider account"),
                })?;
            if !api.endpoint_types.iter().any(|t| t == "PRIVATE") {
                return Err(Error::InvalidSpec {
                    field: id_field(),
                    message: format!("REST API {id} is {:?}, not PRIVATE", api.endpoint_types),
                });
            }
            posture = adopted_posture(&api, &route.field)?;
            if status.private_api_id.as_deref() != Some(id) {
                journal.normal(
                    "AdoptedPrivateApi",
                    format!("adopted private REST API {id} for route {}", route.path),
                );
            }
            api
        }
        None => find_or_create(side, obj, route, vpce, owned, status, journal).await?,
    };
    status.private_api_id = Some(api.id.clone());

    let mut changed = false;
    if !adopted {
        changed |= ensure_endpoint_association(side, &api, vpce, journal).await?;
    }

    // Policy: compare by meaning, write only a difference.
    let current = api.policy.as_deref().and_then(policy::parse_stored);
    // Decided once, before the first merge: was the endpoint already in the owner's deny-list?
    if adopted
        && !current
            .as_ref()
            .is_some_and(|c| policy::has_statement(c, &sid))
    {
        status.added_to_deny_list = Some(
            current
                .as_ref()
                .is_some_and(|c| policy::merge_extends_deny_list(c, vpce)),
        );
    }
    let wanted = wanted_policy(adopted, current.as_ref(), &sid, vpce);
    let size = wanted.to_string().chars().count();
    if size > crate::limits::RESOURCE_POLICY_MAX {
        return Err(Error::InvalidSpec {
            field: id_field(),
            message: format!(
                "the resource policy of {} with the operator's statement would be {size} characters; API Gateway allows {}",
                api.id,
                crate::limits::RESOURCE_POLICY_MAX
            ),
        });
    }
    if current
        .as_ref()
        .is_none_or(|c| !policy::same_meaning(c, &wanted))
    {
        apigw
            .update_rest_api(
                &api.id,
                vec![apigateway::replace("/policy", wanted.to_string())],
            )
            .await?;
        journal.normal(
            "UpdatedPolicy",
            format!("resource policy of {} now admits {vpce}", api.id),
        );
        changed = true;
    }

    // Deployment: only when the effective configuration changed, or the stage lost ours.
    let hash = config_hash(&(policy::normalize(&wanted), adopted, &spec.stage_name));
    let deployed_id = apigw.stage_deployment(&api.id, &spec.stage_name).await?;
    let recorded = status.deployment.as_ref();
    let up_to_date = !changed
        && recorded.is_some_and(|d| {
            d.config_hash == hash && deployed_id.as_deref() == Some(d.id.as_str())
        });
    if !up_to_date {
        // The created API's resources are read only on the way to a deployment. Until then its
        // stage serves the operator's last deployment, made right after the last check, and an
        // edit by hand reaches traffic only through a deployment, which changes the stage.
        if !adopted {
            ensure_health_route(side, &api.id, journal).await?;
        }
        let id = apigw
            .deploy(
                &api.id,
                &spec.stage_name,
                &format!("cross-account-api-operator {hash}"),
            )
            .await?;
        let note = if adopted {
            format!(
                "deployed adopted API {} as it stands to stage {} so that the policy change takes effect",
                api.id, spec.stage_name
            )
        } else {
            format!("deployed {} to stage {}", api.id, spec.stage_name)
        };
        journal.normal("DeployedPrivateApi", note);
        status.deployment = Some(DeploymentStatus {
            id,
            config_hash: hash,
        });
    }
    if !adopted {
        remove_old_stage(side, &api.id, &spec.stage_name, status).await?;
    }
    status.private_api_invoke_url = Some(invoke_url(
        &api.id,
        &obj.spec.provider.region,
        &spec.stage_name,
    ));
    Ok(PrivateApiView {
        id: api.id,
        posture,
    })
}

/// The route's created API: the recorded one if it still carries the uid, else the one tagged
/// with the uid and the route (a crash between create and status), else a new one. Copies left
/// by a create repeated after its lost answer go.
async fn find_or_create(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    route: &Route<'_>,
    vpce: &str,
    owned: &OwnedApis,
    status: &RouteStatus,
    journal: &Journal,
) -> Result<RestApi> {
    let apigw = &side.clients.apigateway;
    let ours = |a: &RestApi| {
        a.tags.get(crate::api::UID_TAG) == Some(&side.owner.uid)
            && a.endpoint_types.iter().any(|t| t == "PRIVATE")
            && route_of(a) == route.path
    };
    if let Some(id) = &status.private_api_id
        && let Some(api) = apigw.get_rest_api(id).await?
        && ours(&api)
    {
        return Ok(api);
    }
    let mut found = owned.of_route(side, route.path).await?;
    if !found.is_empty() {
        let keep = found.remove(0);
        super::delete_rest_api_copies(side, &keep.id, found, journal).await?;
        return Ok(keep);
    }
    let policy = policy::created_policy(vpce).to_string();
    let api = apigw
        .create_rest_api(
            &obj.private_api_name(route),
            "PRIVATE",
            &[vpce.to_string()],
            Some(policy),
            side.owner,
            &[(ROUTE_TAG, route.path.to_string())],
        )
        .await?;
    let copies = apigw
        .owned_rest_apis(&side.owner.uid, "PRIVATE")
        .await?
        .into_iter()
        .filter(|a| route_of(a) == route.path)
        .collect();
    super::delete_rest_api_copies(side, &api.id, copies, journal).await?;
    journal.normal(
        "CreatedPrivateApi",
        format!(
            "created private REST API {} ({}) for route {}",
            api.id, api.name, route.path
        ),
    );
    Ok(api)
}

/// A created API lists our endpoint in `endpointConfiguration.vpcEndpointIds`.
async fn ensure_endpoint_association(
    side: &Side<'_>,
    api: &RestApi,
    vpce: &str,
    journal: &Journal,
) -> Result<bool> {
    if api.vpc_endpoint_ids.iter().any(|id| id == vpce) {
        return Ok(false);
    }
    side.clients
        .apigateway
        .update_rest_api(
            &api.id,
            vec![apigateway::add(
                "/endpointConfiguration/vpcEndpointIds",
                vpce,
            )],
        )
        .await?;
    journal.normal(
        "ChangedPrivateApi",
        format!("associated {vpce} with private REST API {}", api.id),
    );
    Ok(true)
}

/// What is missing of `GET /health` (method, MOCK integration, 200 method response, 200
/// integration response), in the order it must be made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthRoutePlan {
    /// PutMethod.
    pub method: bool,
    /// PutIntegration (MOCK).
    pub integration: bool,
    /// PutMethodResponse 200.
    pub method_response: bool,
    /// PutIntegrationResponse 200.
    pub integration_response: bool,
}

impl HealthRoutePlan {
    /// What to make, given what `GetMethod` showed. A half-made route (a crash between two of
    /// its calls) is completed: API Gateway refuses to deploy a method without an integration.
    pub fn for_setup(setup: Option<&apigateway::MethodSetup>) -> Self {
        let Some(s) = setup else {
            return HealthRoutePlan {
                method: true,
                integration: true,
                method_response: true,
                integration_response: true,
            };
        };
        let mock = s.integration_kind.as_deref() == Some("MOCK");
        HealthRoutePlan {
            method: false,
            integration: !mock,
            method_response: !s.method_responses.iter().any(|c| c == "200"),
            integration_response: !mock || !s.integration_responses.iter().any(|c| c == "200"),
        }
    }

    /// Nothing to make.
    pub fn is_empty(&self) -> bool {
        *self == HealthRoutePlan::default()
    }
}

/// `GET /health` answering 200 `{"status":"ok"}` from a MOCK integration: API Gateway will not
/// deploy an API without methods.
async fn ensure_health_route(side: &Side<'_>, api_id: &str, journal: &Journal) -> Result<bool> {
    let apigw = &side.clients.apigateway;
    let resources = apigw.resources(api_id).await?;
    let existing = resources.iter().find(|r| r.path == "/health");
    let setup = match existing {
        Some(r) => apigw.whole_method(api_id, r, "GET").await?.map(|m| m.setup),
        None => None,
    };
    let plan = HealthRoutePlan::for_setup(setup.as_ref());
    if plan.is_empty() {
        return Ok(false);
    }
    let resource_id = match existing {
        Some(r) => r.id.clone(),
        None => {
            let root =
                resources
                    .iter()
                    .find(|r| r.path == "/")
                    .ok_or_else(|| Error::Unexpected {
                        operation: "GetResources",
                        account: side.key.account(),
                        detail: format!("API {api_id} has no root resource"),
                    })?;
            apigw.create_resource(api_id, &root.id, "health").await?
        }
    };
    if plan.method {
        let open = apigateway::Method {
            authorization_type: "NONE".into(),
            ..Default::default()
        };
        apigw.put_method(api_id, &resource_id, "GET", &open).await?;
    }
    if plan.integration {
        apigw
            .put_mock_integration(api_id, &resource_id, "GET")
            .await?;
    }
    if plan.method_response {
        apigw
            .put_method_response_200(api_id, &resource_id, "GET")
            .await?;
    }
    if plan.integration_response {
        apigw
            .put_integration_response_200(api_id, &resource_id, "GET", HEALTH_BODY)
            .await?;
    }
    let verb = if plan.method {
        "CreatedHealthRoute"
    } else {
        "RepairedHealthRoute"
    };
    journal.normal(verb, format!("GET /health on {api_id}: {plan:?}"));
    Ok(true)
}

/// After a stage rename, a created API drops the stage it had before.
async fn remove_old_stage(
    side: &Side<'_>,
    api_id: &str,
    stage: &str,
    status: &RouteStatus,
) -> Result<()> {
    let previous = status
        .private_api_invoke_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next());
    if let Some(previous) = previous
        && previous != stage
    {
        side.clients
            .apigateway
            .delete_stage(api_id, previous)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn adopted(disabled: bool, policy: Option<&str>, mode: Option<&str>) -> RestApi {
        RestApi {
            id: "a1b2c3d4e5".into(),
            name: "team".into(),
            policy: None,
            endpoint_types: vec!["PRIVATE".into()],
            vpc_endpoint_ids: vec![],
            tags: Default::default(),
            execute_api_disabled: disabled,
            security_policy: policy.map(str::to_string),
            endpoint_access_mode: mode.map(str::to_string),
        }
    }

    #[test]
    fn adopted_api_posture() {
        let refused = adopted_posture(&adopted(true, None, None), "spec.provider.privateApi");
        assert!(
            matches!(&refused, Err(Error::InvalidSpec { field, message }) if *field == "spec.provider.privateApi.id" && message.contains("disableExecuteApiEndpoint")),
            "{refused:?}"
        );
        assert_eq!(
            adopted_posture(&adopted(false, None, None), "spec.routes[1].privateApi").ok(),
            Some(None)
        );
        let strict = adopted_posture(
            &adopted(
                false,
                Some("SecurityPolicy_TLS13_1_3_2025_09"),
                Some("STRICT"),
            ),
            "spec.provider.privateApi",
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        assert!(
            strict.contains("SecurityPolicy_TLS13_1_3_2025_09") && strict.contains("STRICT:"),
            "{strict}"
        );
    }

    #[test]
    fn half_made_health_route_is_completed() {
        use apigateway::MethodSetup;
        let all = HealthRoutePlan::for_setup(None);
        assert!(all.method && all.integration && all.method_response && all.integration_response);
        let bare = MethodSetup::default();
        let plan = HealthRoutePlan::for_setup(Some(&bare));
        assert!(!plan.method && plan.integration && plan.method_response);
        let mock_only = MethodSetup {
            integration_kind: Some("MOCK".into()),
            method_responses: vec!["200".into()],
            integration_responses: vec![],
        };
        let plan = HealthRoutePlan::for_setup(Some(&mock_only));
        assert_eq!(
            plan,
            HealthRoutePlan {
                integration_response: true,
                ..Default::default()
            }
        );
        let whole = MethodSetup {
            integration_kind: Some("MOCK".into()),
            method_responses: vec!["200".into()],
            integration_responses: vec!["200".into()],
        };
        assert!(HealthRoutePlan::for_setup(Some(&whole)).is_empty());
    }

    #[test]
    fn created_api_gets_whole_policy_adopted_gets_merge() {
        let existing = json!({"Statement": [{"Sid": "Team", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]});
        let created = wanted_policy(false, Some(&existing), "Xapi1", "vpce-0bbbbbbbbbbbbbbbb");
        assert!(policy::same_meaning(
            &created,
            &policy::created_policy("vpce-0bbbbbbbbbbbbbbbb")
        ));
        let adopted = wanted_policy(true, Some(&existing), "Xapi1", "vpce-0bbbbbbbbbbbbbbbb");
        assert_eq!(adopted["Statement"][0]["Sid"], json!("Team"));
        assert_eq!(adopted["Statement"][1]["Sid"], json!("Xapi1"));
    }
}
