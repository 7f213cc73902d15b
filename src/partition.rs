//! AWS partitions, derived from the region: the DNS suffix of execute-api names, the endpoint
//! service name of the execute-api Interface endpoint, and the partition of ARNs.
//!
//! Only `aws`, `aws-cn` and `aws-us-gov` are supported; the CRD refuses other regions at apply
//! time, and [`Partition::of`] answers `None` for them so no code path builds a wrong name.

/// One supported partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    /// Commercial regions.
    Aws,
    /// China (Beijing, Ningxia).
    AwsCn,
    /// AWS GovCloud (US).
    AwsUsGov,
}

/// Region prefixes of partitions the operator does not support (ISO regions and the like).
pub const UNSUPPORTED_REGION_PREFIXES: &[&str] = &["us-iso", "eu-iso"];

impl Partition {
    /// The partition of `region`; `None` for a partition the operator does not support.
    pub fn of(region: &str) -> Option<Partition> {
        if UNSUPPORTED_REGION_PREFIXES
            .iter()
            .any(|p| region.starts_with(p))
        {
            None
        } else if region.starts_with("cn-") {
            Some(Partition::AwsCn)
        } else if region.starts_with("us-gov-") {
            Some(Partition::AwsUsGov)
        } else {
            Some(Partition::Aws)
        }
    }

    /// The partition as it appears in ARNs.
    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }

    /// DNS suffix of service names.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
        }
    }

    /// Prefix of VPC endpoint service names (`cn.com.amazonaws` in China).
    fn endpoint_service_prefix(self) -> &'static str {
        match self {
            Partition::AwsCn => "cn.com.amazonaws",
            Partition::Aws | Partition::AwsUsGov => "com.amazonaws",
        }
    }
}

/// The partition of a region the schema admitted; regions of other partitions cannot reach the
/// controller (CEL refuses them), so they fall back to `aws` rather than failing here.
fn partition(region: &str) -> Partition {
    Partition::of(region).unwrap_or(Partition::Aws)
}

/// Partition name of `region` for ARNs, e.g. `aws-cn`.
pub fn arn_partition(region: &str) -> &'static str {
    partition(region).name()
}

/// Service name of API Gateway's Interface endpoint, e.g. `com.amazonaws.us-east-1.execute-api`.
pub fn execute_api_service(region: &str) -> String {
    format!(
        "{}.{region}.execute-api",
        partition(region).endpoint_service_prefix()
    )
}

/// The execute-api host of an API: `<id>.execute-api.<region>.<suffix>`.
pub fn execute_api_host(api_id: &str, region: &str) -> String {
    format!(
        "{api_id}.execute-api.{region}.{}",
        partition(region).dns_suffix()
    )
}

/// `https://<execute-api host>/<stage>`.
pub fn invoke_url(api_id: &str, region: &str, stage: &str) -> String {
    format!("https://{}/{stage}", execute_api_host(api_id, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commercial() {
        assert_eq!(Partition::of("us-east-1"), Some(Partition::Aws));
        assert_eq!(
            execute_api_service("eu-west-1"),
            "com.amazonaws.eu-west-1.execute-api"
        );
        assert_eq!(
            invoke_url("a1b2c3d4e5", "us-east-1", "prod"),
            "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert_eq!(arn_partition("ap-southeast-2"), "aws");
    }

    #[test]
    fn china() {
        assert_eq!(Partition::of("cn-north-1"), Some(Partition::AwsCn));
        assert_eq!(
            execute_api_service("cn-northwest-1"),
            "cn.com.amazonaws.cn-northwest-1.execute-api"
        );
        assert_eq!(
            invoke_url("a1b2c3d4e5", "cn-north-1", "v1"),
            "https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/v1"
        );
        assert_eq!(arn_partition("cn-north-1"), "aws-cn");
    }

    #[test]
    fn govcloud() {
        assert_eq!(Partition::of("us-gov-west-1"), Some(Partition::AwsUsGov));
        assert_eq!(
            execute_api_service("us-gov-west-1"),
            "com.amazonaws.us-gov-west-1.execute-api"
        );
        assert_eq!(
            execute_api_host("a1b2c3d4e5", "us-gov-east-1"),
            "a1b2c3d4e5.execute-api.us-gov-east-1.amazonaws.com"
        );
        assert_eq!(arn_partition("us-gov-east-1"), "aws-us-gov");
    }

    #[test]
    fn other_partitions_are_refused() {
        assert_eq!(Partition::of("us-iso-east-1"), None);
        assert_eq!(Partition::of("us-isob-east-1"), None);
        assert_eq!(Partition::of("eu-isoe-west-1"), None);
    }
}
