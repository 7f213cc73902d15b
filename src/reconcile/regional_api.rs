//! Consumer step: the regional REST API, its optional Lambda authorizer, each route's
//! `ANY /<path>` and `ANY /<path>/{proxy+}` with HTTP_PROXY integrations over the VPC link, and a
//! deployment whenever the effective configuration changed.
//!
//! Every route of the object is one [`Backend`] on the one edge: its two resources, methods
//! and integrations; the edge is deployed once per change, whatever the number of routes.

use std::collections::HashMap;

use serde::Serialize;

use super::{Journal, Outcome, Side, config_hash, invoke_url};
use crate::api::{
    AuthorizerSpec, AuthorizerType, ConsumerStatus, CrossAccountApi, DeploymentStatus,
};
use crate::aws::apigateway::{self, Authorizer, Integration, Method, RestApi, VpcLink};
use crate::aws::lambda::Function;
use crate::error::{Error, Result};

/// Name of the operator's authorizer on the regional API.
pub const AUTHORIZER_NAME: &str = "xapi-authorizer";

/// One private API served behind the edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The route's path on the edge: `/` or `/orders`.
    pub prefix: String,
    /// The private API id.
    pub private_api_id: String,
    /// Its region.
    pub region: String,
    /// Its stage.
    pub stage: String,
    /// Whether the private API receives the path without the prefix.
    pub strip_prefix: bool,
}

/// One method on one resource, as it should be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    /// Resource path, e.g. `/{proxy+}`.
    pub path: String,
    /// Authorization (NONE or CUSTOM) and required parameters.
    #[serde(serialize_with = "ser_method")]
    pub method: Method,
    /// The HTTP_PROXY integration.
    #[serde(serialize_with = "ser_integration")]
    pub integration: Integration,
}

fn ser_method<S: serde::Serializer>(m: &Method, s: S) -> std::result::Result<S::Ok, S::Error> {
    let params: std::collections::BTreeMap<_, _> = m.request_parameters.iter().collect();
    (&m.authorization_type, &m.authorizer_id, params).serialize(s)
}

fn ser_integration<S: serde::Serializer>(
    i: &Integration,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let params: std::collections::BTreeMap<_, _> = i.request_parameters.iter().collect();
    (
        &i.kind,
        &i.http_method,
        &i.uri,
        &i.connection_type,
        &i.connection_id,
        params,
    )
        .serialize(s)
}

/// The routes of one backend: `ANY <prefix>` and `ANY <prefix>{proxy+}`, each an HTTP_PROXY
/// over the VPC link to the private API's own execute-api name (which sets Host, SNI and the
/// certificate check), with the static `x-apigw-api-id` header.
pub fn routes(backend: &Backend, vpc_link_id: &str, authorizer_id: Option<&str>) -> Vec<Route> {
    let prefix = if backend.prefix.ends_with('/') {
        backend.prefix.clone()
    } else {
        format!("{}/", backend.prefix)
    };
    let kept = if backend.strip_prefix {
        "/"
    } else {
        prefix.as_str()
    };
    let base = format!(
        "https://{}/{}{kept}",
        crate::partition::execute_api_host(&backend.private_api_id, &backend.region),
        backend.stage
    );
    let header = (
        "integration.request.header.x-apigw-api-id".to_string(),
        format!("'{}'", backend.private_api_id),
    );
    let method = |proxy: bool| Method {
        authorization_type: if authorizer_id.is_some() {
            "CUSTOM"
        } else {
            "NONE"
        }
        .into(),
        authorizer_id: authorizer_id.map(str::to_string),
        request_parameters: if proxy {
            HashMap::from([("method.request.path.proxy".to_string(), true)])
        } else {
            HashMap::new()
        },
    };
    let integration = |uri: String, proxy: bool| {
        let mut params = HashMap::from([header.clone()]);
        if proxy {
            params.insert(
                "integration.request.path.proxy".into(),
                "method.request.path.proxy".into(),
            );
        }
        Integration {
            kind: "HTTP_PROXY".into(),
            http_method: Some("ANY".into()),
            uri: Some(uri),
            connection_type: Some("VPC_LINK".into()),
            connection_id: Some(vpc_link_id.to_string()),
            request_parameters: params,
        }
    };
    let root_uri = if backend.strip_prefix || prefix == "/" {
        base.clone()
    } else {
        base.trim_end_matches('/').to_string()
    };
    vec![
        Route {
            path: root_path(&prefix),
            method: method(false),
            integration: integration(root_uri, false),
        },
        Route {
            path: format!("{prefix}{{proxy+}}"),
            method: method(true),
            integration: integration(format!("{base}{{proxy}}"), true),
        },
    ]
}

fn root_path(prefix: &str) -> String {
    if prefix == "/" {
        "/".into()
    } else {
        prefix.trim_end_matches('/').to_string()
    }
}

/// The authorizer the spec asks for.
pub fn wanted_authorizer(spec: &AuthorizerSpec, region: &str) -> Authorizer {
    let partition = crate::partition::arn_partition(region);
    Authorizer {
        id: String::new(),
        name: AUTHORIZER_NAME.into(),
        kind: match spec.type_ {
            AuthorizerType::Token => "TOKEN",
            AuthorizerType::Request => "REQUEST",
        }
        .into(),
        uri: format!(
            "arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{}/invocations",
            spec.lambda_arn
        ),
        identity_source: spec
            .identity_source
            .clone()
            .unwrap_or_else(|| "method.request.header.Authorization".into()),
        ttl_seconds: spec.result_ttl_seconds.unwrap_or(300),
    }
}

/// Patch operations that bring a method to `wanted`.
pub fn method_patch(current: &Method, wanted: &Method) -> Vec<apigateway::PatchOperation> {
    let mut ops = Vec::new();
    if current.authorization_type != wanted.authorization_type {
        ops.push(apigateway::replace(
            "/authorizationType",
            &wanted.authorization_type,
        ));
    }
    // UpdateMethod documents `replace` for both paths. The authorizer id matters only with
    // CUSTOM: API Gateway may keep a stale id on a NONE method, and chasing it would loop.
    if wanted.authorization_type == "CUSTOM"
        && current.authorizer_id != wanted.authorizer_id
        && let Some(id) = &wanted.authorizer_id
    {
        ops.push(apigateway::replace("/authorizerId", id));
    }
    for (name, required) in &wanted.request_parameters {
        if current.request_parameters.get(name) != Some(required) {
            ops.push(apigateway::add(
                &format!("/requestParameters/{name}"),
                required.to_string(),
            ));
        }
    }
    ops
}

/// The regional API as the routes need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeApi {
    /// API id.
    pub id: String,
    /// The operator's authorizer, when the spec asks for one.
    pub authorizer_id: Option<String>,
    /// Whether the authorizer was created, changed or is to be removed in this reconcile.
    pub authorizer_changed: bool,
    /// The operator's authorizer that the spec no longer asks for, removed once unused.
    pub stale_authorizer_id: Option<String>,
}

/// Ensures the API itself (its id recorded in `regional_api_id`) and its authorizer.
pub async fn ensure_api(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    regional_api_id: &mut Option<String>,
    journal: &Journal,
) -> Result<EdgeApi> {
    let apigw = &side.clients.apigateway;
    // I/O: by status id (checking the tag), else by uid tag, else create.
    let api = super::owned_rest_api(side, regional_api_id.as_deref(), "REGIONAL", journal).await?;
    let api: RestApi = match api {
        Some(a) => a,
        None => {
            let a = apigw
                .create_rest_api(
                    &obj.regional_api_name(),
                    "REGIONAL",
                    &[],
                    None,
                    side.owner,
                    &[],
                )
                .await?;
            super::delete_extra_rest_apis(side, &a.id, "REGIONAL", journal).await?;
            journal.normal(
                "CreatedRegionalApi",
                format!("created regional REST API {} ({})", a.id, a.name),
            );
            a
        }
    };
    *regional_api_id = Some(api.id.clone());
    let (authorizer_id, stale_authorizer_id, authorizer_changed) =
        ensure_authorizer(side, obj, &api.id, journal).await?;
    Ok(EdgeApi {
        id: api.id,
        authorizer_id,
        authorizer_changed,
        stale_authorizer_id,
    })
}

/// Returns (wanted authorizer id, stale authorizer id, changed).
async fn ensure_authorizer(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    api_id: &str,
    journal: &Journal,
) -> Result<(Option<String>, Option<String>, bool)> {
    let apigw = &side.clients.apigateway;
    let wanted = obj
        .spec
        .consumer
        .regional_api
        .authorizer
        .as_ref()
        .map(|a| wanted_authorizer(a, &obj.spec.consumer.region));
    // A Ready object's stale authorizer went when its spec last changed (it was not Ready
    // before): a resync without one has nothing to look for.
    if wanted.is_none() && obj.was_ready() {
        return Ok((None, None, false));
    }
    if let Some(spec) = &obj.spec.consumer.regional_api.authorizer {
        // I/O: the function must exist before the edge's methods depend on it.
        if let Function::Missing(aws) = side.clients.lambda.function(&spec.lambda_arn).await? {
            return Err(Error::InvalidSpec {
                field: "spec.consumer.regionalApi.authorizer.lambdaArn".into(),
                message: format!("{}: {aws}", spec.lambda_arn),
            });
        }
    }
    let mut ours: Vec<Authorizer> = apigw
        .authorizers(api_id)
        .await?
        .into_iter()
        .filter(|a| a.name == AUTHORIZER_NAME)
        .collect();
    let current = (!ours.is_empty()).then(|| ours.remove(0));
    if let Some(kept) = &current {
        delete_authorizer_copies(side, api_id, &kept.id, ours, journal).await?;
    }
    match (wanted, current) {
        (None, None) => Ok((None, None, false)),
        // Removal happens after the methods stop using it (see `ensure_routes`).
        (None, Some(stale)) => Ok((None, Some(stale.id), true)),
        (Some(w), None) => {
            let id = apigw.create_authorizer(api_id, &w).await?;
            let all = apigw.authorizers(api_id).await?;
            delete_authorizer_copies(side, api_id, &id, all, journal).await?;
            journal.normal(
                "CreatedAuthorizer",
                format!("created Lambda authorizer {id}"),
            );
            Ok((Some(id), None, true))
        }
        (Some(w), Some(c)) => {
            let mut ops = Vec::new();
            if c.kind != w.kind {
                ops.push(apigateway::replace("/type", &w.kind));
            }
            if c.uri != w.uri {
                ops.push(apigateway::replace("/authorizerUri", &w.uri));
            }
            if c.identity_source != w.identity_source {
                ops.push(apigateway::replace("/identitySource", &w.identity_source));
            }
            if c.ttl_seconds != w.ttl_seconds {
                ops.push(apigateway::replace(
                    "/authorizerResultTtlInSeconds",
                    w.ttl_seconds.to_string(),
                ));
            }
            let changed = !ops.is_empty();
            if changed {
                apigw.update_authorizer(api_id, &c.id, ops).await?;
                journal.normal(
                    "ChangedAuthorizer",
                    format!("updated Lambda authorizer {}", c.id),
                );
            }
            Ok((Some(c.id), None, changed))
        }
    }
}

/// Deletes the operator's authorizers other than `keep`: CreateAuthorizer takes no client
/// token, so a retry after a lost answer makes a copy.
async fn delete_authorizer_copies(
    side: &Side<'_>,
    api_id: &str,
    keep: &str,
    copies: Vec<Authorizer>,
    journal: &Journal,
) -> Result<()> {
    for extra in copies
        .into_iter()
        .filter(|a| a.name == AUTHORIZER_NAME && a.id != keep)
    {
        side.clients
            .apigateway
            .delete_authorizer(api_id, &extra.id)
            .await?;
        journal.warning(
            "DeletedDuplicateAuthorizer",
            format!("deleted authorizer {}, a second copy of {keep}", extra.id),
        );
    }
    Ok(())
}

/// What the edge serves after this reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// Each served route's `{proxy+}` resource (by route path), where the probe is sent.
    pub proxy_resources: HashMap<String, String>,
    /// Whether this reconcile deployed the edge.
    pub deployed: bool,
}

/// The resources of the edge (by path) that belong to the route at `prefix`.
pub fn belongs_to(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        path == "/" || path == "/{proxy+}"
    } else {
        path == prefix || path.starts_with(&format!("{prefix}/"))
    }
}

/// What goes from the edge: resources neither wanted (nor an ancestor of one) nor of a route
/// kept as it is (a route whose private API is not ready leaves its resources alone), deepest
/// first so that a parent never goes before its children; and whether the root's `ANY` goes.
pub fn plan_prune(
    existing: &[apigateway::Resource],
    wanted: &[Route],
    kept_routes: &[&str],
) -> (Vec<apigateway::Resource>, bool) {
    let needed = |path: &str| {
        wanted
            .iter()
            .any(|w| w.path == path || w.path.starts_with(&format!("{path}/")))
            || kept_routes.iter().any(|k| belongs_to(path, k))
            || kept_routes
                .iter()
                .any(|k| *k != "/" && k.starts_with(&format!("{path}/")))
    };
    let mut gone: Vec<apigateway::Resource> = existing
        .iter()
        .filter(|r| r.path != "/" && !needed(&r.path))
        .cloned()
        .collect();
    gone.sort_by_key(|r| std::cmp::Reverse(r.path.matches('/').count()));
    let root_method_goes = existing
        .iter()
        .any(|r| r.path == "/" && r.methods.iter().any(|m| m == "ANY"))
        && !wanted.iter().any(|w| w.path == "/")
        && !kept_routes.contains(&"/");
    (gone, root_method_goes)
}

/// The edge step (`RegionalApiReady`, together with the routes it serves): needs the edge API,
/// the VPC link's id and the served routes' private API ids. `kept_routes` are routes not
/// served now whose resources stay as they are.
#[allow(clippy::too_many_arguments)]
pub async fn edge_step(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    edge: Result<EdgeApi>,
    link: Option<&VpcLink>,
    backends: &[Backend],
    kept_routes: &[&str],
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Outcome<Served> {
    let edge = match edge {
        Ok(edge) => edge,
        Err(e) => return Outcome::Failed(e),
    };
    // A link DELETING (by hand) is replaced once gone; nothing is pointed at it meanwhile.
    let Some(link) = link.filter(|l| l.status != "DELETING") else {
        return Outcome::waiting(
            None,
            "WaitingForDependencies",
            "integrations need the VPC link",
        );
    };
    ensure_routes(
        side,
        obj,
        &edge,
        link,
        backends,
        kept_routes,
        status,
        journal,
    )
    .await
    .into()
}

/// Ensures every route of `backends`, removes what no route uses, and deploys when anything
/// changed and the link is AVAILABLE.
#[allow(clippy::too_many_arguments)]
async fn ensure_routes(
    side: &Side<'_>,
    obj: &CrossAccountApi,
    edge: &EdgeApi,
    link: &VpcLink,
    backends: &[Backend],
    kept_routes: &[&str],
    status: &mut ConsumerStatus,
    journal: &Journal,
) -> Result<Outcome<Served>> {
    let vpc_link_id = link.id.as_str();
    let apigw = &side.clients.apigateway;
    let stage = &obj.spec.consumer.regional_api.stage_name;
    let (api_id, authorizer_id) = (edge.id.as_str(), edge.authorizer_id.as_deref());
    let mut wanted: Vec<Route> = backends
        .iter()
        .flat_map(|b| routes(b, vpc_link_id, authorizer_id))
        .collect();
    // The configuration hash does not depend on the order of the routes in the spec.
    wanted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut changed = edge.authorizer_changed;

    // I/O: resources, then what no route uses goes, then each method and integration.
    let existing = apigw.resources(api_id).await?;
    let (gone, root_method_goes) = plan_prune(&existing, &wanted, kept_routes);
    for resource in &gone {
        apigw.delete_resource(api_id, &resource.id).await?;
        journal.normal(
            "RemovedEdgeResource",
            format!("removed {} from the edge", resource.path),
        );
        changed = true;
    }
    // GetResources embeds each method with its integration: no per-route read when it did.
    let mut found: HashMap<String, apigateway::Resource> = existing
        .into_iter()
        .filter(|r| !gone.iter().any(|g| g.id == r.id))
        .map(|r| (r.path.clone(), r))
        .collect();
    let mut resources: HashMap<String, String> = found
        .iter()
        .map(|(path, r)| (path.clone(), r.id.clone()))
        .collect();
    if root_method_goes && let Some(root) = resources.get("/") {
        apigw.delete_method(api_id, root, "ANY").await?;
        journal.normal("RemovedEdgeResource", "removed ANY / from the edge");
        changed = true;
        if let Some(r) = found.get_mut("/") {
            r.methods.retain(|m| m != "ANY");
        }
    }
    for route in &wanted {
        let resource_id = ensure_resource(side, api_id, &route.path, &mut resources).await?;
        let present = match found.get(&route.path) {
            Some(r) => apigw.whole_method(api_id, r, "ANY").await?,
            None => None,
        };
        let current = match present {
            None => {
                apigw
                    .put_method(api_id, &resource_id, "ANY", &route.method)
                    .await?;
                changed = true;
                None
            }
            Some(present) => {
                let ops = method_patch(&present.method, &route.method);
                if !ops.is_empty() {
                    apigw
                        .update_method(api_id, &resource_id, "ANY", ops)
                        .await?;
                    changed = true;
                }
                present.integration
            }
        };
        if current.as_ref() != Some(&route.integration) {
            apigw
                .put_vpc_link_integration(api_id, &resource_id, "ANY", &route.integration)
                .await?;
            let verb = if current.is_some() {
                "RepairedIntegration"
            } else {
                "CreatedIntegration"
            };
            journal.normal(
                verb,
                format!(
                    "ANY {} → {}",
                    route.path,
                    route.integration.uri.as_deref().unwrap_or_default()
                ),
            );
            changed = true;
        }
    }
    // An authorizer no longer wanted goes once no method uses it.
    if let Some(stale) = &edge.stale_authorizer_id {
        apigw.delete_authorizer(api_id, stale).await?;
        journal.normal(
            "DeletedAuthorizer",
            format!("removed Lambda authorizer {stale}"),
        );
    }

    if link.status != "AVAILABLE" {
        return Ok(Outcome::waiting(
            None,
            "WaitingForVpcLink",
            format!(
                "integrations of {api_id} set; deployed once VPC link {} is AVAILABLE (now {})",
                link.id, link.status
            ),
        ));
    }
    if wanted.is_empty() {
        // API Gateway refuses to deploy an API without methods.
        return Ok(Outcome::waiting(
            None,
            "WaitingForPrivateApi",
            "no route's private API is ready yet",
        ));
    }
    let proxy_resources = backends
        .iter()
        .filter_map(|b| {
            let proxy = routes(b, vpc_link_id, authorizer_id).pop()?;
            Some((b.prefix.clone(), resources.get(&proxy.path)?.clone()))
        })
        .collect();
    let mut deployed = false;
    let hash = config_hash(&(&wanted, stage));
    let deployed_id = apigw.stage_deployment(api_id, stage).await?;
    let up_to_date = !changed
        && status.deployment.as_ref().is_some_and(|d| {
            d.config_hash == hash && deployed_id.as_deref() == Some(d.id.as_str())
        });
    if !up_to_date {
        let id = apigw
            .deploy(api_id, stage, &format!("cross-account-api-operator {hash}"))
            .await?;
        deployed = true;
        journal.normal(
            "DeployedRegionalApi",
            format!("deployed regional API {api_id} to stage {stage}"),
        );
        status.deployment = Some(DeploymentStatus {
            id,
            config_hash: hash,
        });
    }
    // After a stage rename the old stage goes (the operator owns the whole regional API).
    let previous = status
        .invoke_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next())
        .map(str::to_string);
    if let Some(previous) = previous
        && previous != *stage
    {
        apigw.delete_stage(api_id, &previous).await?;
    }
    status.invoke_url = Some(invoke_url(api_id, &obj.spec.consumer.region, stage));
    Ok(Outcome::done(
        Served {
            proxy_resources,
            deployed,
        },
        "Deployed",
        format!("{api_id} deployed"),
    ))
}

/// The resource at `path`, made (with any missing parents) when absent.
async fn ensure_resource(
    side: &Side<'_>,
    api_id: &str,
    path: &str,
    resources: &mut HashMap<String, String>,
) -> Result<String> {
    if let Some(id) = resources.get(path) {
        return Ok(id.clone());
    }
    let (parent, part) = split_path(path);
    let parent_id = match resources.get(&parent) {
        Some(id) => id.clone(),
        None if parent == "/" => {
            return Err(Error::Unexpected {
                operation: "GetResources",
                account: side.key.account(),
                detail: format!("API {api_id} has no root resource"),
            });
        }
        None => Box::pin(ensure_resource(side, api_id, &parent, resources)).await?,
    };
    let id = side
        .clients
        .apigateway
        .create_resource(api_id, &parent_id, &part)
        .await?;
    resources.insert(path.to_string(), id.clone());
    Ok(id)
}

fn split_path(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some(("", part)) => ("/".into(), part.into()),
        Some((parent, part)) => (parent.into(), part.into()),
        None => ("/".into(), path.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> Backend {
        Backend {
            prefix: "/".into(),
            private_api_id: "a1b2c3d4e5".into(),
            region: "us-east-1".into(),
            stage: "prod".into(),
            strip_prefix: true,
        }
    }

    #[test]
    fn root_backend_routes() {
        let r = routes(&backend(), "vl1234", None);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].path, "/");
        assert_eq!(
            r[0].integration.uri.as_deref(),
            Some("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/")
        );
        assert_eq!(
            r[0].integration
                .request_parameters
                .get("integration.request.header.x-apigw-api-id")
                .map(String::as_str),
            Some("'a1b2c3d4e5'")
        );
        assert!(
            !r[0]
                .integration
                .request_parameters
                .contains_key("integration.request.path.proxy")
        );
        assert_eq!(r[1].path, "/{proxy+}");
        assert_eq!(
            r[1].integration.uri.as_deref(),
            Some("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/{proxy}")
        );
        assert_eq!(
            r[1].integration
                .request_parameters
                .get("integration.request.path.proxy")
                .map(String::as_str),
            Some("method.request.path.proxy")
        );
        assert_eq!(
            r[1].method
                .request_parameters
                .get("method.request.path.proxy"),
            Some(&true)
        );
        assert_eq!(r[1].integration.connection_id.as_deref(), Some("vl1234"));
        assert_eq!(
            r[1].integration.connection_type.as_deref(),
            Some("VPC_LINK")
        );
        assert_eq!(r[1].method.authorization_type, "NONE");
    }

    #[test]
    fn prefixed_backend_and_authorizer() {
        let b = Backend {
            prefix: "/orders".into(),
            ..backend()
        };
        let r = routes(&b, "vl1234", Some("auth1"));
        assert_eq!(r[0].path, "/orders");
        assert_eq!(r[1].path, "/orders/{proxy+}");
        assert_eq!(r[1].method.authorization_type, "CUSTOM");
        assert_eq!(r[1].method.authorizer_id.as_deref(), Some("auth1"));
        assert_eq!(
            split_path("/orders/{proxy+}"),
            ("/orders".to_string(), "{proxy+}".to_string())
        );
        assert_eq!(
            split_path("/{proxy+}"),
            ("/".to_string(), "{proxy+}".to_string())
        );
    }

    #[test]
    fn hash_changes_with_the_vpc_link() {
        let a = config_hash(&routes(&backend(), "vl1", None));
        assert_eq!(a, config_hash(&routes(&backend(), "vl1", None)));
        assert_ne!(a, config_hash(&routes(&backend(), "vl2", None)));
    }

    #[test]
    fn authorizer_uri_and_defaults() {
        let spec = AuthorizerSpec {
            lambda_arn: "arn:aws:lambda:us-east-1:111111111111:function:auth".into(),
            type_: AuthorizerType::Token,
            identity_source: None,
            result_ttl_seconds: None,
        };
        let a = wanted_authorizer(&spec, "us-east-1");
        assert_eq!(
            a.uri,
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:111111111111:function:auth/invocations"
        );
        assert_eq!(a.identity_source, "method.request.header.Authorization");
        assert_eq!(a.ttl_seconds, 300);
        assert_eq!(a.kind, "TOKEN");
    }

    #[test]
    fn method_patch_switches_authorization() {
        let open = Method {
            authorization_type: "NONE".into(),
            ..Default::default()
        };
        let custom = Method {
            authorization_type: "CUSTOM".into(),
            authorizer_id: Some("a1".into()),
            ..Default::default()
        };
        let ops = |c: &Method, w: &Method| -> Vec<(String, String, String)> {
            method_patch(c, w)
                .iter()
                .map(|o| {
                    (
                        o.op().map(|x| x.as_str().to_string()).unwrap_or_default(),
                        o.path().unwrap_or_default().to_string(),
                        o.value().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        };
        let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            ops(&open, &custom),
            vec![
                s("replace", "/authorizationType", "CUSTOM"),
                s("replace", "/authorizerId", "a1")
            ]
        );
        // Removal: `replace` (what UpdateMethod documents), never `remove`.
        assert_eq!(
            ops(&custom, &open),
            vec![s("replace", "/authorizationType", "NONE")]
        );
        assert!(method_patch(&custom, &custom).is_empty());
        // A NONE method that kept its old authorizer id is as wanted: no write loop.
        let stale = Method {
            authorizer_id: Some("a1".into()),
            ..open.clone()
        };
        assert!(method_patch(&stale, &open).is_empty());
    }
}
