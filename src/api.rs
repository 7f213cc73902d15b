//! The `CrossAccountApi` custom resource: spec, status and the CRD generated from them.
//!
//! Everything a user can get wrong that the API server can judge is refused at `kubectl apply`
//! here, with schema patterns, bounds and CEL rules that name the field. What only AWS can
//! judge is left to the controller.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the CRD.
pub const GROUP: &str = "apigw.crossaccount.io";
/// Finalizer that guards the AWS clean-up.
pub const FINALIZER: &str = "apigw.crossaccount.io/cleanup";
/// Tag key naming the owning object as `<namespace>/<name>`.
pub const OWNER_TAG: &str = "apigw.crossaccount.io/owner";
/// Tag key holding the owning object's `metadata.uid`.
pub const UID_TAG: &str = "apigw.crossaccount.io/uid";
/// Tag key holding, on a created private API, the path of the route it serves.
pub const ROUTE_TAG: &str = "apigw.crossaccount.io/route";

/// A private REST API in a provider account served to the internet through a regional REST API
/// in a consumer account, over an NLB and a VPC link.
// Several `printcolumn(type_ = …)` in one attribute look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.crossaccount.io",
    version = "v1alpha1",
    kind = "CrossAccountApi",
    plural = "crossaccountapis",
    shortname = "xapi",
    namespaced,
    status = "CrossAccountApiStatus",
    derive = "PartialEq",
    // The owner tag holds `<namespace>/<name>` and AWS allows 256 characters in a tag value: with
    // a namespace of at most 63, a name of at most 192 always fits.
    validation = Rule::new("self.metadata.name.size() <= 192").message("metadata.name: at most 192 characters, so that <namespace>/<name> fits an AWS tag value (256)"),
    doc = "Serves a private API Gateway REST API of a provider account to the internet through a regional REST API of a consumer account (execute-api VPC endpoint, NLB, VPC link).",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Invoke URL",
        type_ = "string",
        json_path = ".status.consumer.invokeUrl"
    ),
    printcolumn(
        name = "VPC Link",
        type_ = "string",
        json_path = ".status.consumer.vpcLinkId"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!(self.provider.vpcId == self.consumer.vpcId && self.provider.region == self.consumer.region && (has(self.provider.roleArn) ? self.provider.roleArn.split(':')[4] : (has(self.provider.roleRef) ? 'ref:' + self.provider.roleRef : 'own')) == (has(self.consumer.roleArn) ? self.consumer.roleArn.split(':')[4] : (has(self.consumer.roleRef) ? 'ref:' + self.consumer.roleRef : 'own')))",
        "message": "spec.consumer.vpcId: the consumer VPC may not be the provider VPC of the same account",
        "fieldPath": ".consumer.vpcId",
    },
    {
        "rule": "!(has(self.provider.privateApi) && has(self.routes))",
        "message": "spec.routes: give either spec.provider.privateApi (one private API at /) or spec.routes, not both",
        "fieldPath": ".routes",
    },
    {
        "rule": "has(self.provider.privateApi) || has(self.routes)",
        "message": "spec.provider.privateApi or spec.routes is required: which private API(s) the edge serves",
        "fieldPath": ".provider.privateApi",
    }
]))]
pub struct CrossAccountApiSpec {
    /// The provider account (account B): hosts the private REST API(s) and the execute-api VPC endpoint.
    pub provider: ProviderSpec,
    /// Several private APIs of the provider account behind one edge, one per path, sharing the
    /// endpoint, the NLB, the VPC link and the regional API. Instead of `provider.privateApi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["path"], "x-kubernetes-validations" = route_prefix_rules()))]
    pub routes: Option<Vec<RouteSpec>>,
    /// The consumer account (account A): the public, regional edge with the NLB and the VPC link.
    pub consumer: ConsumerSpec,
    /// The end-to-end probe: API Gateway's TestInvokeMethod on the edge sends a real request over
    /// the VPC link, the NLB and the endpoint to the private API's deployed stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeSpec>,
    /// What happens to the AWS resources the operator created when this object is deleted:
    /// `Delete` (default) removes them in reverse order; `Retain` leaves them in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The end-to-end probe's settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// Whether to probe (default true). A route is probed when it has a `probePath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How often a Ready object is probed, e.g. `5m` or `30s`. Default: the operator's resync
    /// interval. Each probe is one API Gateway call (it shares the account's 10 requests/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub interval: Option<String>,
}

/// The provider side: endpoint, security group and private API.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.allowedCidrs) || has(self.securityGroupIds)",
        "message": "spec.provider: allowedCidrs or securityGroupIds must be given (who may reach the endpoint on TCP 443)",
    },
    {
        "rule": "!(has(self.allowedCidrs) && has(self.securityGroupIds))",
        "message": "spec.provider.allowedCidrs only shapes the security group the operator creates; with securityGroupIds it would be ignored",
        "fieldPath": ".allowedCidrs",
    },
    {
        "rule": "!has(self.externalId) || has(self.roleArn)",
        "message": "spec.provider.externalId is passed to sts:AssumeRole and needs roleArn",
        "fieldPath": ".externalId",
    },
    {
        "rule": "!(has(self.roleRef) && has(self.roleArn))",
        "message": "spec.provider: name an AccountRole in roleRef or give an inline roleArn, not both",
        "fieldPath": ".roleRef",
    },
    {
        "rule": "!has(self.roleArn) || self.roleArn.split(':')[1] == (self.region.startsWith('cn-') ? 'aws-cn' : (self.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws'))",
        "message": "spec.provider.roleArn: the role's partition does not match the region's",
        "fieldPath": ".roleArn",
    },
    {
        "rule": "!has(oldSelf.vpcEndpointId) || (has(self.vpcEndpointId) && self.vpcEndpointId == oldSelf.vpcEndpointId)",
        "message": "spec.provider.vpcEndpointId is immutable once set",
        "fieldPath": ".vpcEndpointId",
    },
    {
        "rule": "has(oldSelf.vpcEndpointId) || !has(self.vpcEndpointId)",
        "message": "spec.provider.vpcEndpointId cannot be added after creation: the operator already owns an endpoint",
        "fieldPath": ".vpcEndpointId",
    },
    {
        "rule": "(has(self.securityGroupIds) && size(self.securityGroupIds) > 0) == (has(oldSelf.securityGroupIds) && size(oldSelf.securityGroupIds) > 0)",
        "message": "spec.provider.securityGroupIds cannot be added or removed after creation (an endpoint keeps the groups it was made with); list other groups instead",
        "fieldPath": ".securityGroupIds",
    }
]))]
pub struct ProviderSpec {
    /// AWS region of the provider account, e.g. `us-east-1`. Immutable.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "spec.provider.region is immutable"},
        {"rule": "!self.startsWith('us-iso') && !self.startsWith('eu-iso')", "message": "spec.provider.region: only the aws, aws-cn and aws-us-gov partitions are supported"},
    ]))]
    pub region: String,
    /// The AccountRole (cluster-scoped) to act as in the provider account; it must grant this
    /// object's namespace and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub role_ref: Option<String>,
    /// An inline IAM role to assume in the provider account, accepted only when the operator
    /// runs with `--allow-inline-roles`. With neither `roleRef` nor `roleArn`: the operator's
    /// own credentials, only with `--allow-own-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(
            pattern = r"^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
        ),
        length(max = 2048)
    )]
    pub role_arn: Option<String>,
    /// External id passed to `sts:AssumeRole` for `roleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]+$"),
        length(min = 2, max = 1224)
    )]
    pub external_id: Option<String>,
    /// VPC of the execute-api endpoint (`vpc-…`). Immutable.
    #[schemars(regex(pattern = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.provider.vpcId is immutable"}]))]
    pub vpc_id: String,
    /// Subnets of the endpoint: one endpoint network interface (ENI) per subnet, 1 to 6, no duplicates.
    #[schemars(
        length(min = 1, max = 6),
        inner(regex(pattern = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub subnet_ids: Vec<String>,
    /// CIDRs allowed to reach the endpoint on TCP 443 (the consumer VPC), used for the security
    /// group the operator creates when `securityGroupIds` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50), inner(length(max = 43)))]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-validations" = [
        {"rule": "self.all(c, isCIDR(c) && cidr(c).ip().family() == 4)", "message": "spec.provider.allowedCidrs must hold IPv4 CIDRs such as 10.1.0.0/16"}
    ]))]
    pub allowed_cidrs: Option<Vec<String>>,
    /// Security groups for the endpoint (`sg-…`). Absent: the operator creates and owns one built
    /// from `allowedCidrs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 5),
        inner(regex(pattern = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub security_group_ids: Option<Vec<String>>,
    /// Adopt this existing execute-api Interface endpoint (`vpce-…`) instead of creating one.
    /// Adopted endpoints are never deleted. Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^vpce-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    pub vpc_endpoint_id: Option<String>,
    /// Enable private DNS on a created endpoint. Default false: private DNS on an execute-api
    /// endpoint takes over *.execute-api DNS for the whole provider VPC, and the chain does not need it.
    #[serde(default)]
    pub private_dns_enabled: bool,
    /// The short form: one private REST API (adopted by `id`, or created) served at `/` of the
    /// edge. Instead of `spec.routes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_api: Option<PrivateApiSpec>,
}

/// One private API behind one path of the edge.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// Path on the edge: `/` (everything no other route matches) or `/<segment>[/<segment>…]`
    /// with letters, digits, `.`, `_` and `-`.
    #[schemars(
        regex(pattern = r"^/([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$"),
        length(max = 200)
    )]
    pub path: String,
    /// The private REST API behind the path: adopted by `id`, or created.
    pub private_api: PrivateApiSpec,
    /// Default true: `/orders/items/1` reaches the private API as `/items/1`. False: as
    /// `/orders/items/1`.
    #[serde(default = "strip_by_default")]
    pub strip_prefix: bool,
}

/// "No route's path is a segment-prefix of another's", one rule per position so that the
/// message names the field (a `messageExpression` would: but even a trivial one makes the
/// API server's cost estimate for the whole schema exceed its budget).
fn route_prefix_rules() -> serde_json::Value {
    (0..MAX_ROUTES)
        .map(|i| {
            serde_json::json!({
                "rule": format!("size(self) <= {i} || self[{i}].path == '/' || !self.exists(b, b.path.startsWith(self[{i}].path + '/'))"),
                "message": format!("spec.routes[{i}].path is a segment-prefix of another route's path (as /orders is of /orders/v1); only / may be"),
            })
        })
        .collect()
}

/// At most this many routes on one edge.
pub const MAX_ROUTES: usize = 25;

fn strip_by_default() -> bool {
    true
}

/// The private REST API in the provider account.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.id) == has(oldSelf.id) && (!has(self.id) || self.id == oldSelf.id)",
        "message": "privateApi.id is immutable: adopt another API with a new object or route",
        "fieldPath": ".id",
    },
    {
        "rule": "!(has(self.id) && has(self.name))",
        "message": "privateApi.name is only for a created API; an adopted API (id) keeps its own name",
        "fieldPath": ".name",
    }
]))]
pub struct PrivateApiSpec {
    /// Adopt this existing private REST API (its 10-character id). Absent: the operator creates
    /// one. Adopted APIs are never deleted. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]{10}$"))]
    pub id: Option<String>,
    /// Name of a created API. Default `<namespace>-<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$"))]
    pub name: Option<String>,
    /// Stage the API is deployed to (letters, digits, `_`; at most 128).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_]{1,128}$"))]
    pub stage_name: String,
    /// Path the end-to-end probe requests after the route's path on the edge, e.g. `/health`
    /// (a GET that answers 2xx without credentials). Default `/health` on a created API that
    /// receives it there (the operator makes that route; a route with `stripPrefix: false` has
    /// no default), none on an adopted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$"),
        length(max = 1024)
    )]
    pub probe_path: Option<String>,
}

/// The consumer side: NLB, VPC link and the regional REST API.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.externalId) || has(self.roleArn)",
        "message": "spec.consumer.externalId is passed to sts:AssumeRole and needs roleArn",
        "fieldPath": ".externalId",
    },
    {
        "rule": "!(has(self.roleRef) && has(self.roleArn))",
        "message": "spec.consumer: name an AccountRole in roleRef or give an inline roleArn, not both",
        "fieldPath": ".roleRef",
    },
    {
        "rule": "!has(self.roleArn) || self.roleArn.split(':')[1] == (self.region.startsWith('cn-') ? 'aws-cn' : (self.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws'))",
        "message": "spec.consumer.roleArn: the role's partition does not match the region's",
        "fieldPath": ".roleArn",
    },
    {
        "rule": "!has(self.regionalApi.authorizer) || self.regionalApi.authorizer.lambdaArn.split(':')[3] == self.region",
        "message": "spec.consumer.regionalApi.authorizer.lambdaArn must be a function in the consumer's region",
        "fieldPath": ".regionalApi.authorizer.lambdaArn",
    }
]))]
pub struct ConsumerSpec {
    /// AWS region of the consumer account, e.g. `us-east-1`. Immutable.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "spec.consumer.region is immutable"},
        {"rule": "!self.startsWith('us-iso') && !self.startsWith('eu-iso')", "message": "spec.consumer.region: only the aws, aws-cn and aws-us-gov partitions are supported"},
    ]))]
    pub region: String,
    /// The AccountRole (cluster-scoped) to act as in the consumer account; it must grant this
    /// object's namespace and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub role_ref: Option<String>,
    /// An inline IAM role to assume in the consumer account, accepted only when the operator
    /// runs with `--allow-inline-roles`. With neither `roleRef` nor `roleArn`: the operator's
    /// own credentials, only with `--allow-own-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(
            pattern = r"^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
        ),
        length(max = 2048)
    )]
    pub role_arn: Option<String>,
    /// External id passed to `sts:AssumeRole` for `roleArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]+$"),
        length(min = 2, max = 1224)
    )]
    pub external_id: Option<String>,
    /// VPC of the internal NLB (`vpc-…`); it must route to the provider endpoint's IPs. Immutable.
    #[schemars(regex(pattern = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.consumer.vpcId is immutable"}]))]
    pub vpc_id: String,
    /// Subnets of the internal NLB, 1 to 6, no duplicates. Immutable (an NLB cannot leave a subnet).
    #[schemars(
        length(min = 1, max = 6),
        inner(regex(pattern = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "spec.consumer.subnetIds is immutable: an NLB cannot leave its subnets"}
    ]))]
    pub subnet_ids: Vec<String>,
    /// The public, regional REST API.
    pub regional_api: RegionalApiSpec,
}

/// The regional REST API in the consumer account.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionalApiSpec {
    /// Name of the regional API. Default `<namespace>-<name>-edge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$"))]
    pub name: Option<String>,
    /// Stage the API is deployed to (letters, digits, `_`; at most 128).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_]{1,128}$"))]
    pub stage_name: String,
    /// A Lambda authorizer on the proxy methods. Absent: the methods are open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<AuthorizerSpec>,
}

/// A Lambda authorizer (CUSTOM authorization) on `ANY /` and `ANY /{proxy+}`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.identitySource) || (has(self.type) && self.type == 'REQUEST') || self.identitySource.matches('^method[.]request[.]header[.][A-Za-z0-9._$-]+$')",
        "message": "spec.consumer.regionalApi.authorizer.identitySource: a TOKEN authorizer takes exactly one method.request.header.<name>",
        "fieldPath": ".identitySource",
    },
    {
        "rule": "self.lambdaArn.split(':')[1] == (self.lambdaArn.split(':')[3].startsWith('cn-') ? 'aws-cn' : (self.lambdaArn.split(':')[3].startsWith('us-gov-') ? 'aws-us-gov' : 'aws'))",
        "message": "spec.consumer.regionalApi.authorizer.lambdaArn: the ARN's partition does not match its region",
        "fieldPath": ".lambdaArn",
    }
]))]
pub struct AuthorizerSpec {
    /// ARN of the authorizer Lambda function (same region as the consumer).
    #[schemars(regex(
        pattern = r"^arn:(aws|aws-cn|aws-us-gov):lambda:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
    ))]
    pub lambda_arn: String,
    /// `TOKEN` (default: the identity is one header) or `REQUEST` (headers, query, context).
    #[serde(default, rename = "type")]
    pub type_: AuthorizerType,
    /// Where the identity comes from. Default `method.request.header.Authorization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(method\.request\.(header|querystring|multivalueheader|multivaluequerystring)\.|stageVariables\.|context\.)[A-Za-z0-9._$-]+(,\s*(method\.request\.(header|querystring|multivalueheader|multivaluequerystring)\.|stageVariables\.|context\.)[A-Za-z0-9._$-]+)*$"
    ))]
    pub identity_source: Option<String>,
    /// How long API Gateway caches the authorizer's answer, 0 to 3600 seconds. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub result_ttl_seconds: Option<i32>,
}

/// Lambda authorizer type.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AuthorizerType {
    /// The identity is a single token from `identitySource`.
    #[default]
    #[serde(rename = "TOKEN")]
    Token,
    /// The authorizer receives the request's headers, query string and context.
    #[serde(rename = "REQUEST")]
    Request,
}

/// One route as the controller serves it, from either form of the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Route<'a> {
    /// Path on the edge.
    pub path: &'a str,
    /// The private API behind it.
    pub private_api: &'a PrivateApiSpec,
    /// Whether the edge strips the path before the private API sees the request.
    pub strip_prefix: bool,
    /// The spec field of its private API, for errors: `spec.provider.privateApi` or
    /// `spec.routes[2].privateApi`.
    pub field: String,
}

impl Route<'_> {
    /// Whether the operator created (and owns) the private API.
    pub fn creates_api(&self) -> bool {
        self.private_api.id.is_none()
    }
}

/// What happens to created AWS resources when the object is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete what the operator created, in reverse order.
    #[default]
    Delete,
    /// Keep everything; only the finalizer is removed.
    Retain,
}

/// Observed state: every id, IP and URL, and one condition per step.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossAccountApiStatus {
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and one condition per step: EndpointReady, PrivateApiReady, LoadBalancerReady,
    /// VpcLinkReady, RegionalApiReady.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Provider-side ids and addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderStatus>,
    /// Consumer-side ids, targets and URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ConsumerStatus>,
    /// One entry per route of the edge (the short form has one, path `/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["path"]))]
    pub routes: Vec<RouteStatus>,
}

/// One route of the edge: the private API behind a path.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// The path on the edge, `/` or `/<prefix>`.
    pub path: String,
    /// The private API served there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_api_id: Option<String>,
    /// Its own invoke URL (reachable only through the endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_api_invoke_url: Option<String>,
    /// The public URL of this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_url: Option<String>,
    /// The private API's deployment made by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentStatus>,
    /// Whether the route is served.
    pub ready: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last end-to-end probe of this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeStatus>,
    /// On an adopted private API: whether the operator added its endpoint to the API's existing
    /// `aws:SourceVpce` deny-list (and so removes it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_to_deny_list: Option<bool>,
}

/// What the last probe of a route answered.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStatus {
    /// The path requested on the edge, e.g. `/health`.
    pub path: String,
    /// HTTP status API Gateway got back through the chain; absent when the call was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// Latency API Gateway measured, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// When (RFC 3339).
    pub checked_at: String,
    /// The decisive line of API Gateway's execution log, or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Provider-side observed state.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The execute-api Interface endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint_id: Option<String>,
    /// The security group the operator owns (absent when `securityGroupIds` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_id: Option<String>,
    /// Private IPv4 addresses of the endpoint's network interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_ips: Vec<String>,
    /// The private REST API (the short form only; see `routes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_api_id: Option<String>,
    /// `https://<id>.execute-api.<region>.amazonaws.com/<stage>` (the short form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_api_invoke_url: Option<String>,
}

/// Consumer-side observed state.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerStatus {
    /// The IP target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// The internal Network Load Balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    /// DNS name of the NLB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_dns_name: Option<String>,
    /// The TCP 443 listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
    /// What the target group holds, with DescribeTargetHealth's view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetStatus>,
    /// The REST VPC link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_link_id: Option<String>,
    /// PENDING, AVAILABLE, DELETING or FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_link_status: Option<String>,
    /// The regional REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regional_api_id: Option<String>,
    /// The public URL: `https://<id>.execute-api.<region>.amazonaws.com/<stage>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_url: Option<String>,
    /// Deployment of the regional API's stage that the operator made for its current configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentStatus>,
}

/// One registered target of the NLB's target group.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// Target IP address (an endpoint ENI).
    pub ip: String,
    /// `all` for an address outside the consumer VPC, else the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// initial, healthy, unhealthy, unused, draining or unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// AWS's reason code when not healthy, e.g. `Target.Timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The deployment the operator last made on a stage, and the configuration hash it was made for.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Deployment id.
    pub id: String,
    /// Hash of the API's effective configuration at that deployment.
    pub config_hash: String,
}

/// The conditions that are True once the object is Ready, `Ready` first (beside them, the
/// kstatus conditions `Reconciling` and `Stalled` are then False).
pub const CONDITION_TYPES: [&str; 7] = [
    "Ready",
    "EndpointReady",
    "PrivateApiReady",
    "LoadBalancerReady",
    "VpcLinkReady",
    "RegionalApiReady",
    "Probed",
];

impl CrossAccountApi {
    /// Whether the last reconcile found every step done for the current generation: a
    /// reconcile now only confirms (or repairs drift).
    pub fn was_ready(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.observed_generation == self.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    }

    /// `<namespace>/<name>`, the value of the owner tag.
    pub fn owner_ref(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }

    /// The routes of the edge, from either form: the short form is one route at `/`.
    pub fn routes(&self) -> Vec<Route<'_>> {
        if let Some(api) = &self.spec.provider.private_api {
            return vec![Route {
                path: "/",
                private_api: api,
                strip_prefix: true,
                field: "spec.provider.privateApi".into(),
            }];
        }
        self.spec
            .routes
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| Route {
                path: &r.path,
                private_api: &r.private_api,
                strip_prefix: r.strip_prefix,
                field: format!("spec.routes[{i}].privateApi"),
            })
            .collect()
    }

    /// Name of a created private API: `privateApi.name`, else `<namespace>-<name>` for `/` and
    /// `<namespace>-<name>-<path with - for />` for another route.
    pub fn private_api_name(&self, route: &Route<'_>) -> String {
        route.private_api.name.clone().unwrap_or_else(|| {
            let base = self.owner_ref().replace('/', "-");
            match route.path.trim_matches('/') {
                "" => base,
                path => format!("{base}-{}", path.replace('/', "-")),
            }
        })
    }

    /// Name of the regional API: `regionalApi.name` or `<namespace>-<name>-edge`.
    pub fn regional_api_name(&self) -> String {
        self.spec
            .consumer
            .regional_api
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-edge", self.owner_ref().replace('/', "-")))
    }
}

/// The CRD as YAML: what `cross-account-api-operator crd` prints and `crds/` holds.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&CrossAccountApi::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_has_names_columns_and_status_subresource() {
        use kube::CustomResourceExt;
        let crd = CrossAccountApi::crd();
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["xapi".to_string()][..])
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        let columns: Vec<_> = version
            .additional_printer_columns
            .as_ref()
            .map(|c| c.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            columns,
            ["Ready", "Reason", "Invoke URL", "VPC Link", "Age"]
        );
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }

    #[test]
    fn default_names_follow_namespace_and_name() {
        let mut obj: CrossAccountApi = serde_yaml::from_str(
            r#"
apiVersion: apigw.crossaccount.io/v1alpha1
kind: CrossAccountApi
metadata: {name: orders, namespace: team-a}
spec:
  provider: {region: us-east-1, vpcId: vpc-0123abcd, subnetIds: [subnet-0123abcd], allowedCidrs: [10.1.0.0/16], privateApi: {stageName: prod}}
  consumer: {region: us-east-1, vpcId: vpc-4567abcd, subnetIds: [subnet-4567abcd], regionalApi: {stageName: prod}}
"#,
        )
        .expect("fixture parses");
        let routes = obj.routes();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].path, "/");
        assert_eq!(obj.private_api_name(&routes[0]), "team-a-orders");
        let route = Route {
            path: "/orders/v1",
            ..routes[0].clone()
        };
        assert_eq!(obj.private_api_name(&route), "team-a-orders-orders-v1");
        assert_eq!(obj.regional_api_name(), "team-a-orders-edge");
        assert_eq!(obj.spec.deletion_policy, DeletionPolicy::Delete);
        obj.spec.consumer.regional_api.name = Some("edge".into());
        assert_eq!(obj.regional_api_name(), "edge");
    }
}
