//! The end-to-end probe: API Gateway's TestInvokeMethod on a route's `{proxy+}` method makes
//! API Gateway send a real request over the VPC link, the NLB and the endpoint to the private
//! API's deployed stage, and answer with the status, the latency and its execution log. It needs
//! no network path from the cluster and proves what `Ready` alone cannot: that a request gets
//! through (security groups, routes between the VPCs, policies, deployments, Host).

use std::time::Duration;

use crate::api::{CrossAccountApi, ProbeStatus, Route};
use crate::aws::apigateway::{ApiGateway, TestInvocation};
use crate::conditions::StepCondition;

/// The path probed after the route's path, when the route is probed at all: `probePath`, else
/// `/health` on a created API that receives it there (the operator makes that route; without
/// `stripPrefix` the API would receive `/<path>/health`), none on an adopted one.
pub fn probe_path(obj: &CrossAccountApi, route: &Route<'_>) -> Option<String> {
    let enabled = obj
        .spec
        .probe
        .as_ref()
        .and_then(|p| p.enabled)
        .unwrap_or(true);
    let api = route.private_api;
    let receives_health = route.strip_prefix || route.path == "/";
    let default = (api.id.is_none() && receives_health).then(|| "/health".to_string());
    enabled
        .then(|| api.probe_path.clone().or(default))
        .flatten()
}

/// Whether any route of the object is probed.
pub fn is_probed(obj: &CrossAccountApi) -> bool {
    obj.routes().iter().any(|r| probe_path(obj, r).is_some())
}

/// `Probed` over every probed route: the first that did not answer 2xx, else all answered.
pub fn summary(probes: &[&ProbeStatus]) -> StepCondition {
    if let Some(failed) = probes.iter().map(|p| condition(p)).find(|c| !c.ready) {
        return failed;
    }
    match probes {
        [one] => condition(one),
        _ => StepCondition::ready(
            "Probed",
            "Answered",
            probes
                .iter()
                .map(|p| {
                    format!(
                        "GET {} answered {} in {} ms",
                        p.path,
                        p.status.unwrap_or_default(),
                        p.latency_ms.unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// How often a Ready object is probed: `probe.interval`, else `fallback` (the resync interval).
pub fn interval(obj: &CrossAccountApi, fallback: Duration) -> Duration {
    obj.spec
        .probe
        .as_ref()
        .and_then(|p| p.interval.as_deref())
        .and_then(|i| humantime::parse_duration(i).ok())
        .unwrap_or(fallback)
}

/// The path requested on the edge: the route's path joined with the probe path (`/orders` +
/// `/health` → `/orders/health`; the root route: `/health`).
pub fn request_path(route: &str, probe_path: &str) -> String {
    let prefix = route.trim_end_matches('/');
    let rest = probe_path.trim_start_matches('/');
    format!("{prefix}/{rest}")
}

/// Whether to probe now: after a deployment of the edge, when the path changed, when the last
/// probe failed (so that a repair shows at once), or once `interval` has passed.
pub fn due(
    last: Option<&ProbeStatus>,
    path: &str,
    deployed: bool,
    interval: Duration,
    now: jiff::Timestamp,
) -> bool {
    let Some(last) = last else { return true };
    let passed = last.path == path && last.status.is_some_and(|s| (200..300).contains(&s));
    let checked = last.checked_at.parse::<jiff::Timestamp>().ok();
    let age = checked.and_then(|t| now.duration_since(t).try_into().ok());
    deployed || !passed || age.is_none_or(|age: Duration| age >= interval)
}

/// The line of API Gateway's execution log that says what happened: a failure when there is
/// one, else the method's completion.
pub fn decisive_line(log: &str) -> Option<String> {
    const FAILURES: [&str; 4] = [
        "Execution failed",
        "not authorized",
        "Missing Authentication Token",
        "Forbidden",
    ];
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| FAILURES.iter().any(|f| l.contains(f)))
        .or_else(|| lines.iter().rev().find(|l| l.contains("Method completed")))
        .map(|l| l.to_string())
}

/// The probe's status from TestInvokeMethod's answer.
pub fn outcome(path: &str, answer: &TestInvocation, now: jiff::Timestamp) -> ProbeStatus {
    let ok = (200..300).contains(&answer.status);
    let message = if ok {
        answer.body.clone().map(|b| b.chars().take(200).collect())
    } else {
        decisive_line(&answer.log)
            .or_else(|| answer.body.clone())
            .map(|m| m.chars().take(1000).collect())
    };
    ProbeStatus {
        path: path.to_string(),
        status: Some(answer.status),
        latency_ms: Some(answer.latency_ms),
        checked_at: now.to_string(),
        message,
    }
}

/// The `Probed` condition of one probe result.
pub fn condition(probe: &ProbeStatus) -> StepCondition {
    match probe.status {
        Some(s) if (200..300).contains(&s) => StepCondition::ready(
            "Probed",
            "Answered",
            format!(
                "GET {} answered {s} in {} ms through the chain",
                probe.path,
                probe.latency_ms.unwrap_or_default()
            ),
        ),
        Some(s) => StepCondition::not_ready(
            "Probed",
            "ProbeFailed",
            format!(
                "GET {} answered {s}: {}",
                probe.path,
                probe.message.as_deref().unwrap_or("no log line")
            ),
        ),
        None => StepCondition::not_ready(
            "Probed",
            "ProbeError",
            format!(
                "TestInvokeMethod for GET {} was refused: {}",
                probe.path,
                probe.message.as_deref().unwrap_or_default()
            ),
        ),
    }
}

/// Probes `path` through the edge's `{proxy+}` method.
pub async fn run(
    apigw: &ApiGateway,
    edge_api_id: &str,
    proxy_resource_id: &str,
    path: &str,
) -> ProbeStatus {
    let now = jiff::Timestamp::now();
    match apigw
        .test_invoke(edge_api_id, proxy_resource_id, "GET", path)
        .await
    {
        Ok(answer) => outcome(path, &answer, now),
        Err(e) => ProbeStatus {
            path: path.to_string(),
            status: None,
            latency_ms: None,
            checked_at: now.to_string(),
            message: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(yaml: &str) -> CrossAccountApi {
        serde_yaml::from_str(yaml).expect("object")
    }

    const CREATED: &str = r#"
apiVersion: apigw.crossaccount.io/v1alpha1
kind: CrossAccountApi
metadata: {name: orders, namespace: team-a}
spec:
  provider: {region: us-east-1, vpcId: vpc-0123abcd, subnetIds: [subnet-0123abcd], allowedCidrs: [10.1.0.0/16], privateApi: {stageName: prod}}
  consumer: {region: us-east-1, vpcId: vpc-4567abcd, subnetIds: [subnet-4567abcd], regionalApi: {stageName: prod}}
"#;

    fn first_probe_path(o: &CrossAccountApi) -> Option<String> {
        probe_path(o, &o.routes()[0])
    }

    #[test]
    fn created_apis_are_probed_on_health_adopted_ones_only_when_asked() {
        assert_eq!(first_probe_path(&obj(CREATED)).as_deref(), Some("/health"));
        let adopted = CREATED.replace("privateApi: {", "privateApi: {id: a1b2c3d4e5, ");
        assert_eq!(first_probe_path(&obj(&adopted)), None);
        assert!(!is_probed(&obj(&adopted)));
        let asked = adopted.replace("stageName: prod}}", "stageName: prod, probePath: /ping}}");
        assert_eq!(first_probe_path(&obj(&asked)).as_deref(), Some("/ping"));
        let off = format!("{CREATED}  probe: {{enabled: false}}\n");
        assert_eq!(first_probe_path(&obj(&off)), None);
    }

    #[test]
    fn a_created_route_keeping_its_prefix_has_no_default_probe() {
        let o = obj(CREATED);
        let api = o.spec.provider.private_api.clone().expect("short form");
        let route = |strip_prefix| Route {
            path: "/orders",
            private_api: &api,
            strip_prefix,
            field: "spec.routes[0].privateApi".into(),
        };
        assert_eq!(probe_path(&o, &route(true)).as_deref(), Some("/health"));
        assert_eq!(probe_path(&o, &route(false)), None);
    }

    #[test]
    fn probed_summarises_every_route() {
        let at = |path: &str, status| ProbeStatus {
            path: path.into(),
            status: Some(status),
            latency_ms: Some(5),
            checked_at: "2026-12-01T12:00:00Z".into(),
            message: Some("Execution failed due to configuration error: x".into()),
        };
        let (a, b) = (at("/orders/health", 200), at("/payments/health", 500));
        let both = summary(&[&a, &b]);
        assert!(
            !both.ready && both.message.contains("/payments/health"),
            "{both:?}"
        );
        let b = at("/payments/health", 200);
        let both = summary(&[&a, &b]);
        assert!(
            both.ready
                && both.message.contains("/orders/health")
                && both.message.contains("/payments/health")
        );
    }

    #[test]
    fn interval_defaults_to_the_resync() {
        let fallback = Duration::from_secs(300);
        assert_eq!(interval(&obj(CREATED), fallback), fallback);
        let every = format!("{CREATED}  probe: {{interval: 30s}}\n");
        assert_eq!(interval(&obj(&every), fallback), Duration::from_secs(30));
    }

    #[test]
    fn paths_join_route_and_probe() {
        assert_eq!(request_path("/", "/health"), "/health");
        assert_eq!(request_path("/orders", "/health"), "/orders/health");
        assert_eq!(request_path("/orders/", "health"), "/orders/health");
    }

    #[test]
    fn due_after_deploy_failure_or_interval() {
        let now: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().expect("time");
        let last = ProbeStatus {
            path: "/health".into(),
            status: Some(200),
            latency_ms: Some(12),
            checked_at: "2026-12-01T11:59:00Z".into(),
            message: None,
        };
        let minute = Duration::from_secs(60);
        let five = Duration::from_secs(300);
        assert!(due(None, "/health", false, five, now));
        assert!(!due(Some(&last), "/health", false, five, now));
        assert!(
            due(Some(&last), "/health", true, five, now),
            "after a deployment"
        );
        assert!(
            due(Some(&last), "/health", false, minute, now),
            "interval passed"
        );
        assert!(due(Some(&last), "/other", false, five, now), "another path");
        let failed = ProbeStatus {
            status: Some(403),
            ..last.clone()
        };
        assert!(due(Some(&failed), "/health", false, five, now));
    }

    #[test]
    fn failures_name_the_decisive_log_line() {
        let log = "Execution log for request 1\n\
                   Mon Dec 01 12:00:00 UTC 2026 : Starting execution for request: 1\n\
                   Mon Dec 01 12:00:00 UTC 2026 : Execution failed due to configuration error: VPC link vl1 is not available\n\
                   Mon Dec 01 12:00:00 UTC 2026 : Method completed with status: 500\n";
        let answer = TestInvocation {
            status: 500,
            latency_ms: 3,
            log: log.into(),
            body: Some(r#"{"message": "Internal server error"}"#.into()),
        };
        let now = jiff::Timestamp::UNIX_EPOCH;
        let probe = outcome("/health", &answer, now);
        assert!(
            probe
                .message
                .as_deref()
                .is_some_and(|m| m.contains("Execution failed due to configuration error")),
            "{probe:?}"
        );
        let c = condition(&probe);
        assert!(!c.ready);
        assert_eq!(c.reason, "ProbeFailed");
        let ok = outcome(
            "/health",
            &TestInvocation {
                status: 200,
                latency_ms: 41,
                log: "Method completed with status: 200".into(),
                body: Some(r#"{"status":"ok"}"#.into()),
            },
            now,
        );
        assert!(condition(&ok).ready);
        assert_eq!(ok.message.as_deref(), Some(r#"{"status":"ok"}"#));
        let refused = ProbeStatus {
            status: None,
            message: Some("TooManyRequests".into()),
            ..ok
        };
        assert_eq!(condition(&refused).reason, "ProbeError");
    }
}
