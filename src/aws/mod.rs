//! AWS at the edge: service clients shared per account and region, each call signed by its
//! object's AssumeRole session (cached and refreshed by the session), call metrics, retries, and
//! API Gateway's client-side rate limits.
//!
//! Only the files of this module import `aws_sdk_*`.

pub mod apigateway;
mod assume;
pub mod ec2;
pub mod elbv2;
pub mod lambda;
mod limiter;
mod metrics;
mod shared;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use tokio::sync::Mutex;

pub use limiter::{ApiGatewayLimiter, LimiterSettings};
pub use shared::ListReads;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

/// AWS's error code of a service error.
pub(crate) fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// Maps an SDK error of `operation` in `account` to ours.
pub(crate) fn to_error<'a, E, R>(
    operation: &'static str,
    account: &'a str,
) -> impl FnOnce(SdkError<E, R>) -> Error + 'a
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    move |e| Error::aws(operation, account, e)
}

use crate::telemetry::Metrics;

/// Who the operator acts as on one side: a role (or its own credentials) in a region, for one
/// object's session.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct AccountKey {
    /// Role to assume; `None`: the operator's own credentials.
    pub role_arn: Option<String>,
    /// External id for AssumeRole.
    pub external_id: Option<String>,
    /// Region of every call.
    pub region: String,
    /// The AssumeRole session's name and tags; `None`: the operator's own name, no tags.
    pub session: Option<Session>,
}

/// Tag key of a session's namespace: trust policies can test `aws:RequestTag/xapi:namespace`.
pub const SESSION_TAG_NAMESPACE: &str = "xapi:namespace";
/// Tag key of a session's object name.
pub const SESSION_TAG_NAME: &str = "xapi:name";
/// AWS's limit on a RoleSessionName.
const SESSION_NAME_MAX: usize = 64;

/// An AssumeRole session made for one purpose: its RoleSessionName and its session tags (not
/// transitive).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Session {
    /// RoleSessionName, at most 64 characters.
    pub name: String,
    /// Session tags.
    pub tags: Vec<(String, String)>,
}

impl Session {
    /// `xapi-<namespace>-<name>` with the tags `xapi:namespace` and `xapi:name`.
    pub fn for_object(namespace: &str, name: &str) -> Self {
        Session {
            name: session_name(&format!("xapi-{namespace}-{name}")),
            tags: vec![
                (SESSION_TAG_NAMESPACE.to_string(), namespace.to_string()),
                (SESSION_TAG_NAME.to_string(), name.to_string()),
            ],
        }
    }

    /// `xapi-accountrole-<name>`, no tags: the operator's own check of an AccountRole.
    pub fn for_account_role(name: &str) -> Self {
        Session {
            name: session_name(&format!("xapi-accountrole-{name}")),
            tags: Vec::new(),
        }
    }
}

/// A RoleSessionName of at most 64 characters; longer ones end in a hash (`=` joins it: a
/// session name allows `[\w+=,.@-]`, and `=` never occurs in Kubernetes names).
fn session_name(full: &str) -> String {
    crate::limits::fit(full, SESSION_NAME_MAX).replace('~', "=")
}

impl AccountKey {
    /// Account label: the account id of the role ARN, or `default`.
    pub fn account(&self) -> String {
        self.role_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|id| !id.is_empty())
            .unwrap_or("default")
            .to_string()
    }
}

/// The configuration override of one call: signed with `caller`'s session, or, for `None`,
/// with the client's own credentials (the operator's). The SDK gives an override that brings
/// credentials an identity cache of its own for that one operation, so the session caches its
/// credentials itself.
macro_rules! signed_by {
    ($sdk:ident, $caller:expr) => {{
        let mut config = $sdk::config::Builder::default();
        config.set_credentials_provider($caller.clone());
        config
    }};
}
pub(crate) use signed_by;

/// Whose credentials sign an object's calls: its AssumeRole session, or (`None`) the
/// operator's own.
pub(crate) type Caller = Option<SharedCredentialsProvider>;

/// The service clients of one account and region, as one object's session uses them.
#[derive(Clone)]
pub struct AccountClients {
    /// EC2: VPC endpoints, security groups, subnets, ENIs.
    pub ec2: ec2::Ec2,
    /// ELBv2: NLB, target group, listener.
    pub elbv2: elbv2::Elbv2,
    /// API Gateway (REST, v1): APIs, VPC links, deployments.
    pub apigateway: apigateway::ApiGateway,
    /// Lambda: whether an authorizer's function exists.
    pub lambda: lambda::Lambda,
}

impl AccountClients {
    /// These clients, reading what many objects share from the account's lists as `reads`
    /// says (see [`shared`]).
    pub fn sharing_reads(self, reads: ListReads) -> Self {
        AccountClients {
            apigateway: self.apigateway.sharing_reads(reads),
            ec2: self.ec2.sharing_reads(reads),
            elbv2: self.elbv2.sharing_reads(reads),
            ..self
        }
    }
}

/// Builds and caches [`AccountClients`] per [`AccountKey`].
pub struct AwsClients {
    base: SdkConfig,
    metrics: Arc<Metrics>,
    limiter_settings: LimiterSettings,
    cache: Mutex<HashMap<AccountKey, AccountClients>>,
    // Every session of a region asks the same STS client for its credentials.
    sts_clients: Mutex<HashMap<String, aws_sdk_sts::Client>>,
    // What every object of one account and region shares: its service clients, and API
    // Gateway's limiter and lists (its quotas are per account and region, whichever objects
    // share them, and so is what the lists hold).
    accounts: Mutex<HashMap<(String, String), PerAccount>>,
}

/// What every object of one account and region shares.
#[derive(Clone)]
struct PerAccount {
    ec2: aws_sdk_ec2::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    apigateway: aws_sdk_apigateway::Client,
    lambda: Arc<lambda::LazyClient>,
    limiter: Arc<ApiGatewayLimiter>,
    lists: Arc<shared::AccountLists>,
}

impl AwsClients {
    /// Loads the standard AWS configuration chain (env, web identity/IRSA, profile, IMDS),
    /// honouring `AWS_ENDPOINT_URL`, with rustls+ring TLS, standard retries with backoff
    /// and our call metrics.
    pub async fn from_env(metrics: Arc<Metrics>, limiter_settings: LimiterSettings) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(10)),
            )
            // An answer that never comes ends the attempt (then retried): a reconcile never
            // hangs, nor holds the limiter's permit of an operation for its account.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(3100))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            .load()
            .await;
        AwsClients {
            base,
            metrics,
            limiter_settings,
            cache: Mutex::default(),
            sts_clients: Mutex::default(),
            accounts: Mutex::default(),
        }
    }

    /// The clients for one side, made once per key: its session over the account's shared
    /// clients. The first use asks STS who the credentials are (`GetCallerIdentity`): a role
    /// that cannot be assumed fails here with AWS's code, and what is shared is keyed by the
    /// real account id, so objects on different roles of one account share its clients and
    /// its quota.
    pub async fn for_account(&self, key: &AccountKey) -> Result<AccountClients, Error> {
        if let Some(found) = self.cache.lock().await.get(key) {
            return Ok(found.clone());
        }
        let caller = self.session_of(key).await;
        let account = self.caller_account(key, &caller).await?;
        let shared = self.per_account(&account, &key.region).await;
        let sharing = shared::Sharing::new(shared.lists.clone());
        let clients = AccountClients {
            lambda: lambda::Lambda::new(shared.lambda, caller.clone(), account.clone()),
            ec2: ec2::Ec2::new(shared.ec2, caller.clone(), account.clone(), sharing.clone()),
            elbv2: elbv2::Elbv2::new(
                shared.elbv2,
                caller.clone(),
                account.clone(),
                sharing.clone(),
            ),
            apigateway: apigateway::ApiGateway::new(
                shared.apigateway,
                caller,
                account,
                key.region.clone(),
                shared.limiter,
                sharing,
            ),
        };
        self.cache.lock().await.insert(key.clone(), clients.clone());
        Ok(clients)
    }

    /// The clients, limiter and lists of an account and region, made on first use. The
    /// clients hold the operator's own credentials; each call of an object brings its session.
    async fn per_account(&self, account: &str, region: &str) -> PerAccount {
        let mut accounts = self.accounts.lock().await;
        if let Some(found) = accounts.get(&(account.to_string(), region.to_string())) {
            return found.clone();
        }
        let config = self
            .base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        let calls = metrics::CallMetrics::new(self.metrics.clone(), account);
        let lists = Arc::<shared::AccountLists>::default();
        let writes = |service| shared::WritesSeen {
            lists: lists.clone(),
            service,
        };
        let made = PerAccount {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(writes(shared::Service::Ec2))
                    .build(),
            ),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(writes(shared::Service::Elb))
                    .build(),
            ),
            apigateway: aws_sdk_apigateway::Client::from_conf(
                aws_sdk_apigateway::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(writes(shared::Service::ApiGateway))
                    // Retried by the wrapper, each attempt paced by the quota limiter.
                    .retry_config(RetryConfig::disabled())
                    .build(),
            ),
            lambda: Arc::new(lambda::LazyClient::new(config, calls)),
            limiter: Arc::new(ApiGatewayLimiter::new(self.limiter_settings)),
            lists: lists.clone(),
        };
        accounts.insert((account.to_string(), region.to_string()), made.clone());
        made
    }

    /// The account the credentials of `key` belong to, asked afresh (a new session, no
    /// cache): AssumeRole and `GetCallerIdentity`.
    pub async fn check(&self, key: &AccountKey) -> Result<String, Error> {
        let caller = self.session_of(key).await;
        self.caller_account(key, &caller).await
    }

    /// Drops the clients (and so the sessions) of `keys`: an object that is gone needs them
    /// no more.
    pub async fn forget(&self, keys: &[AccountKey]) {
        let mut cache = self.cache.lock().await;
        for key in keys {
            cache.remove(key);
        }
    }

    /// A new session of `key`'s role (`None` for a key without a role), asked of the region's
    /// STS client; it caches its credentials and refreshes them before they expire.
    async fn session_of(&self, key: &AccountKey) -> Caller {
        let region = Region::new(key.region.clone());
        assume::AssumedRole::of(self.sts_client(&region).await, key)
            .map(SharedCredentialsProvider::new)
    }

    /// The STS client of a region, with the operator's own credentials.
    async fn sts_client(&self, region: &Region) -> aws_sdk_sts::Client {
        self.sts_clients
            .lock()
            .await
            .entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(&self.base)
                        .region(region.clone())
                        .build(),
                )
            })
            .clone()
    }

    /// `GetCallerIdentity` signed by `caller` in `key`'s region: the account id.
    async fn caller_account(&self, key: &AccountKey, caller: &Caller) -> Result<String, Error> {
        let calls = metrics::CallMetrics::new(self.metrics.clone(), &key.account());
        let config = signed_by!(aws_sdk_sts, caller).interceptor(calls);
        Ok(self
            .sts_client(&Region::new(key.region.clone()))
            .await
            .get_caller_identity()
            .customize()
            .config_override(config)
            .send()
            .await
            .map_err(to_error("GetCallerIdentity", &key.account()))?
            .account()
            .map(str::to_string)
            .unwrap_or_else(|| key.account()))
    }
}

/// Tags that mark a resource as the operator's, for one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// `<namespace>/<name>`.
    pub owner: String,
    /// The object's `metadata.uid`.
    pub uid: String,
}

impl Ownership {
    /// The tag pairs, owner first; a `<namespace>/<name>` too long for a tag value is
    /// shortened with a hash (the uid tag identifies the object either way).
    pub fn tags(&self) -> [(&'static str, String); 2] {
        [
            (
                crate::api::OWNER_TAG,
                crate::limits::fit(&self.owner, crate::limits::TAG_VALUE_MAX),
            ),
            (crate::api::UID_TAG, self.uid.clone()),
        ]
    }

    /// A name for resources whose names are unique per account and region and at most 32
    /// characters (NLB, target group): `xapi-` and 27 hex digits of the uid.
    pub fn short_name(&self) -> String {
        let hex: String = self
            .uid
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(27)
            .collect();
        format!("xapi-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_aws_limit() {
        let s = Session::for_object("team-orders", "orders");
        assert_eq!(s.name, "xapi-team-orders-orders");
        assert_eq!(
            s.tags,
            [
                ("xapi:namespace".to_string(), "team-orders".to_string()),
                ("xapi:name".to_string(), "orders".to_string())
            ]
        );
        let long = Session::for_object(&"n".repeat(63), &"o".repeat(192));
        assert_eq!(long.name.len(), 64);
        assert!(
            long.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)),
            "{}",
            long.name
        );
        let other = Session::for_object(&"n".repeat(63), &"o".repeat(191));
        assert_ne!(long.name, other.name, "distinct objects, distinct names");
        assert_eq!(
            Session::for_account_role("orders-provider").name,
            "xapi-accountrole-orders-provider"
        );
    }

    #[test]
    fn account_label_comes_from_role_arn() {
        let key = AccountKey {
            role_arn: Some("arn:aws-us-gov:iam::222222222222:role/path/xapi".into()),
            external_id: None,
            region: "us-gov-west-1".into(),
            session: None,
        };
        assert_eq!(key.account(), "222222222222");
        let own = AccountKey {
            role_arn: None,
            ..key
        };
        assert_eq!(own.account(), "default");
    }

    #[test]
    fn short_name_fits_elb_limits() {
        let o = Ownership {
            owner: "ns/n".into(),
            uid: "0f6a2c1e-4b7d-4e2a-9c3b-1d2e3f4a5b6c".into(),
        };
        let name = o.short_name();
        assert_eq!(name, "xapi-0f6a2c1e4b7d4e2a9c3b1d2e3f4");
        assert!(name.len() <= 32);
    }
}
