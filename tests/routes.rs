//! Routes: several private APIs behind one edge, sharing one endpoint, NLB and VPC link. Each
//! route is read back with each account's own credentials (its API, its policy, a test
//! invocation through the chain), and every change is shown by the emulator's request record
//! to touch only its own route.

mod support;

use std::time::Duration;

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, IntegrationType};
use cross_account_api_operator::api::{CrossAccountApi, ROUTE_TAG, RouteStatus, UID_TAG};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::{ControllerProcess, condition, env, is_ready};

const READY: Duration = Duration::from_secs(300);

/// AWS reads of one resync of a Ready object with one created route (as in `tests/chain.rs`),
/// and what each further route adds: its private API's stage and its probe. Its private API
/// comes from the account's one list of REST APIs, its two edge methods embedded in the edge's
/// GetResources; a created API's own resources are read only before it is deployed.
const ONE_ROUTE: u64 = 15;
const PER_ROUTE: u64 = 2;

fn routes_of(o: &CrossAccountApi) -> Vec<RouteStatus> {
    o.status
        .as_ref()
        .map(|s| s.routes.clone())
        .unwrap_or_default()
}

fn route<'a>(routes: &'a [RouteStatus], path: &str) -> &'a RouteStatus {
    routes
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no route {path} in {routes:?}"))
}

fn api_id(routes: &[RouteStatus], path: &str) -> String {
    route(routes, path)
        .private_api_id
        .clone()
        .unwrap_or_else(|| panic!("route {path} has no private API"))
}

/// A provider team's own private API with `GET /health` (MOCK, 200) deployed to `stage`, and
/// a policy statement of its own.
async fn team_api(p: &support::Account, name: &str, stage: &str) -> String {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "TeamAllow", "Effect": "Allow", "Principal": "*",
                       "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]
    });
    let api = p
        .apigw
        .create_rest_api()
        .name(name)
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(EndpointType::Private)
                .build(),
        )
        .policy(policy.to_string())
        .send()
        .await
        .expect("team API");
    let id = api.id().expect("id").to_string();
    let root = support::resource_id(&p.apigw, &id, "/").await;
    let health = p
        .apigw
        .create_resource()
        .rest_api_id(&id)
        .parent_id(&root)
        .path_part("health")
        .send()
        .await
        .expect("resource")
        .id()
        .expect("resource id")
        .to_string();
    let a = &p.apigw;
    a.put_method()
        .rest_api_id(&id)
        .resource_id(&health)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .expect("method");
    a.put_integration()
        .rest_api_id(&id)
        .resource_id(&health)
        .http_method("GET")
        .r#type(IntegrationType::Mock)
        .request_templates("application/json", r#"{"statusCode": 200}"#)
        .send()
        .await
        .expect("integration");
    a.put_method_response()
        .rest_api_id(&id)
        .resource_id(&health)
        .http_method("GET")
        .status_code("200")
        .send()
        .await
        .expect("method response");
    a.put_integration_response()
        .rest_api_id(&id)
        .resource_id(&health)
        .http_method("GET")
        .status_code("200")
        .response_templates("application/json", r#"{"team": "ok"}"#)
        .send()
        .await
        .expect("integration response");
    a.create_deployment()
        .rest_api_id(&id)
        .stage_name(stage)
        .send()
        .await
        .expect("deployed");
    id
}

/// The statement ids of a private API's policy, as its own account reads it.
async fn policy_sids(p: &support::Account, id: &str) -> Vec<String> {
    let policy = support::rest_api_policy(&p.apigw, id).await;
    let mut sids: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["Sid"].as_str().map(str::to_string))
        .collect();
    sids.sort();
    sids
}

/// A test invocation of `GET <path>` on the edge's resource `resource` with the consumer's
/// credentials: the request goes over the VPC link, the NLB and the endpoint.
async fn invoke(c: &support::Account, edge: &str, resource: &str, path: &str) -> (i32, String) {
    let id = support::resource_id(&c.apigw, edge, resource).await;
    let out = c
        .apigw
        .test_invoke_method()
        .rest_api_id(edge)
        .resource_id(&id)
        .http_method("GET")
        .path_with_query_string(path)
        .send()
        .await
        .expect("test invocation");
    (out.status(), out.body().unwrap_or_default().to_string())
}

/// Successful writes in the emulator's record since `since`, of every service: (operation,
/// API Gateway path or the other services' parameters).
async fn writes_since(since: u64) -> Vec<(String, String)> {
    let (_, log) = support::emulator_requests(since).await;
    log.iter()
        .filter_map(|r| {
            let op = r["operation"].as_str()?;
            let read = ["Get", "Describe", "List"]
                .iter()
                .any(|v| op.starts_with(v))
                || ["TestInvokeMethod", "AssumeRole"].contains(&op);
            let ok = r["status"].as_u64().is_some_and(|s| s < 300);
            let what = match r["params"]["path"].as_str() {
                Some(path) => path.to_string(),
                None => r["params"].to_string(),
            };
            (!read && ok).then(|| (op.to_string(), what))
        })
        .collect()
}

fn count(writes: &[(String, String)], op: &str, api: &str) -> usize {
    writes
        .iter()
        .filter(|(o, p)| o == op && p.contains(&format!("/restapis/{api}")))
        .count()
}

/// Asserts that no write since the mark touched any of `others`.
fn untouched(writes: &[(String, String)], others: &[&str]) {
    for id in others {
        let hits: Vec<_> = writes
            .iter()
            .filter(|(_, p)| p.contains(&format!("/restapis/{id}")))
            .collect();
        assert!(hits.is_empty(), "{id} was written: {hits:?}");
    }
}

async fn patch_routes(api: &Api<CrossAccountApi>, name: &str, routes: Value) -> i64 {
    let patched = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"routes": routes}})),
        )
        .await
        .expect("routes patched");
    patched.metadata.generation.expect("generation")
}

async fn ready_at(
    admin: &kube::Client,
    ns: &str,
    name: &str,
    generation: i64,
    what: &str,
) -> CrossAccountApi {
    support::wait_for(admin, ns, name, READY, what, move |o| {
        is_ready(o) && o.status.as_ref().and_then(|s| s.observed_generation) == Some(generation)
    })
    .await
}

fn long_form(ns: &str, name: &str, routes: Value) -> serde_yaml::Value {
    let mut obj = support::example("orders.yaml");
    obj["metadata"]["name"] = name.into();
    if let Some(provider) = obj["spec"]["provider"].as_mapping_mut() {
        provider.remove("privateApi");
    }
    obj["spec"]["consumer"]["regionalApi"]["name"] = format!("{name}-edge-{ns}").into();
    obj["spec"]["routes"] = serde_yaml::to_value(routes).expect("routes");
    obj
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_share_one_edge_and_change_one_at_a_time() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "routes").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    let team = team_api(&p, &format!("team-{ns}"), "v1").await;

    // 1. Three routes: two created, one adopted with its owner's statement.
    let created = |path: &str| json!({"path": path, "privateApi": {"name": format!("shop{}-{ns}", path.replace('/', "-")), "stageName": "prod"}});
    let adopted = json!({"path": "/team", "privateApi": {"id": team, "stageName": "v1", "probePath": "/health"}});
    let three = json!([created("/orders"), created("/payments"), adopted]);
    let obj = long_form(&ns, "shop", three.clone());
    let mark = support::emulator_log_end().await;
    let made = support::create(&admin, &ns, &obj).await;
    let uid = made.metadata.uid.clone().expect("uid");
    let ready = ready_at(&admin, &ns, "shop", 1, "three routes Ready").await;
    let routes = routes_of(&ready);
    assert_eq!(routes.len(), 3, "{routes:?}");
    assert!(routes.iter().all(|r| r.ready), "{routes:?}");
    let consumer = ready
        .status
        .as_ref()
        .and_then(|s| s.consumer.clone())
        .expect("consumer");
    let edge = consumer.regional_api_id.clone().expect("edge");
    let (orders, payments) = (api_id(&routes, "/orders"), api_id(&routes, "/payments"));
    assert_eq!(api_id(&routes, "/team"), team);
    assert_ne!(orders, payments);
    let short = ready
        .status
        .as_ref()
        .and_then(|s| s.provider.clone())
        .expect("provider");
    assert_eq!(
        short.private_api_id, None,
        "the long form names its APIs per route"
    );
    assert_eq!(
        route(&routes, "/payments").invoke_url.as_deref(),
        consumer
            .invoke_url
            .map(|u| format!("{u}/payments"))
            .as_deref()
    );

    // One of each shared resource; the created APIs carry the uid and their route.
    let tagged = support::tagged_with(&uid).await;
    let kinds = |k: &str| tagged.iter().filter(|t| t.starts_with(k)).count();
    assert_eq!(
        (
            kinds("endpoint"),
            kinds("vpc link"),
            kinds("elb"),
            kinds("rest api")
        ),
        (1, 1, 2, 3),
        "{tagged:?}"
    );
    for (path, id) in [("/orders", &orders), ("/payments", &payments)] {
        let got = p
            .apigw
            .get_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .expect("api");
        let tags = got.tags().cloned().unwrap_or_default();
        assert_eq!(tags.get(UID_TAG), Some(&uid));
        assert_eq!(tags.get(ROUTE_TAG).map(String::as_str), Some(path));
    }
    assert_eq!(
        policy_sids(&p, &team).await.len(),
        2,
        "the team's and the operator's"
    );
    assert!(
        policy_sids(&p, &team)
            .await
            .contains(&"TeamAllow".to_string())
    );

    // Each route reachable through its own path (consumer's credentials), stripped of its
    // prefix; each probed through the chain; the edge deployed once for all three.
    assert_eq!(
        invoke(&c, &edge, "/orders/{proxy+}", "/orders/health")
            .await
            .0,
        200
    );
    assert_eq!(
        invoke(&c, &edge, "/payments/{proxy+}", "/payments/health")
            .await
            .0,
        200
    );
    let team_answer = invoke(&c, &edge, "/team/{proxy+}", "/team/health").await;
    assert_eq!(team_answer, (200, r#"{"team": "ok"}"#.to_string()));
    for r in &routes {
        assert_eq!(r.probe.as_ref().and_then(|p| p.status), Some(200), "{r:?}");
    }
    let writes = writes_since(mark).await;
    assert_eq!(count(&writes, "CreateDeployment", &edge), 1, "{writes:?}");

    // Steady state: a route adds only its own reads (README "Steady state").
    const RESYNCS: u64 = 2;
    let delta = support::steady_state_calls(&controller, RESYNCS).await;
    let reads: u64 = delta.values().sum();
    let bound = ONE_ROUTE + 2 * PER_ROUTE;
    eprintln!("three routes: {reads} reads in {RESYNCS} resyncs: {delta:?}");
    assert!(
        reads <= bound * RESYNCS,
        "{reads} reads in {RESYNCS} resyncs: {delta:?}"
    );

    // 2. A route added: only its API, its two edge resources and one edge deployment.
    let mark = support::emulator_log_end().await;
    let mut four = three.clone();
    four.as_array_mut().expect("list").push(created("/stock"));
    let generation = patch_routes(&api, "shop", four.clone()).await;
    let ready = ready_at(&admin, &ns, "shop", generation, "route added").await;
    let stock = api_id(&routes_of(&ready), "/stock");
    let writes = writes_since(mark).await;
    untouched(&writes, &[&orders, &payments, &team]);
    assert_eq!(count(&writes, "CreateResource", &edge), 2, "{writes:?}");
    assert_eq!(count(&writes, "PutIntegration", &edge), 2, "{writes:?}");
    assert_eq!(count(&writes, "CreateDeployment", &edge), 1, "{writes:?}");
    assert_eq!(count(&writes, "CreateDeployment", &stock), 1, "{writes:?}");
    assert_eq!(
        invoke(&c, &edge, "/stock/{proxy+}", "/stock/health")
            .await
            .0,
        200
    );

    // 3. A route's stage changed: its API deployed to the new stage (the old one goes), its two
    //    integrations re-pointed, one edge deployment; nothing else.
    let mark = support::emulator_log_end().await;
    four[1]["privateApi"]["stageName"] = "v2".into();
    let generation = patch_routes(&api, "shop", four.clone()).await;
    let ready = ready_at(&admin, &ns, "shop", generation, "stage changed").await;
    let writes = writes_since(mark).await;
    untouched(&writes, &[&orders, &team, &stock]);
    assert_eq!(count(&writes, "PutIntegration", &edge), 2, "{writes:?}");
    assert_eq!(count(&writes, "CreateDeployment", &edge), 1, "{writes:?}");
    assert_eq!(
        count(&writes, "CreateDeployment", &payments),
        1,
        "{writes:?}"
    );
    assert_eq!(count(&writes, "DeleteStage", &payments), 1, "{writes:?}");
    assert!(
        route(&routes_of(&ready), "/payments")
            .private_api_invoke_url
            .as_deref()
            .is_some_and(|u| u.ends_with("/v2"))
    );
    assert_eq!(
        invoke(&c, &edge, "/payments/{proxy+}", "/payments/health")
            .await
            .0,
        200
    );

    // 4. A failing route (an adopted API that does not exist): named in PrivateApiReady, the
    //    others stay ready and served.
    let mut five = four.clone();
    five.as_array_mut()
        .expect("list")
        .push(json!({"path": "/missing", "privateApi": {"id": "zzzzzzzzzz", "stageName": "prod"}}));
    patch_routes(&api, "shop", five).await;
    let broken = support::wait_for(&admin, &ns, "shop", READY, "the missing route named", |o| {
        condition(o, "PrivateApiReady").is_some_and(|(s, reason, m)| {
            s == "False"
                && reason == "InvalidSpec"
                && m.contains("4/5 routes ready")
                && m.contains("spec.routes[4].privateApi.id")
        })
    })
    .await;
    assert!(!is_ready(&broken));
    let routes = routes_of(&broken);
    assert!(!route(&routes, "/missing").ready);
    for path in ["/orders", "/payments", "/team", "/stock"] {
        assert!(route(&routes, path).ready, "{path}: {routes:?}");
    }
    assert_eq!(
        invoke(&c, &edge, "/orders/{proxy+}", "/orders/health")
            .await
            .0,
        200
    );

    // 5. The broken route, /stock (created) and /team (adopted) removed: their methods leave the
    //    edge, the edge is redeployed, and only then /stock's API is deleted and the team's API
    //    loses the operator's statement (and is redeployed so that this takes effect).
    let mark = support::emulator_log_end().await;
    let generation = patch_routes(&api, "shop", json!(four.as_array().expect("list")[..2])).await;
    let ready = ready_at(&admin, &ns, "shop", generation, "routes removed").await;
    assert_eq!(routes_of(&ready).len(), 2);
    let writes = writes_since(mark).await;
    untouched(&writes, &[&orders, &payments]);
    assert_eq!(count(&writes, "DeleteResource", &edge), 4, "{writes:?}");
    let at = |op: &str, id: &str| {
        writes
            .iter()
            .position(|(o, p)| o == op && p.contains(&format!("/restapis/{id}")))
    };
    let deployed = at("CreateDeployment", &edge);
    for (op, id) in [("DeleteRestApi", &stock), ("UpdateRestApi", &team)] {
        assert!(
            matches!((deployed, at(op, id)), (Some(d), Some(x)) if d < x),
            "edge redeployed before {op} {id}: {writes:?}"
        );
    }
    assert_eq!(count(&writes, "CreateDeployment", &team), 1, "{writes:?}");
    assert_eq!(policy_sids(&p, &team).await, ["TeamAllow"]);
    assert!(
        c.apigw
            .get_resources()
            .rest_api_id(&edge)
            .send()
            .await
            .expect("resources")
            .items()
            .iter()
            .all(|r| {
                let path = r.path().unwrap_or_default();
                !path.starts_with("/stock") && !path.starts_with("/team")
            })
    );

    // 6. Deletion: nothing tagged remains; the team's API keeps only its own statement.
    support::delete_and_wait(&admin, &ns, "shop", READY).await;
    let left = support::tagged_with(&uid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(policy_sids(&p, &team).await, ["TeamAllow"]);
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_short_form_is_one_route_at_the_root() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "routes-short").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);

    let mut obj = support::example("orders.yaml");
    obj["metadata"]["name"] = "single".into();
    obj["spec"]["provider"]["privateApi"]["name"] = format!("single-{ns}").into();
    obj["spec"]["consumer"]["regionalApi"]["name"] = format!("single-edge-{ns}").into();
    support::create(&admin, &ns, &obj).await;
    let ready = ready_at(&admin, &ns, "single", 1, "short form Ready").await;
    let short = routes_of(&ready);
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].path, "/");
    let provider = ready
        .status
        .as_ref()
        .and_then(|s| s.provider.clone())
        .expect("provider");
    assert_eq!(provider.private_api_id, short[0].private_api_id);

    // The same API as a one-route long form: nothing changes in AWS (no write names one of the
    // object's resources; the tests of this binary share the emulator, so writes are told apart
    // by what they name), nothing is made or deleted.
    let uid = ready.metadata.uid.clone().expect("uid");
    let before = support::tagged_with(&uid).await;
    let consumer = ready
        .status
        .as_ref()
        .and_then(|s| s.consumer.clone())
        .expect("consumer");
    let ids: Vec<String> = [
        provider.vpc_endpoint_id.clone(),
        provider.security_group_id.clone(),
        provider.private_api_id.clone(),
        consumer.regional_api_id.clone(),
        consumer.vpc_link_id.clone(),
        consumer.load_balancer_arn.clone(),
        consumer.target_group_arn.clone(),
        consumer.listener_arn.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let private_api = serde_json::to_value(&obj["spec"]["provider"]["privateApi"]).expect("json");
    let mark = support::emulator_log_end().await;
    let patched = api
        .patch(
            "single",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "provider": {"privateApi": null},
                "routes": [{"path": "/", "privateApi": private_api}]
            }})),
        )
        .await
        .expect("long form");
    let generation = patched.metadata.generation.expect("generation");
    let long = ready_at(&admin, &ns, "single", generation, "long form Ready").await;
    let writes: Vec<_> = writes_since(mark)
        .await
        .into_iter()
        .filter(|(_, what)| ids.iter().any(|id| what.contains(id.as_str())))
        .collect();
    assert!(writes.is_empty(), "the switch wrote to AWS: {writes:?}");
    assert_eq!(support::tagged_with(&uid).await, before);
    let long_routes = routes_of(&long);
    assert_eq!(long_routes[0].private_api_id, short[0].private_api_id);
    assert_eq!(long_routes[0].deployment, short[0].deployment);
    support::delete_and_wait(&admin, &ns, "single", READY).await;
    drop(controller);
}
