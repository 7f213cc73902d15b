//! AWS's limits on the values the operator derives from an object (tag values, descriptions,
//! policies, target addresses), checked before any call so that AWS never refuses them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

/// A tag value: at most 256 Unicode characters (EC2, ELB and API Gateway alike).
pub const TAG_VALUE_MAX: usize = 256;
/// A security group's description: at most 255 characters.
pub const SECURITY_GROUP_DESCRIPTION_MAX: usize = 255;
/// An API Gateway resource policy: at most 8,192 characters.
pub const RESOURCE_POLICY_MAX: usize = 8192;

/// `value` when it has at most `max` characters; otherwise its start, `~` and 12 hex digits of
/// its sha256, `max` characters in all, so distinct long values stay distinct.
pub fn fit(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_string();
    }
    let hash = hex::encode(&Sha256::digest(value.as_bytes())[..6]);
    let keep = max.saturating_sub(hash.len() + 1);
    let head: String = value.chars().take(keep).collect();
    format!("{head}~{hash}")
}

/// Ranges an NLB accepts as IP targets outside its own VPC: RFC 1918 and 100.64.0.0/10.
const OUTSIDE_VPC_TARGET_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

/// Whether an NLB can target `ip` when it lies outside the target group's VPC.
pub fn targetable_outside_vpc(ip: &str) -> bool {
    let Ok(addr) = ip.parse::<Ipv4Addr>() else {
        return false;
    };
    OUTSIDE_VPC_TARGET_RANGES
        .iter()
        .filter_map(|r| r.parse::<Ipv4Net>().ok())
        .any(|net| net.contains(&addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_kept() {
        assert_eq!(fit("team-a/orders", TAG_VALUE_MAX), "team-a/orders");
        let exact = "x".repeat(256);
        assert_eq!(fit(&exact, TAG_VALUE_MAX), exact);
    }

    #[test]
    fn long_values_are_shortened_with_a_hash() {
        let long = format!("{}/{}", "n".repeat(63), "a".repeat(253));
        let fitted = fit(&long, TAG_VALUE_MAX);
        assert_eq!(fitted.chars().count(), TAG_VALUE_MAX);
        assert!(fitted.starts_with("nnnn"));
        let other = fit(&format!("{long}b"), TAG_VALUE_MAX);
        assert_ne!(fitted, other, "different values keep different tags");
    }

    #[test]
    fn outside_targets_must_be_private() {
        assert!(targetable_outside_vpc("10.2.1.15"));
        assert!(targetable_outside_vpc("172.31.0.4"));
        assert!(targetable_outside_vpc("192.168.7.1"));
        assert!(targetable_outside_vpc("100.64.0.9"));
        assert!(!targetable_outside_vpc("100.128.0.1"));
        assert!(!targetable_outside_vpc("54.12.0.1"));
        assert!(!targetable_outside_vpc("not-an-ip"));
    }
}
