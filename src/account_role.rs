//! The cluster-scoped `AccountRole`: a cluster admin's grant of one IAM role (one AWS account) to
//! some namespaces and regions. A `CrossAccountApi` names it with `roleRef`; the operator acts in
//! that account for the object only while the grant covers the object's namespace and region.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use kube::core::{Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::partition::Partition;

/// Grants one IAM role to namespaces: which namespaces may name it in `roleRef`, in which regions.
// Several `printcolumn(type_ = …)` in one attribute look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "apigw.crossaccount.io",
    version = "v1alpha1",
    kind = "AccountRole",
    plural = "accountroles",
    shortname = "xrole",
    status = "AccountRoleStatus",
    derive = "PartialEq",
    doc = "An IAM role (one AWS account) that a cluster admin grants to namespaces: their CrossAccountApis may name it in spec.provider.roleRef or spec.consumer.roleRef.",
    printcolumn(name = "Role ARN", type_ = "string", json_path = ".spec.roleArn"),
    printcolumn(name = "Account", type_ = "string", json_path = ".status.accountId"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AccountRoleSpec {
    /// The IAM role the operator assumes for the granted namespaces' objects.
    #[schemars(
        regex(
            pattern = r"^arn:(aws|aws-cn|aws-us-gov):iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
        ),
        length(max = 2048)
    )]
    pub role_arn: String,
    /// External id passed to `sts:AssumeRole`; set by the admin, never seen by tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9+=,.@:/_-]+$"),
        length(min = 2, max = 1224)
    )]
    pub external_id: Option<String>,
    /// Namespaces that may use this role. The grant is the union of `namespaces` and
    /// `namespaceSelector`; with neither, no namespace may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 256),
        inner(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub namespaces: Option<Vec<String>>,
    /// Namespaces whose labels match may use this role (Kubernetes label-selector rules: an
    /// empty selector `{}` matches every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",
            "message": "spec.namespaceSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist",
        },
        {
            "rule": "!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",
            "message": "spec.namespaceSelector.matchExpressions: In and NotIn need values, Exists and DoesNotExist take none",
        },
    ]))]
    pub namespace_selector: Option<LabelSelector>,
    /// Regions the role may be used in. Absent: any region of the role's partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 64),
        inner(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"), length(max = 32))
    )]
    #[schemars(extend("x-kubernetes-list-type" = "set", "x-kubernetes-validations" = [
        {"rule": "self.all(r, !r.startsWith('us-iso') && !r.startsWith('eu-iso'))", "message": "spec.regions: only the aws, aws-cn and aws-us-gov partitions are supported"},
    ]))]
    pub regions: Option<Vec<String>>,
}

/// The operator's own check that it can assume the role.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountRoleStatus {
    /// The generation of the spec last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The account the role's session answered for (`sts:GetCallerIdentity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `Ready`: `Assumed`, or AWS's code (`AccessDenied`) with its message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Why a grant does not cover an object (the message of `RoleNotPermitted`).
pub fn refusal(
    role: &AccountRole,
    namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
    region: &str,
) -> Option<String> {
    let name = role.metadata.name.as_deref().unwrap_or_default();
    let spec = &role.spec;
    let listed = spec.namespaces.iter().flatten().any(|n| n == namespace);
    let selected = match (&spec.namespace_selector, namespace_labels) {
        (Some(selector), Some(labels)) => Selector::try_from(selector.clone())
            .map(|s| s.matches(labels))
            // A selector Kubernetes would refuse grants nothing.
            .unwrap_or(false),
        _ => false,
    };
    if !listed && !selected {
        return Some(format!(
            "AccountRole {name} is not granted to namespace {namespace}"
        ));
    }
    if let Some(regions) = &spec.regions
        && !regions.iter().any(|r| r == region)
    {
        return Some(format!(
            "AccountRole {name} is not granted in region {region} (regions: {})",
            regions.join(", ")
        ));
    }
    let role_partition = spec.role_arn.split(':').nth(1).unwrap_or_default();
    match Partition::of(region) {
        Some(p) if p.name() == role_partition => None,
        _ => Some(format!(
            "AccountRole {name} is a role of partition {role_partition}, not of region {region}'s"
        )),
    }
}

/// The CRD as YAML: what `crds/accountrole.yaml` holds.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&AccountRole::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(yaml: &str) -> AccountRole {
        serde_yaml::from_str(&format!(
            "apiVersion: apigw.crossaccount.io/v1alpha1\nkind: AccountRole\nmetadata: {{name: orders}}\nspec:\n{yaml}"
        ))
        .expect("fixture parses")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn crd_is_cluster_scoped_with_its_columns() {
        use kube::CustomResourceExt;
        let crd = AccountRole::crd();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.spec.names.short_names, Some(vec!["xrole".to_string()]));
        let columns: Vec<String> = crd.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(columns, ["Role ARN", "Account", "Ready", "Age"]);
    }

    #[test]
    fn a_listed_namespace_is_granted() {
        let r = role("  roleArn: arn:aws:iam::222222222222:role/x\n  namespaces: [team-a]\n");
        assert_eq!(refusal(&r, "team-a", None, "us-east-1"), None);
        let refused = refusal(&r, "team-b", Some(&labels(&[])), "us-east-1");
        assert_eq!(
            refused.as_deref(),
            Some("AccountRole orders is not granted to namespace team-b")
        );
    }

    #[test]
    fn a_selected_namespace_is_granted() {
        let r = role(
            "  roleArn: arn:aws:iam::222222222222:role/x\n  namespaceSelector: {matchLabels: {xapi/provider: orders}}\n",
        );
        let team = labels(&[("xapi/provider", "orders")]);
        assert_eq!(refusal(&r, "team-a", Some(&team), "us-east-1"), None);
        assert!(refusal(&r, "team-a", Some(&labels(&[])), "us-east-1").is_some());
        // A namespace the operator has not seen has no labels to match.
        assert!(refusal(&r, "team-a", None, "us-east-1").is_some());
    }

    #[test]
    fn neither_list_nor_selector_grants_nothing() {
        let r = role("  roleArn: arn:aws:iam::222222222222:role/x\n");
        assert!(refusal(&r, "team-a", Some(&labels(&[("a", "b")])), "us-east-1").is_some());
    }

    #[test]
    fn regions_and_partition_bound_the_grant() {
        let r = role(
            "  roleArn: arn:aws:iam::222222222222:role/x\n  namespaces: [team-a]\n  regions: [us-east-1]\n",
        );
        assert_eq!(refusal(&r, "team-a", None, "us-east-1"), None);
        assert!(
            refusal(&r, "team-a", None, "eu-west-1")
                .is_some_and(|m| m.contains("region eu-west-1"))
        );
        let open = role("  roleArn: arn:aws:iam::222222222222:role/x\n  namespaces: [team-a]\n");
        assert!(
            refusal(&open, "team-a", None, "cn-north-1")
                .is_some_and(|m| m.contains("partition aws"))
        );
    }
}
