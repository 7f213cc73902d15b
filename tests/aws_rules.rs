//! The operator held to AWS's real rules that the emulator enforces: answers lost after AWS
//! acted, EC2's eventual consistency, client tokens, ENIs that come and go with subnets,
//! AssumeRole refusals, half-made routes and the limits of adopted APIs. These change the
//! emulator's global settings, so they run as one test in their own binary. Results are read
//! back with each account's own credentials and from the emulator's request log.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use cross_account_api_operator::api::CrossAccountApi;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::{ControllerProcess, EmulatorSettings, condition, env, is_ready};

const READY: Duration = Duration::from_secs(240);

fn uid(obj: &CrossAccountApi) -> String {
    obj.metadata.uid.clone().expect("uid")
}

/// Faults the emulator injected so far, per "service:Operation:kind".
async fn injected() -> HashMap<String, u64> {
    let faults = support::emulator_json("/_xapi/faults").await;
    faults["by_operation"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

fn op(r: &Value) -> &str {
    r["operation"].as_str().unwrap_or_default()
}

/// Deletes the API's stage `prod` by hand.
async fn delete_stage(apigw: &aws_sdk_apigateway::Client, api_id: &str) {
    apigw
        .delete_stage()
        .rest_api_id(api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("stage deleted by hand");
}

/// Waits until the API's stage `prod` exists again.
async fn deployed_again(apigw: &aws_sdk_apigateway::Client, api_id: &str) {
    support::wait_until(READY, "the private API deployed again", || async {
        apigw
            .get_stage()
            .rest_api_id(api_id)
            .stage_name("prod")
            .send()
            .await
            .is_ok()
    })
    .await;
}

/// The writes (operation, HTTP status) to one REST API in a stretch of the request log.
fn writes_on<'a>(log: &'a [Value], api_id: &str) -> Vec<(&'a str, u64)> {
    let on_api = format!("/restapis/{api_id}/");
    log.iter()
        .filter(|r| {
            r["params"]["path"]
                .as_str()
                .is_some_and(|p| p.contains(&on_api))
        })
        .filter(|r| !op(r).starts_with("Get") && op(r) != "DeleteStage")
        .map(|r| (op(r), r["status"].as_u64().unwrap_or(0)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn held_to_aws_rules() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "aws-rules").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let api = Api::<CrossAccountApi>::namespaced(admin.clone(), &ns);
    let scale: f64 = env("XAPI_EMU_TIME_SCALE").parse().unwrap_or(1.0);
    let secs = |s: f64| s / scale; // emulator waits are given at time scale 1
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;

    // 1. Answers lost after AWS acted (CreateSecurityGroup, CreateVpcLink) while EC2 hides what
    //    is new for a second: one of each resource, no long backoff.
    let lost = {
        let _settings = EmulatorSettings::set(json!({
            "waits": {"ec2_consistency": secs(1.0)},
            "faults": {
                "ec2": {"drop_after_rate": 1.0, "operations": ["CreateSecurityGroup"], "limit": 1},
                "apigateway": {"drop_after_rate": 1.0, "operations": ["CreateVpcLink"], "limit": 1},
            }
        }))
        .await;
        let before = injected().await;
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "lost".into();
        support::create(&admin, &ns, &obj).await;
        let ready = support::wait_for(&admin, &ns, "lost", READY, "Ready", is_ready).await;
        let after = injected().await;
        for fault in [
            "ec2:CreateSecurityGroup:drop_after",
            "apigateway:CreateVpcLink:drop_after",
        ] {
            assert_eq!(
                after.get(fault).copied().unwrap_or(0) - before.get(fault).copied().unwrap_or(0),
                1,
                "the test injected {fault}"
            );
        }
        let kinds = support::tagged_kinds(&uid(&ready)).await;
        for (kind, n) in [
            ("security group", 1),
            ("endpoint", 1),
            ("vpc link", 1),
            ("rest api", 2),
        ] {
            assert_eq!(kinds.get(kind).copied(), Some(n), "{kind}: {kinds:?}");
        }
        ready
    };

    // 2. The created private API's GET /health loses its integration (a half-made route), and
    //    its stage is deleted, so the API must be deployed again: the operator completes the
    //    route before that deployment, which API Gateway would otherwise refuse.
    let private_id = lost
        .status
        .as_ref()
        .and_then(|s| s.provider.as_ref())
        .and_then(|p| p.private_api_id.clone())
        .expect("private API id");
    let health = support::resource_id(&p.apigw, &private_id, "/health").await;
    p.apigw
        .delete_integration()
        .rest_api_id(&private_id)
        .resource_id(&health)
        .http_method("GET")
        .send()
        .await
        .expect("integration deleted by hand");
    let repair_start = support::emulator_log_end().await;
    delete_stage(&p.apigw, &private_id).await;
    support::wait_until(READY, "GET /health completed again", || async {
        let method = p
            .apigw
            .get_method()
            .rest_api_id(&private_id)
            .resource_id(&health)
            .http_method("GET")
            .send()
            .await
            .expect("GET /health");
        let integration = method.method_integration();
        integration.and_then(|i| i.r#type()).map(|t| t.as_str()) == Some("MOCK")
            && integration
                .and_then(|i| i.integration_responses())
                .is_some_and(|r| r.contains_key("200"))
    })
    .await;
    deployed_again(&p.apigw, &private_id).await;
    let (_, log) = support::emulator_requests(repair_start).await;
    let writes = writes_on(&log, &private_id);
    let first = |name: &str| writes.iter().position(|(o, s)| *o == name && *s < 300);
    assert!(
        matches!((first("PutIntegration"), first("CreateDeployment")), (Some(a), Some(b)) if a < b),
        "the route completed before the deployment: {writes:?}"
    );
    assert!(
        writes.iter().all(|(_, s)| *s < 300),
        "no write refused: {writes:?}"
    );

    // 2b. GET /health gone whole, and the stage with it, while CreateResource's answer is lost
    //     after API Gateway made the resource: the retry's conflict finds it, so the API keeps one
    //     /health, complete and deployed, in one pass without an error.
    {
        let _settings = EmulatorSettings::set(json!({"faults": {"apigateway": {
            "drop_after_rate": 1.0, "operations": ["CreateResource"], "limit": 1
        }}}))
        .await;
        let before = injected().await;
        let errors = "xapi_reconciles_total{result=\"error\"}";
        let errors_before = controller.metric(errors).await;
        let start = support::emulator_log_end().await;
        p.apigw
            .delete_resource()
            .rest_api_id(&private_id)
            .resource_id(&health)
            .send()
            .await
            .expect("resource deleted by hand");
        delete_stage(&p.apigw, &private_id).await;
        deployed_again(&p.apigw, &private_id).await;
        let fault = "apigateway:CreateResource:drop_after";
        let after = injected().await;
        assert_eq!(
            after.get(fault).copied().unwrap_or(0) - before.get(fault).copied().unwrap_or(0),
            1,
            "the test injected {fault}"
        );
        let resources = p
            .apigw
            .get_resources()
            .rest_api_id(&private_id)
            .embed("methods")
            .send()
            .await
            .expect("resources");
        let healths: Vec<_> = resources
            .items()
            .iter()
            .filter(|r| r.path() == Some("/health"))
            .collect();
        assert_eq!(healths.len(), 1, "one /health: {healths:?}");
        let integration = healths[0]
            .resource_methods()
            .and_then(|m| m.get("GET"))
            .and_then(|m| m.method_integration());
        assert_eq!(
            integration.and_then(|i| i.r#type()).map(|t| t.as_str()),
            Some("MOCK")
        );
        let (_, log) = support::emulator_requests(start).await;
        let creates: Vec<u64> = writes_on(&log, &private_id)
            .into_iter()
            .filter(|(o, _)| *o == "CreateResource")
            .map(|(_, s)| s)
            .collect();
        // The log has no status for an answer that was dropped.
        assert_eq!(creates, [0, 409], "made once, then its retry refused");
        assert_eq!(
            controller.metric(errors).await,
            errors_before,
            "the conflict ended no reconcile in an error"
        );
    }

    // 3. The provider's subnets change (b → c): one pass without an error, and the new target is
    //    registered before the stale one is deregistered.
    let vpc = env("XAPI_PROVIDER_VPC_ID");
    // A third subnet (kept from an earlier run of this test on the same ground, if any).
    let existing = p
        .ec2
        .describe_subnets()
        .filters(filter("vpc-id", &vpc))
        .filters(filter("cidr-block", "10.2.3.0/24"))
        .send()
        .await
        .expect("subnets");
    let third = match existing.subnets().first().and_then(|s| s.subnet_id()) {
        Some(id) => id.to_string(),
        None => p
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.2.3.0/24")
            .availability_zone(format!("{}c", env("AWS_REGION")))
            .send()
            .await
            .expect("third subnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string(),
    };
    let subnets: Vec<String> = env("XAPI_PROVIDER_SUBNET_IDS")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let log_start = support::emulator_log_end().await;
    api.patch(
        "lost",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"provider": {"subnetIds": [subnets[0], third]}}})),
    )
    .await
    .expect("subnets changed");
    let changed = support::wait_for(&admin, &ns, "lost", READY, "Ready on new subnets", |o| {
        is_ready(o)
            && o.status
                .as_ref()
                .and_then(|s| s.consumer.as_ref())
                .is_some_and(|c| c.targets.len() == 2)
    })
    .await;
    let (_, log) = support::emulator_requests(log_start).await;
    let consumer = env("XAPI_CONSUMER_ACCOUNT");
    let target_writes: Vec<&str> = log
        .iter()
        .filter(|r| r["account"] == consumer.as_str())
        .map(op)
        .filter(|o| *o == "RegisterTargets" || *o == "DeregisterTargets")
        .collect();
    assert_eq!(
        target_writes,
        vec!["RegisterTargets", "DeregisterTargets"],
        "new target first, then the stale one"
    );
    let failed: Vec<String> = log
        .iter()
        .filter(|r| r["service"] == "ec2" && r["status"].as_u64().is_some_and(|s| s >= 400))
        .map(|r| format!("{} {}", op(r), r["status"]))
        .collect();
    assert!(failed.is_empty(), "EC2 calls failed: {failed:?}");
    assert!(
        condition(&changed, "EndpointReady").is_some_and(|c| c.0 == "True"),
        "{:?}",
        condition(&changed, "EndpointReady")
    );

    // 4. The endpoint deleted by hand is made again: a new client token, not the old endpoint.
    let old_endpoint = changed
        .status
        .as_ref()
        .and_then(|s| s.provider.as_ref())
        .and_then(|p| p.vpc_endpoint_id.clone())
        .expect("endpoint id");
    p.ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&old_endpoint)
        .send()
        .await
        .expect("endpoint deleted by hand");
    let remade = support::wait_for(&admin, &ns, "lost", READY, "Ready on a new endpoint", |o| {
        is_ready(o)
            && o.status
                .as_ref()
                .and_then(|s| s.provider.as_ref())
                .and_then(|p| p.vpc_endpoint_id.as_deref())
                .is_some_and(|id| id != old_endpoint)
    })
    .await;
    let new_endpoint = remade
        .status
        .as_ref()
        .and_then(|s| s.provider.as_ref())
        .and_then(|p| p.vpc_endpoint_id.clone())
        .expect("endpoint id");
    let described = p
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&new_endpoint)
        .send()
        .await
        .expect("new endpoint");
    assert_eq!(
        described
            .vpc_endpoints()
            .first()
            .and_then(|e| e.state())
            .map(|s| s.as_str()),
        Some("available")
    );

    // 5. Deletion leaves nothing with the uid tag (every copy goes).
    support::delete_and_wait(&admin, &ns, "lost", READY).await;
    let left = support::tagged_kinds(&uid(&remade)).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    p.ec2
        .delete_subnet()
        .subnet_id(&third)
        .send()
        .await
        .expect("third subnet removed");

    // 6. CreateRestApi and CreateAuthorizer answers lost: one regional API, one authorizer.
    {
        let _settings = EmulatorSettings::set(json!({
            "faults": {"apigateway": {"drop_after_rate": 1.0, "operations": ["CreateRestApi", "CreateAuthorizer"], "limit": 2}}
        }))
        .await;
        let mut obj = support::example("orders-adopted-with-authorizer.yaml");
        obj["metadata"]["name"] = "lost-edge".into();
        support::create(&admin, &ns, &obj).await;
        let ready = support::wait_for(&admin, &ns, "lost-edge", READY, "Ready", is_ready).await;
        let kinds = support::tagged_kinds(&uid(&ready)).await;
        assert_eq!(kinds.get("rest api").copied(), Some(1), "{kinds:?}");
        let edge = ready
            .status
            .as_ref()
            .and_then(|s| s.consumer.as_ref())
            .and_then(|c| c.regional_api_id.clone())
            .expect("edge id");
        let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
        let authorizers = c
            .apigw
            .get_authorizers()
            .rest_api_id(&edge)
            .send()
            .await
            .expect("authorizers");
        assert_eq!(authorizers.items().len(), 1, "one authorizer");
        support::delete_and_wait(&admin, &ns, "lost-edge", READY).await;
        let left = support::tagged_kinds(&uid(&ready)).await;
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    // 6b. With routes, every CreateRestApi answer lost (the edge's and both routes' private
    //     APIs, made side by side): one API per route, told apart by its route tag.
    {
        let _settings = EmulatorSettings::set(json!({
            "faults": {"apigateway": {"drop_after_rate": 1.0, "operations": ["CreateRestApi"], "limit": 3}}
        }))
        .await;
        let before = injected().await;
        let mut obj = support::example("shop-routes.yaml");
        obj["metadata"]["name"] = "lost-routes".into();
        support::create(&admin, &ns, &obj).await;
        let ready = support::wait_for(&admin, &ns, "lost-routes", READY, "Ready", is_ready).await;
        let key = "apigateway:CreateRestApi:drop_after";
        let dropped =
            injected().await.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0);
        assert_eq!(dropped, 3, "the three creates lost their answers");
        let kinds = support::tagged_kinds(&uid(&ready)).await;
        assert_eq!(kinds.get("rest api").copied(), Some(3), "{kinds:?}");
        let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
        let routes = ready
            .status
            .as_ref()
            .map(|s| s.routes.clone())
            .unwrap_or_default();
        assert_eq!(routes.len(), 2, "{routes:?}");
        for route in &routes {
            let id = route.private_api_id.clone().expect("private API");
            let api = p
                .apigw
                .get_rest_api()
                .rest_api_id(&id)
                .send()
                .await
                .expect("api");
            let tag = api
                .tags()
                .and_then(|t| t.get(cross_account_api_operator::api::ROUTE_TAG))
                .cloned();
            assert_eq!(tag.as_deref(), Some(route.path.as_str()), "{id}");
        }
        support::delete_and_wait(&admin, &ns, "lost-routes", READY).await;
        let left = support::tagged_kinds(&uid(&ready)).await;
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    // 7. A role whose trust policy wants another ExternalId: AccessDenied in the condition, with
    //    STS's message, and no retry every second.
    let wrong_id = format!("{ns}-wrong-external-id");
    let mut role = support::example_docs("account-roles.yaml").remove(0);
    role["metadata"]["name"] = wrong_id.clone().into();
    role["spec"]["externalId"] = "not-the-seeded-one".into();
    role["spec"]["namespaces"] = vec![serde_yaml::Value::from(ns.clone())].into();
    support::apply_account_role(&admin, &role).await;
    let mut denied = support::example("orders.yaml");
    denied["metadata"]["name"] = "denied".into();
    denied["spec"]["provider"]["roleRef"] = wrong_id.clone().into();
    support::create(&admin, &ns, &denied).await;
    let refused = support::wait_for(&admin, &ns, "denied", READY, "AccessDenied", |o| {
        condition(o, "EndpointReady").is_some_and(|c| c.1 == "AccessDenied")
    })
    .await;
    let (_, _, message) = condition(&refused, "EndpointReady").expect("condition");
    assert!(
        message.contains("AssumeRole") && message.contains("not authorized"),
        "{message}"
    );
    // The object's own sessions (the AccountRole's check has a session name of its own).
    let sessions = |all: &Value| {
        all.as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["external_id"] == "not-the-seeded-one")
                    .filter(|s| s["role_session_name"] == format!("xapi-{ns}-denied").as_str())
                    .count()
            })
            .unwrap_or(0)
    };
    let first = sessions(&support::emulator_json("/_xapi/sts/sessions").await);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let later = sessions(&support::emulator_json("/_xapi/sts/sessions").await);
    assert!(
        later - first <= 1,
        "AssumeRole tried {} times in 10 s",
        later - first
    );
    support::delete_and_wait(&admin, &ns, "denied", READY).await;
    support::delete_account_role(&admin, &wrong_id).await;

    // 8. Adopted private APIs the chain cannot use: one whose execute-api endpoint is disabled,
    //    one whose policy would pass AWS's 8,192 characters with the operator's statement. Both
    //    are refused before any write to them.
    let big_policy = json!({
        "Version": "2012-10-17",
        "Statement": (0..48).map(|i| json!({
            "Sid": format!("Team{i}"),
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:role/caller-{i:03}", env("XAPI_PROVIDER_ACCOUNT"))},
            "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*/GET/*",
        })).collect::<Vec<_>>(),
    })
    .to_string();
    assert!(
        big_policy.len() < 8192 && big_policy.len() > 7500,
        "{}",
        big_policy.len()
    );
    let private = |name: &str| {
        p.apigw.create_rest_api().name(name).endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Private)
                .build(),
        )
    };
    let disabled = private("no-execute-api")
        .disable_execute_api_endpoint(true)
        .send()
        .await
        .expect("API without execute-api endpoint")
        .id()
        .expect("id")
        .to_string();
    let crowded = private("crowded-policy")
        .policy(&big_policy)
        .send()
        .await
        .expect("API with a large policy")
        .id()
        .expect("id")
        .to_string();
    let log_start = support::emulator_log_end().await;
    for (name, id) in [("disabled", &disabled), ("crowded", &crowded)] {
        let mut obj = support::example("orders-adopted-with-authorizer.yaml");
        obj["metadata"]["name"] = name.into();
        obj["spec"]["provider"]["privateApi"]["id"] = id.as_str().into();
        support::create(&admin, &ns, &obj).await;
    }
    let wants = [
        ("disabled", "disableExecuteApiEndpoint"),
        ("crowded", "8192"),
    ];
    for (name, words) in wants {
        let o = support::wait_for(&admin, &ns, name, READY, "refused", |o| {
            condition(o, "PrivateApiReady").is_some_and(|c| c.1 == "InvalidSpec")
        })
        .await;
        let (_, _, message) = condition(&o, "PrivateApiReady").expect("condition");
        assert!(
            message.contains(words) && message.contains("spec.provider.privateApi.id"),
            "{name}: {message}"
        );
    }
    let (_, log) = support::emulator_requests(log_start).await;
    let writes: Vec<String> = log
        .iter()
        .filter(|r| {
            let path = r["params"]["path"].as_str().unwrap_or_default();
            r["method"] != "GET"
                && r["params"]["method"] != "GET"
                && (path.contains(disabled.as_str()) || path.contains(crowded.as_str()))
        })
        .map(|r| op(r).to_string())
        .collect();
    assert!(writes.is_empty(), "writes to refused APIs: {writes:?}");
    for name in ["disabled", "crowded"] {
        support::delete_and_wait(&admin, &ns, name, READY).await;
    }

    // The API Gateway limiter paced every call: nothing was throttled.
    let metrics = support::http_get(&controller.metrics).await;
    let throttled: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("xapi_aws_calls_total{") && l.contains("throttled"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    assert!(throttled.is_empty(), "throttled calls: {throttled:?}");
    assert_eq!(controller.metric("xapi_aws_throttles_total").await, 0.0);
}
