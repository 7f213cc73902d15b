//! Proof end to end: the chain broken one way at a time on the emulator's data plane (target
//! health from security groups and routes, deployments as snapshots, TestInvokeMethod through
//! the VPC link, the NLB, the endpoint and the private API's policy). Each break must take the
//! object out of `Ready` with the right reason, and the chain must come back once the cause is
//! gone. The routes between the VPCs are the ground's, shared by every object: one test, in its
//! own binary.

mod support;

use std::time::Duration;

use cross_account_api_operator::api::CrossAccountApi;
use serde_json::json;
use support::{ControllerProcess, condition, env, is_ready};

const READY: Duration = Duration::from_secs(240);

fn status_of(o: &CrossAccountApi) -> &cross_account_api_operator::api::CrossAccountApiStatus {
    o.status.as_ref().expect("status")
}

fn probe_status(o: &CrossAccountApi) -> Option<i32> {
    status_of(o)
        .routes
        .first()
        .and_then(|r| r.probe.as_ref())
        .and_then(|p| p.status)
}

fn has_reason(o: &CrossAccountApi, type_: &str, reason: &str) -> bool {
    condition(o, type_).is_some_and(|c| c.0 == "False" && c.1 == reason)
}

/// Replaces a private API's policy as its owner would, without deploying it.
async fn set_policy_by_hand(p: &support::Account, api_id: &str, policy: &str) {
    p.apigw
        .update_rest_api()
        .rest_api_id(api_id)
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/policy")
                .value(policy)
                .build(),
        )
        .send()
        .await
        .expect("policy changed by hand");
}

/// The status of a test invocation of `GET /health` on the edge's `{proxy+}` method.
async fn invoke_health(c: &support::Account, edge_id: &str, proxy: &str) -> i32 {
    c.apigw
        .test_invoke_method()
        .rest_api_id(edge_id)
        .resource_id(proxy)
        .http_method("GET")
        .path_with_query_string("/health")
        .send()
        .await
        .expect("test invocation")
        .status()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_proves_the_chain_and_each_break_shows() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "probe").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;

    // 1. The created chain: Ready includes Probed, and the probe got the MOCK's body through it.
    let mut obj = support::example("orders.yaml");
    obj["metadata"]["name"] = "proved".into();
    obj["spec"]["provider"]["privateApi"]["name"] = format!("proved-{ns}").into();
    support::create(&admin, &ns, &obj).await;
    let ready = support::wait_for(&admin, &ns, "proved", READY, "Ready", is_ready).await;
    let route = status_of(&ready).routes.first().expect("a route").clone();
    let probe = route.probe.clone().expect("probed");
    assert_eq!((probe.path.as_str(), probe.status), ("/health", Some(200)));
    assert!(
        probe
            .message
            .as_deref()
            .is_some_and(|m| m.contains(r#""status":"ok""#) || m.contains(r#""status": "ok""#)),
        "{probe:?}"
    );
    assert_eq!(
        condition(&ready, "Probed").map(|c| c.0),
        Some("True".to_string())
    );
    let private_id = route.private_api_id.clone().expect("private API");
    let consumer = status_of(&ready).consumer.clone().expect("consumer");
    let edge_id = consumer.regional_api_id.clone().expect("edge");

    // 2. The route between the VPCs removed: the targets fail their health checks, the object
    //    leaves Ready with TargetsUnhealthy naming AWS's reason; the route back, Ready again.
    let route_table = env("XAPI_CONSUMER_ROUTE_TABLE_ID");
    let peering = env("XAPI_PEERING_ID");
    c.ec2
        .delete_route()
        .route_table_id(&route_table)
        .destination_cidr_block("10.2.0.0/16")
        .send()
        .await
        .expect("route removed");
    let broken = support::wait_for(&admin, &ns, "proved", READY, "TargetsUnhealthy", |o| {
        has_reason(o, "LoadBalancerReady", "TargetsUnhealthy")
    })
    .await;
    let (_, _, message) = condition(&broken, "LoadBalancerReady").expect("condition");
    assert!(message.contains("Target.FailedHealthChecks"), "{message}");
    assert!(!is_ready(&broken));
    c.ec2
        .create_route()
        .route_table_id(&route_table)
        .destination_cidr_block("10.2.0.0/16")
        .vpc_peering_connection_id(&peering)
        .send()
        .await
        .expect("route restored");
    support::wait_for(&admin, &ns, "proved", READY, "Ready again", |o| {
        is_ready(o) && probe_status(o) == Some(200)
    })
    .await;

    // 3. The private API's policy pinned to another endpoint by hand, and deployed: the probe
    //    fails with API Gateway's words; the operator repairs the policy and redeploys.
    let foreign = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
             "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}}
        ]
    })
    .to_string();
    let log_start = support::emulator_log_end().await;
    set_policy_by_hand(&p, &private_id, &foreign).await;
    p.apigw
        .create_deployment()
        .rest_api_id(&private_id)
        .stage_name("prod")
        .send()
        .await
        .expect("deployed by hand");
    // The operator repairs the policy and redeploys (seen in the request log after ours); the
    // probe answers 200 again.
    let provider = env("XAPI_PROVIDER_ACCOUNT");
    support::wait_until(READY, "the policy repaired and redeployed", || async {
        let (_, log) = support::emulator_requests(log_start).await;
        let writes: Vec<String> = log
            .iter()
            .filter(|r| {
                r["account"] == provider.as_str()
                    && r["params"]["path"]
                        .as_str()
                        .is_some_and(|p| p.contains(private_id.as_str()))
            })
            .map(|r| r["operation"].as_str().unwrap_or_default().to_string())
            .filter(|o| o == "UpdateRestApi" || o == "CreateDeployment")
            .collect();
        // Ours by hand (update, deploy), then the operator's repair and a deployment after it.
        writes.len() >= 4
            && writes[2..].iter().any(|o| o == "UpdateRestApi")
            && writes.last().is_some_and(|o| o == "CreateDeployment")
    })
    .await;
    support::wait_for(&admin, &ns, "proved", READY, "repaired and probed", |o| {
        is_ready(o) && probe_status(o) == Some(200)
    })
    .await;

    // 4. A policy changed without a deployment still serves the old one (a deployment is a
    //    snapshot): a test invocation right after the change still answers 200.
    set_policy_by_hand(&p, &private_id, &foreign).await;
    let proxy = support::resource_id(&c.apigw, &edge_id, "/{proxy+}").await;
    let answer = invoke_health(&c, &edge_id, &proxy).await;
    assert_eq!(answer, 200, "the stage serves the deployed policy");
    support::wait_for(
        &admin,
        &ns,
        "proved",
        READY,
        "Ready after the repair",
        |o| is_ready(o) && probe_status(o) == Some(200),
    )
    .await;

    // 5. The edge's integration pointed at a stage that does not exist: the probe fails; the
    //    operator repairs the integration, redeploys, and the probe passes.
    let integration = c
        .apigw
        .get_integration()
        .rest_api_id(&edge_id)
        .resource_id(&proxy)
        .http_method("ANY")
        .send()
        .await
        .expect("integration");
    let uri = integration
        .uri()
        .unwrap_or_default()
        .replace("/prod/", "/nostage/");
    c.apigw
        .update_integration()
        .rest_api_id(&edge_id)
        .resource_id(&proxy)
        .http_method("ANY")
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/uri")
                .value(&uri)
                .build(),
        )
        .send()
        .await
        .expect("integration changed by hand");
    let wrong = invoke_health(&c, &edge_id, &proxy).await;
    assert_ne!(wrong, 200, "a wrong stage does not answer");
    let original = integration.uri().unwrap_or_default().to_string();
    support::wait_until(READY, "the integration repaired", || async {
        let now = c
            .apigw
            .get_integration()
            .rest_api_id(&edge_id)
            .resource_id(&proxy)
            .http_method("ANY")
            .send()
            .await
            .expect("integration");
        now.uri() == Some(original.as_str())
    })
    .await;
    support::wait_for(&admin, &ns, "proved", READY, "integration repaired", |o| {
        is_ready(o) && probe_status(o) == Some(200)
    })
    .await;

    // 6. The endpoint's security group without the consumer's CIDR (the team's own group): the
    //    targets are unhealthy and the probe fails; the team adds the rule, the chain recovers.
    let group = p
        .ec2
        .create_security_group()
        .group_name(format!("closed-{ns}"))
        .description("endpoint group without the consumer CIDR")
        .vpc_id(env("XAPI_PROVIDER_VPC_ID"))
        .send()
        .await
        .expect("team group")
        .group_id()
        .expect("id")
        .to_string();
    let mut closed = support::example("orders.yaml");
    closed["metadata"]["name"] = "closed".into();
    closed["spec"]["provider"]["privateApi"]["name"] = format!("closed-{ns}").into();
    closed["spec"]["provider"]["securityGroupIds"] = vec![group.clone()].into();
    if let Some(provider) = closed["spec"]["provider"].as_mapping_mut() {
        provider.remove("allowedCidrs");
    }
    support::create(&admin, &ns, &closed).await;
    let unhealthy = support::wait_for(&admin, &ns, "closed", READY, "TargetsUnhealthy", |o| {
        has_reason(o, "LoadBalancerReady", "TargetsUnhealthy")
            && has_reason(o, "Probed", "ProbeFailed")
    })
    .await;
    let (_, _, probed) = condition(&unhealthy, "Probed").expect("Probed");
    assert!(
        probed.contains("500") && probed.contains("Execution failed"),
        "{probed}"
    );
    let mut attempts = 0;
    loop {
        let opened = p
            .ec2
            .authorize_security_group_ingress()
            .group_id(&group)
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .cidr_ip("10.1.0.0/16")
            .send()
            .await;
        match opened {
            Ok(_) => break,
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("group not visible yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("ingress: {e:?}"),
        }
    }
    support::wait_for(
        &admin,
        &ns,
        "closed",
        READY,
        "Ready once the group allows 443",
        |o| is_ready(o) && probe_status(o) == Some(200),
    )
    .await;

    // Both go; the team's group stays.
    for name in ["proved", "closed"] {
        support::delete_and_wait(&admin, &ns, name, READY).await;
    }
    // The group is the team's: still there, and free once the endpoint has finished deleting.
    let mut attempts = 0;
    while let Err(e) = p.ec2.delete_security_group().group_id(&group).send().await {
        let code = e
            .as_service_error()
            .and_then(|s| s.meta().code())
            .unwrap_or_default();
        assert_eq!(code, "DependencyViolation", "the team's group: {e:?}");
        attempts += 1;
        assert!(attempts < 120, "the team's group stays in use");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The probes were counted.
    let metrics = support::http_get(&controller.metrics).await;
    for result in ["ok", "failed"] {
        assert!(
            metrics.lines().any(|l| l
                .starts_with(&format!("xapi_probes_total{{result=\"{result}\"}}"))
                && !l.ends_with(" 0")),
            "no {result} probe counted"
        );
    }
}
