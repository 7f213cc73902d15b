//! API Gateway (REST, v1): the private and regional REST APIs, their resources, methods,
//! integrations, authorizer, stages and deployments, and the REST VPC link.
//!
//! Every call first takes a permit from the account's [`ApiGatewayLimiter`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_apigateway::Client;
pub use aws_sdk_apigateway::types::PatchOperation;
use aws_sdk_apigateway::types::{
    AuthorizerType, ConnectionType, EndpointConfiguration, EndpointType, IntegrationType, Op,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::instrument;

use super::shared::{self, Sharing};
use super::{ApiGatewayLimiter, Caller, Ownership};
use crate::api::UID_TAG;
use crate::error::{Error, Result};

/// A REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestApi {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The resource policy as stored (escaped JSON), if any.
    pub policy: Option<String>,
    /// Endpoint types (PRIVATE, REGIONAL, EDGE).
    pub endpoint_types: Vec<String>,
    /// VPC endpoints associated with a private API.
    pub vpc_endpoint_ids: Vec<String>,
    /// Tags.
    pub tags: HashMap<String, String>,
    /// `disableExecuteApiEndpoint`: the API's own execute-api name no longer answers.
    pub execute_api_disabled: bool,
    /// TLS security policy (`TLS_1_2`, `SecurityPolicy_…`), when GetRestApi gave one.
    pub security_policy: Option<String>,
    /// Endpoint access mode (`BASIC`, `STRICT`), when GetRestApi gave one.
    pub endpoint_access_mode: Option<String>,
}

/// What a look-up by uid found: the resource to keep, and copies that a create repeated after
/// its lost answer left (API Gateway's creates take no client token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned<T> {
    /// The one the object uses.
    pub keep: Option<T>,
    /// The others carrying the object's uid.
    pub extras: Vec<T>,
}

impl<T> Owned<T> {
    fn one(item: T) -> Self {
        Owned {
            keep: Some(item),
            extras: Vec::new(),
        }
    }

    fn first_of(mut all: Vec<T>) -> Self {
        let keep = (!all.is_empty()).then(|| all.remove(0));
        Owned { keep, extras: all }
    }
}

// GetMethodOutput and the embedded `types::Method` (GetIntegrationOutput and
// `types::Integration`) are distinct types with the same accessors: one reading serves both.
macro_rules! method_of {
    ($m:expr) => {
        Method {
            authorization_type: $m.authorization_type().unwrap_or("NONE").to_string(),
            authorizer_id: $m.authorizer_id().map(str::to_string),
            request_parameters: $m.request_parameters().cloned().unwrap_or_default(),
        }
    };
}

macro_rules! integration_of {
    ($i:expr) => {
        Integration {
            kind: $i
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            http_method: $i.http_method().map(str::to_string),
            uri: $i.uri().map(str::to_string),
            connection_type: $i.connection_type().map(|c| c.as_str().to_string()),
            connection_id: $i.connection_id().map(str::to_string),
            request_parameters: $i.request_parameters().cloned().unwrap_or_default(),
        }
    };
}

macro_rules! setup_of {
    ($m:expr) => {{
        let integration = $m.method_integration();
        MethodSetup {
            integration_kind: integration
                .and_then(|i| i.r#type())
                .map(|t| t.as_str().to_string()),
            method_responses: sorted_keys($m.method_responses()),
            integration_responses: sorted_keys(integration.and_then(|i| i.integration_responses())),
        }
    }};
}

fn sorted_keys<V>(map: Option<&HashMap<String, V>>) -> Vec<String> {
    let mut k: Vec<String> = map.map(|m| m.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

macro_rules! whole_method_of {
    ($m:expr) => {
        EmbeddedMethod {
            method: method_of!($m),
            integration: $m.method_integration().map(|i| integration_of!(i)),
            setup: setup_of!($m),
        }
    };
}

/// The id of `parent_id`'s child named `path_part`, among an API's resources.
fn existing_child(all: &[Resource], parent_id: &str, path_part: &str) -> Option<String> {
    let parent = all.iter().find(|r| r.id == parent_id)?;
    let path = format!("{}/{path_part}", parent.path.trim_end_matches('/'));
    all.iter().find(|r| r.path == path).map(|r| r.id.clone())
}

/// A resource as GetResources answered it; methods embedded whole are kept whole.
fn resource_of(r: &aws_sdk_apigateway::types::Resource) -> Option<Resource> {
    let all = r.resource_methods();
    let mut methods: Vec<String> = all.map(|m| m.keys().cloned().collect()).unwrap_or_default();
    methods.sort();
    // A whole method always names its verb; a bare key does not.
    let embedded = all
        .into_iter()
        .flatten()
        .filter(|(_, m)| m.http_method().is_some())
        .map(|(verb, m)| (verb.clone(), whole_method_of!(m)))
        .collect();
    Some(Resource {
        id: r.id()?.to_string(),
        path: r.path()?.to_string(),
        methods,
        embedded,
    })
}

/// A resource (path) with its methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Id.
    pub id: String,
    /// Full path, e.g. `/{proxy+}`.
    pub path: String,
    /// HTTP methods set up on it.
    pub methods: Vec<String>,
    /// The methods GetResources returned whole (`embed=methods`), by HTTP verb. A verb of
    /// `methods` missing here came back as a bare key: read it with GetMethod.
    pub embedded: HashMap<String, EmbeddedMethod>,
}

/// A method as GetResources embeds it: the method, its integration (if any) and its set-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmbeddedMethod {
    /// Authorization and parameters.
    pub method: Method,
    /// The integration; `None`: the method has none.
    pub integration: Option<Integration>,
    /// Integration type and response codes.
    pub setup: MethodSetup,
}

/// A method's authorization and parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Method {
    /// NONE, CUSTOM, AWS_IAM, COGNITO_USER_POOLS.
    pub authorization_type: String,
    /// Authorizer id for CUSTOM.
    pub authorizer_id: Option<String>,
    /// Request parameters (`method.request.path.proxy` → required).
    pub request_parameters: HashMap<String, bool>,
}

/// An integration as the controller compares it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integration {
    /// HTTP_PROXY, MOCK, …
    pub kind: String,
    /// Backend HTTP method.
    pub http_method: Option<String>,
    /// Backend URI.
    pub uri: Option<String>,
    /// INTERNET or VPC_LINK.
    pub connection_type: Option<String>,
    /// VPC link id.
    pub connection_id: Option<String>,
    /// Request parameter mappings.
    pub request_parameters: HashMap<String, String>,
}

/// What a method has around it (see [`ApiGateway::whole_method`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodSetup {
    /// The integration's type (MOCK, HTTP_PROXY, …); `None`: no integration.
    pub integration_kind: Option<String>,
    /// Status codes of the method responses, sorted.
    pub method_responses: Vec<String>,
    /// Status codes of the integration responses, sorted.
    pub integration_responses: Vec<String>,
}

/// What TestInvokeMethod answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestInvocation {
    /// The HTTP status the method returned.
    pub status: i32,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// API Gateway's execution log.
    pub log: String,
    /// The response body.
    pub body: Option<String>,
}

/// A Lambda authorizer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// TOKEN or REQUEST.
    pub kind: String,
    /// `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`.
    pub uri: String,
    /// Identity source.
    pub identity_source: String,
    /// Cache TTL.
    pub ttl_seconds: i32,
}

/// A REST VPC link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcLink {
    /// Id.
    pub id: String,
    /// PENDING, AVAILABLE, DELETING, FAILED.
    pub status: String,
    /// AWS's explanation, e.g. why it FAILED.
    pub status_message: Option<String>,
    /// NLB ARNs.
    pub target_arns: Vec<String>,
}

/// API Gateway client of one account and region.
#[derive(Clone, Debug)]
pub struct ApiGateway {
    client: Client,
    caller: Caller,
    account: String,
    region: String,
    limiter: Arc<ApiGatewayLimiter>,
    /// REST APIs and VPC links read from the account's lists, when this client shares reads.
    sharing: Sharing,
}

fn patch(op: Op, path: &str, value: Option<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(op)
        .path(path)
        .set_value(value)
        .build()
}

/// A `replace` patch operation.
pub fn replace(path: &str, value: impl Into<String>) -> PatchOperation {
    patch(Op::Replace, path, Some(value.into()))
}

/// An `add` patch operation.
pub fn add(path: &str, value: impl Into<String>) -> PatchOperation {
    patch(Op::Add, path, Some(value.into()))
}

/// Attempts per call, as the SDK's standard retry mode makes.
const MAX_ATTEMPTS: u32 = 5;

/// Worth another attempt: no answer (connection, timeout), a 5xx, or throttling.
fn is_transient<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            matches!(
                crate::error::classify(code, service.err().message().unwrap_or_default()),
                crate::error::ErrorClass::Retryable | crate::error::ErrorClass::Throttled
            )
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    }
}

/// Exponential backoff with full jitter: 0.2 s, 0.4 s, 0.8 s, … at most 10 s.
fn retry_delay(attempt: u32) -> std::time::Duration {
    let cap = (0.2 * f64::from(1u32 << attempt.min(6))).min(10.0);
    let jitter = f64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            % 1000,
    ) / 1000.0;
    std::time::Duration::from_secs_f64(cap * (0.5 + jitter / 2.0))
}

// GetRestApiOutput, CreateRestApiOutput and the listed `types::RestApi` are distinct types with
// the same accessors: one reading serves all three.
macro_rules! rest_api_of {
    ($a:expr) => {
        $a.id().map(|id| {
            let endpoint = $a.endpoint_configuration();
            RestApi {
                id: id.to_string(),
                name: $a.name().unwrap_or_default().to_string(),
                policy: $a.policy().map(str::to_string),
                endpoint_types: endpoint
                    .map(|e| e.types().iter().map(|t| t.as_str().to_string()).collect())
                    .unwrap_or_default(),
                vpc_endpoint_ids: endpoint
                    .map(|e| e.vpc_endpoint_ids().to_vec())
                    .unwrap_or_default(),
                tags: $a.tags().cloned().unwrap_or_default(),
                execute_api_disabled: $a.disable_execute_api_endpoint(),
                security_policy: $a.security_policy().map(|p| p.as_str().to_string()),
                endpoint_access_mode: $a.endpoint_access_mode().map(|m| m.as_str().to_string()),
            }
        })
    };
}

fn vpc_link_from(
    id: Option<&str>,
    status: Option<&aws_sdk_apigateway::types::VpcLinkStatus>,
    status_message: Option<&str>,
    target_arns: &[String],
) -> Option<VpcLink> {
    Some(VpcLink {
        id: id?.to_string(),
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        status_message: status_message.map(str::to_string),
        target_arns: target_arns.to_vec(),
    })
}

fn owner_tags(owner: &Ownership) -> HashMap<String, String> {
    owner
        .tags()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

impl ApiGateway {
    pub(crate) fn new(
        client: Client,
        caller: Caller,
        account: String,
        region: String,
        limiter: Arc<ApiGatewayLimiter>,
        sharing: Sharing,
    ) -> Self {
        ApiGateway {
            client,
            caller,
            account,
            region,
            limiter,
            sharing,
        }
    }

    /// This client, reading REST APIs and VPC links from the account's lists as `reads` says.
    pub fn sharing_reads(mut self, reads: shared::ListReads) -> Self {
        self.sharing = self.sharing.reading(reads);
        self
    }

    /// Each call's configuration override: signed by this client's caller.
    fn signed(&self) -> aws_sdk_apigateway::config::Builder {
        super::signed_by!(aws_sdk_apigateway, self.caller)
    }

    /// Region of this client.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sends `op`, each attempt holding a permit of the account's limiter until its answer is in:
    /// the SDK's own retries would bypass it (its client has them off), and a retry sent at once after a lost answer
    /// or a 5xx would land on the quota.
    async fn call<T, E, R, Fut>(&self, op: &'static str, send: impl Fn() -> Fut) -> Result<T>
    where
        Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let mut attempt = 1;
        loop {
            let permit = self.limiter.acquire(op).await;
            let answer = send().await;
            drop(permit);
            match answer {
                Ok(out) => return Ok(out),
                Err(e) if attempt < MAX_ATTEMPTS && is_transient(&e) => {
                    tokio::time::sleep(retry_delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(Error::aws(op, &self.account, e)),
            }
        }
    }

    async fn find<T, E, R, Fut>(
        &self,
        op: &'static str,
        send: impl Fn() -> Fut,
    ) -> Result<Option<T>>
    where
        Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match self.call(op, send).await {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.code() == Some("NotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn unexpected(&self, operation: &'static str, detail: &str) -> Error {
        Error::Unexpected {
            operation,
            account: self.account.clone(),
            detail: detail.into(),
        }
    }

    // ----- REST APIs -------------------------------------------------------------------------

    /// The REST API with this id, `None` if it does not exist.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetRestApi"))]
    pub async fn get_rest_api(&self, id: &str) -> Result<Option<RestApi>> {
        if let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists.rest_apis.get(reads, || self.list_rest_apis()).await?
            && let Some(api) = all.iter().find(|a| a.id == id)
        {
            return Ok(Some(api.clone()));
        }
        let out = self
            .find("GetRestApi", || {
                self.client
                    .get_rest_api()
                    .rest_api_id(id)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(out.and_then(|a| rest_api_of!(a)))
    }

    /// The operator's REST API of `endpoint_type`: `known_id` if it still exists and carries
    /// `uid` (one read), else the first one tagged with `uid` (adoption after a crash) and the
    /// other copies so tagged.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetRestApis"))]
    pub async fn find_owned_rest_api(
        &self,
        known_id: Option<&str>,
        uid: &str,
        endpoint_type: &str,
    ) -> Result<Owned<RestApi>> {
        let ours = |a: &RestApi| {
            a.tags.get(UID_TAG).map(String::as_str) == Some(uid)
                && a.endpoint_types.iter().any(|t| t == endpoint_type)
        };
        if let Some(id) = known_id
            && let Some(api) = self.get_rest_api(id).await?
            && ours(&api)
        {
            return Ok(Owned::one(api));
        }
        Ok(Owned::first_of(
            self.owned_rest_apis(uid, endpoint_type).await?,
        ))
    }

    /// Every REST API of `endpoint_type` tagged with `uid`, by id: more than one only when a
    /// create (which takes no client token) was repeated after its answer was lost.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetRestApis"))]
    pub async fn owned_rest_apis(&self, uid: &str, endpoint_type: &str) -> Result<Vec<RestApi>> {
        let mut found: Vec<RestApi> = self
            .list_rest_apis()
            .await?
            .into_iter()
            .filter(|a| {
                a.tags.get(UID_TAG).map(String::as_str) == Some(uid)
                    && a.endpoint_types.iter().any(|t| t == endpoint_type)
            })
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    /// Every REST API of the account and region (pages of 500).
    async fn list_rest_apis(&self) -> Result<Vec<RestApi>> {
        let mut all = Vec::new();
        let mut position = None;
        loop {
            let out = self
                .call("GetRestApis", || {
                    self.client
                        .get_rest_apis()
                        .limit(shared::API_GATEWAY_PAGE as i32)
                        .set_position(position.clone())
                        .customize()
                        .config_override(self.signed())
                        .send()
                })
                .await?;
            all.extend(out.items().iter().filter_map(|a| rest_api_of!(a)));
            match out.position() {
                Some(p) if !out.items().is_empty() => position = Some(p.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Creates a REST API: PRIVATE (with its VPC endpoints and policy) or REGIONAL.
    #[instrument(skip(self, policy, owner), fields(account = %self.account, service = "apigateway", operation = "CreateRestApi"))]
    pub async fn create_rest_api(
        &self,
        name: &str,
        endpoint_type: &str,
        vpc_endpoint_ids: &[String],
        policy: Option<String>,
        owner: &Ownership,
        extra_tags: &[(&str, String)],
    ) -> Result<RestApi> {
        let kind = EndpointType::from(endpoint_type);
        let endpoint = EndpointConfiguration::builder()
            .types(kind)
            .set_vpc_endpoint_ids((!vpc_endpoint_ids.is_empty()).then(|| vpc_endpoint_ids.to_vec()))
            .build();
        let mut tags = owner_tags(owner);
        tags.extend(extra_tags.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let out = self
            .call("CreateRestApi", || {
                self.client
                    .create_rest_api()
                    .name(name)
                    .description(format!(
                        "Managed by cross-account-api-operator for {}",
                        owner.owner
                    ))
                    .endpoint_configuration(endpoint.clone())
                    .set_policy(policy.clone())
                    .set_tags(Some(tags.clone()))
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        rest_api_of!(out).ok_or_else(|| self.unexpected("CreateRestApi", "no id in the answer"))
    }

    /// Applies patch operations to a REST API.
    #[instrument(skip(self, ops), fields(account = %self.account, service = "apigateway", operation = "UpdateRestApi"))]
    pub async fn update_rest_api(&self, id: &str, ops: Vec<PatchOperation>) -> Result<()> {
        self.call("UpdateRestApi", || {
            self.client
                .update_rest_api()
                .rest_api_id(id)
                .set_patch_operations(Some(ops.clone()))
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Deletes a REST API; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteRestApi"))]
    pub async fn delete_rest_api(&self, id: &str) -> Result<()> {
        self.find("DeleteRestApi", || {
            self.client
                .delete_rest_api()
                .rest_api_id(id)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    // ----- resources, methods, integrations --------------------------------------------------

    /// Every resource of an API with its methods.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetResources"))]
    pub async fn resources(&self, api_id: &str) -> Result<Vec<Resource>> {
        let out = self
            .call("GetResources", || {
                self.client
                    .get_resources()
                    .rest_api_id(api_id)
                    .limit(500)
                    .embed("methods")
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(out.items().iter().filter_map(resource_of).collect())
    }

    /// Creates a child resource. A parent has one child of a name: a conflict (a retry after a
    /// lost answer, or a resource made meanwhile) means the child is there, and its id is read.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "CreateResource"))]
    pub async fn create_resource(
        &self,
        api_id: &str,
        parent_id: &str,
        path_part: &str,
    ) -> Result<String> {
        let created = self
            .call("CreateResource", || {
                self.client
                    .create_resource()
                    .rest_api_id(api_id)
                    .parent_id(parent_id)
                    .path_part(path_part)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await;
        match created {
            Ok(out) => out
                .id()
                .map(str::to_string)
                .ok_or_else(|| self.unexpected("CreateResource", "no id in the answer")),
            Err(e) if e.code() == Some("ConflictException") => {
                let all = self.resources(api_id).await?;
                existing_child(&all, parent_id, path_part).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes a resource (and, in AWS, its children); one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteResource"))]
    pub async fn delete_resource(&self, api_id: &str, resource_id: &str) -> Result<()> {
        self.find("DeleteResource", || {
            self.client
                .delete_resource()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Deletes a method; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteMethod"))]
    pub async fn delete_method(&self, api_id: &str, resource_id: &str, verb: &str) -> Result<()> {
        self.find("DeleteMethod", || {
            self.client
                .delete_method()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(verb)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// A resource's `verb` method whole: as GetResources embedded it, else read with GetMethod
    /// (which carries the integration too). `None`: the resource has no such method.
    #[instrument(skip(self, resource), fields(account = %self.account, service = "apigateway", operation = "GetMethod"))]
    pub async fn whole_method(
        &self,
        api_id: &str,
        resource: &Resource,
        verb: &str,
    ) -> Result<Option<EmbeddedMethod>> {
        if !resource.methods.iter().any(|m| m == verb) {
            return Ok(None);
        }
        if let Some(m) = resource.embedded.get(verb) {
            return Ok(Some(m.clone()));
        }
        let out = self.method_output(api_id, &resource.id, verb).await?;
        Ok(out.map(|m| whole_method_of!(m)))
    }

    async fn method_output(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
    ) -> Result<Option<aws_sdk_apigateway::operation::get_method::GetMethodOutput>> {
        self.find("GetMethod", || {
            self.client
                .get_method()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await
    }

    /// Sets up a method.
    #[instrument(skip(self, method), fields(account = %self.account, service = "apigateway", operation = "PutMethod"))]
    pub async fn put_method(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        method: &Method,
    ) -> Result<()> {
        self.call("PutMethod", || {
            self.client
                .put_method()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .authorization_type(&method.authorization_type)
                .set_authorizer_id(method.authorizer_id.clone())
                .set_request_parameters(
                    (!method.request_parameters.is_empty())
                        .then(|| method.request_parameters.clone()),
                )
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Applies patch operations to a method.
    #[instrument(skip(self, ops), fields(account = %self.account, service = "apigateway", operation = "UpdateMethod"))]
    pub async fn update_method(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        ops: Vec<PatchOperation>,
    ) -> Result<()> {
        self.call("UpdateMethod", || {
            self.client
                .update_method()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .set_patch_operations(Some(ops.clone()))
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Sets (or replaces) an HTTP_PROXY integration over a VPC link.
    #[instrument(skip(self, integration), fields(account = %self.account, service = "apigateway", operation = "PutIntegration"))]
    pub async fn put_vpc_link_integration(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        integration: &Integration,
    ) -> Result<()> {
        self.call("PutIntegration", || {
            self.client
                .put_integration()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .r#type(IntegrationType::HttpProxy)
                .set_integration_http_method(integration.http_method.clone())
                .set_uri(integration.uri.clone())
                .connection_type(ConnectionType::VpcLink)
                .set_connection_id(integration.connection_id.clone())
                .set_request_parameters(Some(integration.request_parameters.clone()))
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Sets up a MOCK integration that answers with status 200.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "PutIntegration"))]
    pub async fn put_mock_integration(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
    ) -> Result<()> {
        self.call("PutIntegration", || {
            self.client
                .put_integration()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .r#type(IntegrationType::Mock)
                .request_templates("application/json", r#"{"statusCode": 200}"#)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Declares the method's 200 response.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "PutMethodResponse"))]
    pub async fn put_method_response_200(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
    ) -> Result<()> {
        self.call("PutMethodResponse", || {
            self.client
                .put_method_response()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .status_code("200")
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Maps the integration's 200 to a 200 with `body`.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "PutIntegrationResponse"))]
    pub async fn put_integration_response_200(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        body: &str,
    ) -> Result<()> {
        self.call("PutIntegrationResponse", || {
            self.client
                .put_integration_response()
                .rest_api_id(api_id)
                .resource_id(resource_id)
                .http_method(http_method)
                .status_code("200")
                .response_templates("application/json", body)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    // ----- authorizers -----------------------------------------------------------------------

    /// Every authorizer of an API.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetAuthorizers"))]
    pub async fn authorizers(&self, api_id: &str) -> Result<Vec<Authorizer>> {
        let out = self
            .call("GetAuthorizers", || {
                self.client
                    .get_authorizers()
                    .rest_api_id(api_id)
                    .limit(500)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(out
            .items()
            .iter()
            .filter_map(|a| {
                Some(Authorizer {
                    id: a.id()?.to_string(),
                    name: a.name().unwrap_or_default().to_string(),
                    kind: a
                        .r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    uri: a.authorizer_uri().unwrap_or_default().to_string(),
                    identity_source: a.identity_source().unwrap_or_default().to_string(),
                    ttl_seconds: a.authorizer_result_ttl_in_seconds().unwrap_or(300),
                })
            })
            .collect())
    }

    /// Creates a Lambda authorizer and returns its id.
    #[instrument(skip(self, wanted), fields(account = %self.account, service = "apigateway", operation = "CreateAuthorizer"))]
    pub async fn create_authorizer(&self, api_id: &str, wanted: &Authorizer) -> Result<String> {
        let out = self
            .call("CreateAuthorizer", || {
                self.client
                    .create_authorizer()
                    .rest_api_id(api_id)
                    .name(&wanted.name)
                    .r#type(AuthorizerType::from(wanted.kind.as_str()))
                    .authorizer_uri(&wanted.uri)
                    .identity_source(&wanted.identity_source)
                    .authorizer_result_ttl_in_seconds(wanted.ttl_seconds)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        out.id()
            .map(str::to_string)
            .ok_or_else(|| self.unexpected("CreateAuthorizer", "no id in the answer"))
    }

    /// Applies patch operations to an authorizer.
    #[instrument(skip(self, ops), fields(account = %self.account, service = "apigateway", operation = "UpdateAuthorizer"))]
    pub async fn update_authorizer(
        &self,
        api_id: &str,
        id: &str,
        ops: Vec<PatchOperation>,
    ) -> Result<()> {
        self.call("UpdateAuthorizer", || {
            self.client
                .update_authorizer()
                .rest_api_id(api_id)
                .authorizer_id(id)
                .set_patch_operations(Some(ops.clone()))
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Deletes an authorizer; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteAuthorizer"))]
    pub async fn delete_authorizer(&self, api_id: &str, id: &str) -> Result<()> {
        self.find("DeleteAuthorizer", || {
            self.client
                .delete_authorizer()
                .rest_api_id(api_id)
                .authorizer_id(id)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    // ----- stages and deployments ------------------------------------------------------------

    /// Deployment id of a stage; `Ok(None)` when the stage does not exist.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetStage"))]
    pub async fn stage_deployment(&self, api_id: &str, stage: &str) -> Result<Option<String>> {
        let out = self
            .find("GetStage", || {
                self.client
                    .get_stage()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(out.map(|s| s.deployment_id().unwrap_or_default().to_string()))
    }

    /// Names of every stage of an API.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetStages"))]
    pub async fn stage_names(&self, api_id: &str) -> Result<Vec<String>> {
        let out = self
            .call("GetStages", || {
                self.client
                    .get_stages()
                    .rest_api_id(api_id)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(out
            .item()
            .iter()
            .filter_map(|s| s.stage_name().map(str::to_string))
            .collect())
    }

    /// Deletes a stage; one already gone counts as deleted.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteStage"))]
    pub async fn delete_stage(&self, api_id: &str, stage: &str) -> Result<()> {
        self.find("DeleteStage", || {
            self.client
                .delete_stage()
                .rest_api_id(api_id)
                .stage_name(stage)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }

    /// Deploys the API as it stands to `stage` (creating the stage if needed); returns the
    /// deployment id.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "CreateDeployment"))]
    pub async fn deploy(&self, api_id: &str, stage: &str, description: &str) -> Result<String> {
        let out = self
            .call("CreateDeployment", || {
                self.client
                    .create_deployment()
                    .rest_api_id(api_id)
                    .stage_name(stage)
                    .description(description)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        out.id()
            .map(str::to_string)
            .ok_or_else(|| self.unexpected("CreateDeployment", "no id in the answer"))
    }

    // ----- the end-to-end probe --------------------------------------------------------------

    /// Asks API Gateway to run a method's integration as a request to `path_with_query` would
    /// (TestInvokeMethod): a real request over the integration, answered with its status, the
    /// latency and API Gateway's execution log.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "TestInvokeMethod"))]
    pub async fn test_invoke(
        &self,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        path_with_query: &str,
    ) -> Result<TestInvocation> {
        let out = self
            .call("TestInvokeMethod", || {
                self.client
                    .test_invoke_method()
                    .rest_api_id(api_id)
                    .resource_id(resource_id)
                    .http_method(http_method)
                    .path_with_query_string(path_with_query)
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        Ok(TestInvocation {
            status: out.status(),
            latency_ms: out.latency(),
            log: out.log().unwrap_or_default().to_string(),
            body: out.body().map(str::to_string),
        })
    }

    // ----- VPC links -------------------------------------------------------------------------

    /// Every VPC link tagged with `uid`, by id: more than one only when a create (which takes
    /// no client token) was repeated after its answer was lost.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "GetVpcLinks"))]
    pub async fn owned_vpc_links(&self, uid: &str) -> Result<Vec<VpcLink>> {
        let ours = |all: &[(VpcLink, Option<String>)]| -> Vec<VpcLink> {
            let mut found: Vec<VpcLink> = all
                .iter()
                .filter(|(_, tag)| tag.as_deref() == Some(uid))
                .map(|(l, _)| l.clone())
                .collect();
            found.sort_by(|a, b| a.id.cmp(&b.id));
            found
        };
        // Links are found by their tag, so a direct read is the whole list too.
        if let Some((lists, reads)) = self.sharing.lists()
            && let Some(all) = lists
                .vpc_links
                .get(reads.fetching(), || self.list_vpc_links())
                .await?
        {
            let found = ours(&all);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(ours(&self.list_vpc_links().await?))
    }

    /// Every VPC link of the account and region with its uid tag (pages of 500).
    async fn list_vpc_links(&self) -> Result<Vec<(VpcLink, Option<String>)>> {
        let mut all = Vec::new();
        let mut position = None;
        loop {
            let out = self
                .call("GetVpcLinks", || {
                    self.client
                        .get_vpc_links()
                        .limit(shared::API_GATEWAY_PAGE as i32)
                        .set_position(position.clone())
                        .customize()
                        .config_override(self.signed())
                        .send()
                })
                .await?;
            all.extend(out.items().iter().filter_map(|l| {
                let uid = l.tags().and_then(|t| t.get(UID_TAG)).cloned();
                vpc_link_from(l.id(), l.status(), l.status_message(), l.target_arns())
                    .map(|link| (link, uid))
            }));
            match out.position() {
                Some(p) if !out.items().is_empty() => position = Some(p.to_string()),
                _ => break,
            }
        }
        Ok(all)
    }

    /// Creates a REST VPC link to an NLB.
    #[instrument(skip(self, owner), fields(account = %self.account, service = "apigateway", operation = "CreateVpcLink"))]
    pub async fn create_vpc_link(
        &self,
        name: &str,
        nlb_arn: &str,
        owner: &Ownership,
    ) -> Result<VpcLink> {
        let tags = owner_tags(owner);
        let out = self
            .call("CreateVpcLink", || {
                self.client
                    .create_vpc_link()
                    .name(name)
                    .description(format!(
                        "Managed by cross-account-api-operator for {}",
                        owner.owner
                    ))
                    .target_arns(nlb_arn)
                    .set_tags(Some(tags.clone()))
                    .customize()
                    .config_override(self.signed())
                    .send()
            })
            .await?;
        vpc_link_from(
            out.id(),
            out.status(),
            out.status_message(),
            out.target_arns(),
        )
        .ok_or_else(|| self.unexpected("CreateVpcLink", "no id in the answer"))
    }

    /// Deletes a VPC link; one already gone counts as deleted. "is referenced in" (an
    /// integration still uses it) comes back as an in-use error.
    #[instrument(skip(self), fields(account = %self.account, service = "apigateway", operation = "DeleteVpcLink"))]
    pub async fn delete_vpc_link(&self, id: &str) -> Result<()> {
        self.find("DeleteVpcLink", || {
            self.client
                .delete_vpc_link()
                .vpc_link_id(id)
                .customize()
                .config_override(self.signed())
                .send()
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigateway::types::{self, IntegrationType};

    #[test]
    fn an_existing_child_is_found_by_its_parents_path() {
        let r = |id: &str, path: &str| Resource {
            id: id.into(),
            path: path.into(),
            methods: Vec::new(),
            embedded: HashMap::new(),
        };
        let all = [
            r("root", "/"),
            r("o", "/orders"),
            r("oh", "/orders/health"),
            r("h", "/health"),
        ];
        assert_eq!(existing_child(&all, "root", "health").as_deref(), Some("h"));
        assert_eq!(existing_child(&all, "o", "health").as_deref(), Some("oh"));
        assert_eq!(existing_child(&all, "o", "stock"), None);
        assert_eq!(existing_child(&all, "gone", "health"), None);
    }

    fn resource(methods: HashMap<String, types::Method>) -> types::Resource {
        types::Resource::builder()
            .id("r1")
            .path("/{proxy+}")
            .set_resource_methods(Some(methods))
            .build()
    }

    #[test]
    fn an_embedded_method_is_read_whole_and_a_bare_key_is_not() {
        let whole = types::Method::builder()
            .http_method("ANY")
            .authorization_type("NONE")
            .method_integration(
                types::Integration::builder()
                    .r#type(IntegrationType::HttpProxy)
                    .uri("https://b/prod/{proxy}")
                    .connection_id("vl1")
                    .build(),
            )
            .build();
        let bare = types::Method::builder().build();
        let r = resource_of(&resource(HashMap::from([
            ("ANY".to_string(), whole),
            ("GET".to_string(), bare),
        ])))
        .expect("id and path");
        assert_eq!(r.methods, vec!["ANY".to_string(), "GET".to_string()]);
        assert_eq!(r.embedded.len(), 1, "only the whole method is embedded");
        let any = &r.embedded["ANY"];
        assert_eq!(any.method.authorization_type, "NONE");
        let integration = any.integration.as_ref().expect("integration embedded");
        assert_eq!(integration.kind, "HTTP_PROXY");
        assert_eq!(integration.connection_id.as_deref(), Some("vl1"));
        assert_eq!(any.setup.integration_kind.as_deref(), Some("HTTP_PROXY"));
    }

    #[test]
    fn a_whole_method_without_integration_has_none() {
        let m = types::Method::builder()
            .http_method("ANY")
            .authorization_type("CUSTOM")
            .authorizer_id("a1")
            .build();
        let r =
            resource_of(&resource(HashMap::from([("ANY".to_string(), m)]))).expect("id and path");
        let any = &r.embedded["ANY"];
        assert_eq!(any.integration, None);
        assert_eq!(any.method.authorizer_id.as_deref(), Some("a1"));
        assert_eq!(any.setup.integration_kind, None);
    }
}
