//! The whole chain in both accounts: the controller (its own process, with exactly the chart's
//! RBAC) against the real kube-apiserver and the AWS emulator. Every result is checked in the
//! emulator with each account's own credentials, not through the controller's status.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use cross_account_api_operator::api::{CrossAccountApi, UID_TAG};
use cross_account_api_operator::policy;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{ControllerProcess, condition, env, is_ready, wait_until};

const READY_TIMEOUT: Duration = Duration::from_secs(240);

/// AWS reads one resync of a Ready object may make (README "Steady state"): 14 and the probe
/// (the edge's GetResources embeds every method and integration; the private API's resources
/// are read only before it is deployed; one list of REST APIs per account).
const READS_PER_RESYNC: u64 = 15;

fn named(mut obj: serde_yaml::Value, name: &str) -> serde_yaml::Value {
    obj["metadata"]["name"] = name.into();
    obj
}

async fn setup(test: &str) -> (kube::Client, String, ControllerProcess) {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, test).await;
    let kubeconfig = support::restricted_kubeconfig(&admin, &ns).await;
    let controller = ControllerProcess::start_json(&ns, &kubeconfig, "5s");
    controller.wait_ready().await;
    (admin, ns, controller)
}

/// Every log line is one JSON object; each line about the object (made inside its reconcile)
/// names it, and the lines that say it became Ready and was cleaned up are there.
fn assert_json_log_names(controller: &ControllerProcess, object: &str) {
    let log = controller.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let in_reconcile: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "reconcile")
        .collect();
    for line in &in_reconcile {
        assert_eq!(line["span"]["object"], object, "{line}");
    }
    for message in ["ready", "cleaned up"] {
        assert!(
            in_reconcile.iter().any(|l| l["message"] == message),
            "no \"{message}\" line about {object}"
        );
    }
}

fn uid(obj: &CrossAccountApi) -> String {
    obj.metadata.uid.clone().expect("uid")
}

fn ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

/// The endpoint's id, subnets and ENI IPs as the provider account sees them.
async fn provider_endpoint(uid: &str) -> (String, Vec<String>, Vec<String>) {
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let out = p
        .ec2
        .describe_vpc_endpoints()
        .filters(ec2_filter(&format!("tag:{UID_TAG}"), uid))
        .send()
        .await
        .expect("endpoints");
    let e = out
        .vpc_endpoints()
        .iter()
        .find(|e| e.state().map(|s| s.as_str()) == Some("available"))
        .expect("an available endpoint with our uid tag");
    assert_eq!(
        e.service_name(),
        Some(format!("com.amazonaws.{}.execute-api", env("AWS_REGION")).as_str())
    );
    let enis = p
        .ec2
        .describe_network_interfaces()
        // By filter: by id, EC2 fails the whole call while one ENI is not visible yet.
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("network-interface-id")
                .set_values(Some(e.network_interface_ids().to_vec()))
                .build(),
        )
        .send()
        .await
        .expect("ENIs");
    let mut ips: Vec<String> = enis
        .network_interfaces()
        .iter()
        .filter_map(|n| n.private_ip_address().map(str::to_string))
        .collect();
    ips.sort();
    let mut subnets = e.subnet_ids().to_vec();
    subnets.sort();
    (
        e.vpc_endpoint_id().unwrap_or_default().to_string(),
        subnets,
        ips,
    )
}

/// (ip, availability zone) of the target group's non-draining targets.
async fn registered_targets(tg_arn: &str) -> Vec<(String, String)> {
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let out = c
        .elb
        .describe_target_health()
        .target_group_arn(tg_arn)
        .send()
        .await
        .expect("target health");
    let mut targets: Vec<(String, String)> = out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str())
                != Some("draining")
        })
        .filter_map(|d| {
            d.target().map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.availability_zone().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    targets.sort();
    targets
}

async fn private_policy(api_id: &str) -> Value {
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let api = p
        .apigw
        .get_rest_api()
        .rest_api_id(api_id)
        .send()
        .await
        .expect("private API");
    policy::parse_stored(api.policy().expect("a policy")).expect("policy parses")
}

async fn stage_exists(role: &str, api_id: &str, stage: &str) -> bool {
    let a = support::account(role).await;
    a.apigw
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .is_ok()
}

/// (path, authorizationType, authorizerId, integration uri, connectionId, header) per ANY method.
async fn edge_routes(
    api_id: &str,
) -> HashMap<String, (String, Option<String>, String, String, String)> {
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let resources = c
        .apigw
        .get_resources()
        .rest_api_id(api_id)
        .send()
        .await
        .expect("resources");
    let mut out = HashMap::new();
    for r in resources.items() {
        let (Some(id), Some(path)) = (r.id(), r.path()) else {
            continue;
        };
        let Ok(m) = c
            .apigw
            .get_method()
            .rest_api_id(api_id)
            .resource_id(id)
            .http_method("ANY")
            .send()
            .await
        else {
            continue;
        };
        let i = c
            .apigw
            .get_integration()
            .rest_api_id(api_id)
            .resource_id(id)
            .http_method("ANY")
            .send()
            .await
            .expect("integration");
        // Only a complete HTTP_PROXY integration over the VPC link counts as a route.
        let proxy_param = i
            .request_parameters()
            .and_then(|p| p.get("integration.request.path.proxy"))
            .map(String::as_str);
        if i.r#type().map(|t| t.as_str()) != Some("HTTP_PROXY")
            || i.connection_type().map(|t| t.as_str()) != Some("VPC_LINK")
            || (path == "/{proxy+}" && proxy_param != Some("method.request.path.proxy"))
        {
            continue;
        }
        let header = i
            .request_parameters()
            .and_then(|p| p.get("integration.request.header.x-apigw-api-id"))
            .cloned()
            .unwrap_or_default();
        out.insert(
            path.to_string(),
            (
                m.authorization_type().unwrap_or_default().to_string(),
                m.authorizer_id().map(str::to_string),
                i.uri().unwrap_or_default().to_string(),
                i.connection_id().unwrap_or_default().to_string(),
                header,
            ),
        );
    }
    out
}

/// The operator's sessions act under the shipped IAM policies (docs/iam/*-role-policy.json,
/// enforced by the emulator for both seeded roles), and none of their calls since `since` was
/// refused.
async fn assert_shipped_iam_policies_sufficed(since: u64) {
    let enforced = support::emulator_json("/_xapi/iam/enforce").await;
    for role in ["XAPI_PROVIDER_ROLE_ARN", "XAPI_CONSUMER_ROLE_ARN"] {
        assert!(
            enforced["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["role_arn"] == env(role).as_str()),
            "{role} is enforced: {enforced}"
        );
    }
    let (_, calls) = support::emulator_requests(since).await;
    let operators: Vec<&Value> = calls
        .iter()
        .filter(|c| {
            let session = c["session"].as_str().unwrap_or("xapi-tests");
            !["xapi-tests", "xapi-seed"].contains(&session)
                && ["ec2", "elasticloadbalancing", "apigateway", "lambda"]
                    .contains(&c["service"].as_str().unwrap_or_default())
        })
        .collect();
    assert!(operators.len() > 20, "the operator's calls: {operators:?}");
    let refused: Vec<&&Value> = operators.iter().filter(|c| c["status"] == 403).collect();
    assert!(
        refused.is_empty(),
        "refused under the shipped policies: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn created_chain_converges_repairs_drift_and_deletes_cleanly() {
    let (admin, ns, controller) = setup("chain-created").await;
    let log_start = support::emulator_log_end().await;
    let obj = support::create(&admin, &ns, &support::example("orders.yaml")).await;
    let uid = uid(&obj);
    // kstatus: Reconciling while the chain is being built (the NLB and the VPC link take
    // seconds), neither once Ready; every condition names the generation it speaks for.
    support::wait_for(&admin, &ns, "orders", READY_TIMEOUT, "Reconciling", |o| {
        support::kstatus(o) == ["False", "True", "False"]
    })
    .await;
    let ready = support::wait_for(&admin, &ns, "orders", READY_TIMEOUT, "Ready", is_ready).await;
    assert_eq!(support::kstatus(&ready), ["True", "False", "False"]);
    let conditions = &ready.status.as_ref().expect("status").conditions;
    assert!(
        conditions
            .iter()
            .all(|c| c.observed_generation == ready.metadata.generation),
        "{conditions:?}"
    );
    assert_shipped_iam_policies_sufficed(log_start).await;
    // Being created, the object reads its REST APIs by id: its own writes leave the account's
    // list stale before a second poll could share it (README "Shared reads").
    let (_, creating) = support::emulator_requests(log_start).await;
    let session = format!("xapi-{ns}-orders");
    let calls = |op: &str| {
        creating
            .iter()
            .filter(|r| r["operation"] == op && r["session"] == session.as_str())
            .count()
    };
    assert!(
        calls("GetRestApi") > calls("GetRestApis"),
        "GetRestApi {}, GetRestApis {}",
        calls("GetRestApi"),
        calls("GetRestApis")
    );
    let status = ready.status.clone().expect("status");
    let (ps, cs) = (
        status.provider.clone().expect("provider status"),
        status.consumer.clone().expect("consumer status"),
    );
    for t in cross_account_api_operator::api::CONDITION_TYPES {
        let (s, _, _) = condition(&ready, t).unwrap_or_else(|| panic!("condition {t}"));
        assert_eq!(s, "True", "{t}");
    }
    // The metrics: one Ready object, its time to Ready, AWS calls labelled by the account
    // they acted in.
    assert_eq!(controller.metric("xapi_objects{ready=\"true\"}").await, 1.0);
    assert_eq!(
        controller.metric("xapi_objects{ready=\"false\"}").await,
        0.0
    );
    assert_eq!(
        controller.metric("xapi_time_to_ready_seconds_count").await,
        1.0
    );
    for account in [env("XAPI_PROVIDER_ACCOUNT"), env("XAPI_CONSUMER_ACCOUNT")] {
        let series = format!("xapi_aws_calls_total{{account=\"{account}\"");
        assert!(controller.metric(&series).await > 0.0, "{series}");
    }

    // Provider account: endpoint, its IPs, the security group, the private API and its policy.
    let (vpce, subnets, ips) = provider_endpoint(&uid).await;
    let mut wanted_subnets: Vec<String> = env("XAPI_PROVIDER_SUBNET_IDS")
        .split(',')
        .map(str::to_string)
        .collect();
    wanted_subnets.sort();
    assert_eq!(subnets, wanted_subnets);
    assert_eq!(ps.vpc_endpoint_id.as_deref(), Some(vpce.as_str()));
    assert_eq!(ps.endpoint_ips, ips);
    assert_eq!(ips.len(), 2);
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let sg = p
        .ec2
        .describe_security_groups()
        .filters(ec2_filter(&format!("tag:{UID_TAG}"), &uid))
        .send()
        .await
        .expect("groups");
    let sg = sg.security_groups().first().expect("our security group");
    let ingress: Vec<(Option<i32>, Vec<String>)> = sg
        .ip_permissions()
        .iter()
        .map(|p| {
            (
                p.from_port(),
                p.ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip().map(str::to_string))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(ingress, vec![(Some(443), vec!["10.1.0.0/16".to_string()])]);
    let private_id = ps.private_api_id.clone().expect("private API id");
    let private = p
        .apigw
        .get_rest_api()
        .rest_api_id(&private_id)
        .send()
        .await
        .expect("private API");
    let types: Vec<&str> = private
        .endpoint_configuration()
        .map(|e| e.types().iter().map(|t| t.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(types, ["PRIVATE"]);
    assert!(
        private
            .endpoint_configuration()
            .is_some_and(|e| e.vpc_endpoint_ids().contains(&vpce))
    );
    assert!(policy::same_meaning(
        &private_policy(&private_id).await,
        &policy::created_policy(&vpce)
    ));
    assert!(stage_exists(&env("XAPI_PROVIDER_ROLE_ARN"), &private_id, "prod").await);

    // Consumer account: targets are exactly the endpoint IPs (outside the VPC: zone "all").
    let tg = cs.target_group_arn.clone().expect("target group");
    let expect_targets: Vec<(String, String)> = ips
        .iter()
        .map(|ip| (ip.clone(), "all".to_string()))
        .collect();
    assert_eq!(registered_targets(&tg).await, expect_targets);
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let lb_arn = cs.load_balancer_arn.clone().expect("NLB");
    let lbs = c
        .elb
        .describe_load_balancers()
        .load_balancer_arns(&lb_arn)
        .send()
        .await
        .expect("NLB");
    let lb = lbs.load_balancers().first().expect("NLB exists");
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internal"));
    assert_eq!(lb.r#type().map(|s| s.as_str()), Some("network"));
    let listeners = c
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("listeners");
    let l = listeners.listeners().first().expect("a listener");
    assert_eq!(
        (l.port(), l.protocol().map(|p| p.as_str())),
        (Some(443), Some("TCP"))
    );
    assert_eq!(
        l.default_actions()
            .first()
            .and_then(|a| a.target_group_arn()),
        Some(tg.as_str())
    );
    let link_id = cs.vpc_link_id.clone().expect("VPC link");
    let link = c
        .apigw
        .get_vpc_link()
        .vpc_link_id(&link_id)
        .send()
        .await
        .expect("VPC link");
    assert_eq!(link.status().map(|s| s.as_str()), Some("AVAILABLE"));
    assert_eq!(link.target_arns(), std::slice::from_ref(&lb_arn));
    let edge_id = cs.regional_api_id.clone().expect("regional API");
    let routes = edge_routes(&edge_id).await;
    let base = format!(
        "https://{private_id}.execute-api.{}.amazonaws.com/prod/",
        env("AWS_REGION")
    );
    let header = format!("'{private_id}'");
    assert_eq!(
        routes.get("/"),
        Some(&(
            "NONE".to_string(),
            None,
            base.clone(),
            link_id.clone(),
            header.clone()
        ))
    );
    assert_eq!(
        routes.get("/{proxy+}"),
        Some(&(
            "NONE".to_string(),
            None,
            format!("{base}{{proxy}}"),
            link_id.clone(),
            header.clone()
        ))
    );
    assert!(stage_exists(&env("XAPI_CONSUMER_ROLE_ARN"), &edge_id, "prod").await);
    assert_eq!(
        cs.invoke_url,
        Some(format!(
            "https://{edge_id}.execute-api.{}.amazonaws.com/prod",
            env("AWS_REGION")
        ))
    );

    // Steady state: a resync of a Ready object makes no AWS write and a bounded number of reads.
    const RESYNCS: u64 = 2;
    let delta = support::steady_state_calls(&controller, RESYNCS).await;
    let reads: u64 = delta.values().sum();
    assert!(
        reads <= READS_PER_RESYNC * RESYNCS,
        "{reads} reads in {RESYNCS} resyncs: {delta:?}"
    );

    // Drift: a target deregistered by hand comes back (and counts as a repaired drift).
    let repaired_targets = "xapi_drift_repairs_total{kind=\"Targets\"}";
    let targets_before = controller.metric(repaired_targets).await;
    let (gone_ip, _) = expect_targets[0].clone();
    c.elb
        .deregister_targets()
        .target_group_arn(&tg)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(&gone_ip)
                .port(443)
                .availability_zone("all")
                .build(),
        )
        .send()
        .await
        .expect("deregister by hand");
    wait_until(
        Duration::from_secs(60),
        "deregistered target repaired",
        || async { registered_targets(&tg).await == expect_targets },
    )
    .await;
    wait_until(Duration::from_secs(10), "the repair counted", || async {
        controller.metric(repaired_targets).await > targets_before
    })
    .await;

    // Drift: a policy changed by hand is restored.
    p.apigw
        .update_rest_api()
        .rest_api_id(&private_id)
        .patch_operations(aws_sdk_apigateway::types::PatchOperation::builder().op(aws_sdk_apigateway::types::Op::Replace).path("/policy").value(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}).to_string()).build())
        .send()
        .await
        .expect("policy changed by hand");
    wait_until(Duration::from_secs(60), "policy restored", || async {
        policy::same_meaning(
            &private_policy(&private_id).await,
            &policy::created_policy(&vpce),
        )
    })
    .await;

    // Drift: an integration deleted by hand is put back.
    let proxy = support::resource_id(&c.apigw, &edge_id, "/{proxy+}").await;
    c.apigw
        .delete_integration()
        .rest_api_id(&edge_id)
        .resource_id(&proxy)
        .http_method("ANY")
        .send()
        .await
        .expect("integration deleted by hand");
    wait_until(Duration::from_secs(60), "integration repaired", || async {
        edge_routes(&edge_id)
            .await
            .get("/{proxy+}")
            .is_some_and(|r| r.3 == link_id)
    })
    .await;

    // Drift: the VPC link deleted by hand. AWS allows that only once no deployed stage and no
    // integration references it, so the stage and both integrations go first. A new link is
    // made, the integrations follow it, and the stage is deployed again.
    let mut attempts = 0;
    loop {
        let _ = c
            .apigw
            .delete_stage()
            .rest_api_id(&edge_id)
            .stage_name("prod")
            .send()
            .await;
        let resources = c
            .apigw
            .get_resources()
            .rest_api_id(&edge_id)
            .send()
            .await
            .expect("resources");
        for r in resources.items() {
            if let Some(id) = r.id() {
                let _ = c
                    .apigw
                    .delete_integration()
                    .rest_api_id(&edge_id)
                    .resource_id(id)
                    .http_method("ANY")
                    .send()
                    .await;
            }
        }
        match c.apigw.delete_vpc_link().vpc_link_id(&link_id).send().await {
            Ok(_) => break,
            // The operator repaired an integration in between: go again.
            Err(e) if attempts < 10 => {
                attempts += 1;
                eprintln!(
                    "VPC link delete refused, retrying: {}",
                    e.as_service_error()
                        .map(|e| e.to_string())
                        .unwrap_or_default()
                );
            }
            Err(e) => panic!("could not delete the VPC link by hand: {e:?}"),
        }
    }
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    wait_until(
        Duration::from_secs(120),
        "a new VPC link, AVAILABLE, used by both integrations",
        || {
            let api = api.clone();
            let c = &c;
            let edge_id = &edge_id;
            let old = &link_id;
            async move {
                let Ok(obj) = api.get("orders").await else {
                    return false;
                };
                let Some(id) = obj
                    .status
                    .and_then(|s| s.consumer)
                    .and_then(|c| c.vpc_link_id)
                else {
                    return false;
                };
                if id == *old {
                    return false;
                }
                let available = c
                    .apigw
                    .get_vpc_link()
                    .vpc_link_id(&id)
                    .send()
                    .await
                    .ok()
                    .and_then(|l| l.status().map(|s| s.as_str() == "AVAILABLE"))
                    .unwrap_or(false);
                let routes = edge_routes(edge_id).await;
                available
                    && ["/", "/{proxy+}"]
                        .iter()
                        .all(|p| routes.get(*p).is_some_and(|r| r.3 == id))
            }
        },
    )
    .await;
    let new_link = api
        .get("orders")
        .await
        .ok()
        .and_then(|o| o.status)
        .and_then(|s| s.consumer)
        .and_then(|c| c.vpc_link_id)
        .expect("new link");
    assert_ne!(new_link, link_id);

    // Drift: the endpoint loses a subnet by hand; the operator restores it, and the targets follow
    // the new ENI IPs.
    let dropped = wanted_subnets[0].clone();
    p.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&vpce)
        .remove_subnet_ids(&dropped)
        .send()
        .await
        .expect("subnet removed by hand");
    wait_until(
        Duration::from_secs(90),
        "endpoint subnets restored and targets = new IPs",
        || async {
            let (_, subnets, ips) = provider_endpoint(&uid).await;
            let wanted: Vec<(String, String)> = ips
                .iter()
                .map(|ip| (ip.clone(), "all".to_string()))
                .collect();
            subnets == wanted_subnets && ips.len() == 2 && registered_targets(&tg).await == wanted
        },
    )
    .await;

    // Spec changes converge: a new CIDR, and a new stage on the edge.
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    // The new CIDR still covers the consumer's subnets (10.1.1.0/24, 10.1.2.0/24): the NLB's
    // health checks must keep passing.
    let patch = json!({"spec": {"provider": {"allowedCidrs": ["10.1.0.0/17"]}, "consumer": {"regionalApi": {"stageName": "v2"}}}});
    api.patch("orders", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("spec changed");
    let changed = support::wait_for(
        &admin,
        &ns,
        "orders",
        READY_TIMEOUT,
        "Ready for generation 2",
        |o| is_ready(o) && o.metadata.generation == Some(2),
    )
    .await;
    assert_eq!(
        changed
            .status
            .as_ref()
            .and_then(|s| s.consumer.as_ref())
            .and_then(|c| c.invoke_url.clone()),
        Some(format!(
            "https://{edge_id}.execute-api.{}.amazonaws.com/v2",
            env("AWS_REGION")
        ))
    );
    assert!(stage_exists(&env("XAPI_CONSUMER_ROLE_ARN"), &edge_id, "v2").await);
    assert!(
        !stage_exists(&env("XAPI_CONSUMER_ROLE_ARN"), &edge_id, "prod").await,
        "the old stage goes"
    );
    let sg = p
        .ec2
        .describe_security_groups()
        .filters(ec2_filter(&format!("tag:{UID_TAG}"), &uid))
        .send()
        .await
        .expect("groups");
    let mut cidrs: Vec<String> = sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip().map(str::to_string))
        })
        .collect();
    cidrs.sort();
    assert_eq!(
        cidrs,
        ["10.1.0.0/17"],
        "the new CIDR is allowed and the old one revoked"
    );

    // Deletion: nothing with the uid tag remains in either account.
    support::delete_and_wait(&admin, &ns, "orders", Duration::from_secs(240)).await;
    assert_eq!(controller.metric("xapi_objects{").await, 0.0);
    assert_json_log_names(&controller, &format!("{ns}/orders"));
    let left = support::tagged_with(&uid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn adopted_api_with_authorizer_keeps_its_owners_policy() {
    let (admin, ns, controller) = setup("chain-adopted").await;
    // The provider team's own private API, with its own policy and deny-list.
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let team_policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "TeamAllow", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Sid": "TeamDeny", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
             "Condition": {"StringNotEquals": {"aws:SourceVpce": ["vpce-0123456789abcdef0"]}}}
        ]
    });
    let api = p
        .apigw
        .create_rest_api()
        .name(format!("team-{ns}"))
        .endpoint_configuration(
            aws_sdk_apigateway::types::EndpointConfiguration::builder()
                .types(aws_sdk_apigateway::types::EndpointType::Private)
                .build(),
        )
        .policy(team_policy.to_string())
        .send()
        .await
        .expect("team API");
    let adopted_id = api.id().expect("id").to_string();
    let root = p
        .apigw
        .get_resources()
        .rest_api_id(&adopted_id)
        .send()
        .await
        .expect("resources")
        .items()[0]
        .id()
        .expect("root")
        .to_string();
    p.apigw
        .put_method()
        .rest_api_id(&adopted_id)
        .resource_id(&root)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .expect("method");
    p.apigw
        .put_integration()
        .rest_api_id(&adopted_id)
        .resource_id(&root)
        .http_method("GET")
        .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
        .send()
        .await
        .expect("integration");
    p.apigw
        .create_deployment()
        .rest_api_id(&adopted_id)
        .stage_name("prod")
        .send()
        .await
        .expect("deployed");

    // … and the team's own execute-api endpoint and security group, adopted too.
    let group = p
        .ec2
        .create_security_group()
        .group_name(format!("team-{ns}"))
        .description("team endpoint")
        .vpc_id(env("XAPI_PROVIDER_VPC_ID"))
        .send()
        .await
        .expect("team group");
    let group_id = group.group_id().expect("group id").to_string();
    // EC2 shows a new group to other calls only after a moment (eventual consistency). The team
    // lets the consumer VPC reach its endpoint on TCP 443 (the NLB's health checks need it).
    let mut attempts = 0;
    while let Err(e) = p
        .ec2
        .authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .cidr_ip("10.1.0.0/16")
        .send()
        .await
    {
        attempts += 1;
        assert!(attempts < 50, "team group ingress: {e:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut attempts = 0;
    let endpoint = loop {
        let made = p
            .ec2
            .create_vpc_endpoint()
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
            .vpc_id(env("XAPI_PROVIDER_VPC_ID"))
            .service_name(format!("com.amazonaws.{}.execute-api", env("AWS_REGION")))
            .set_subnet_ids(Some(
                env("XAPI_PROVIDER_SUBNET_IDS")
                    .split(',')
                    .map(str::to_string)
                    .collect(),
            ))
            .security_group_ids(&group_id)
            .send()
            .await;
        match made {
            Ok(out) => break out,
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("team endpoint not yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("team endpoint: {e:?}"),
        }
    };
    let team_vpce = endpoint
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .expect("endpoint id")
        .to_string();

    let mut obj = support::example("orders-adopted-with-authorizer.yaml");
    obj["spec"]["provider"]["privateApi"]["id"] = adopted_id.clone().into();
    // The team's API has no `/orders`: not probed (an adopted API is probed only when asked).
    if let Some(api) = obj["spec"]["provider"]["privateApi"].as_mapping_mut() {
        api.remove("probePath");
    }
    obj["spec"]["provider"]["vpcEndpointId"] = team_vpce.clone().into();
    obj["spec"]["provider"]["securityGroupIds"] = vec![group_id.clone()].into();
    if let Some(provider) = obj["spec"]["provider"].as_mapping_mut() {
        provider.remove("allowedCidrs");
    }
    let created = support::create(&admin, &ns, &obj).await;
    let uid = uid(&created);
    let ready = support::wait_for(
        &admin,
        &ns,
        "orders-adopted",
        READY_TIMEOUT,
        "Ready",
        is_ready,
    )
    .await;
    let cs = ready
        .status
        .as_ref()
        .and_then(|s| s.consumer.clone())
        .expect("consumer status");
    let vpce = ready
        .status
        .as_ref()
        .and_then(|s| s.provider.as_ref())
        .and_then(|p| p.vpc_endpoint_id.clone())
        .expect("endpoint");
    assert_eq!(vpce, team_vpce, "status names the adopted endpoint");

    // The policy keeps the team's statements, adds ours, and extends the deny-list.
    let merged = private_policy(&adopted_id).await;
    let expected = policy::merge_adopted(Some(&team_policy), &policy::statement_sid(&uid), &vpce);
    assert!(policy::same_meaning(&merged, &expected), "policy: {merged}");

    // Both methods use the Lambda authorizer.
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let edge_id = cs.regional_api_id.clone().expect("edge API");
    let authorizers = c
        .apigw
        .get_authorizers()
        .rest_api_id(&edge_id)
        .send()
        .await
        .expect("authorizers");
    let authorizer = authorizers.items().first().expect("an authorizer");
    assert!(
        authorizer
            .authorizer_uri()
            .unwrap_or_default()
            .contains(":function:edge-authorizer/invocations")
    );
    let routes = edge_routes(&edge_id).await;
    for path in ["/", "/{proxy+}"] {
        let r = routes.get(path).unwrap_or_else(|| panic!("route {path}"));
        assert_eq!(
            (r.0.as_str(), r.1.as_deref()),
            ("CUSTOM", authorizer.id()),
            "{path}"
        );
    }

    // Removing the authorizer from the spec opens the methods and deletes it.
    let log_start = support::emulator_log_end().await;
    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    api.patch(
        "orders-adopted",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(
                json!([{"op": "remove", "path": "/spec/consumer/regionalApi/authorizer"}]),
            )
            .expect("patch"),
        ),
    )
    .await
    .expect("authorizer removed from spec");
    support::wait_for(
        &admin,
        &ns,
        "orders-adopted",
        READY_TIMEOUT,
        "Ready for generation 2",
        |o| is_ready(o) && o.metadata.generation == Some(2),
    )
    .await;
    let routes = edge_routes(&edge_id).await;
    assert_eq!(routes.get("/").map(|r| r.0.as_str()), Some("NONE"));
    // What was sent: `replace /authorizationType NONE` on each method (UpdateMethod documents
    // `replace` for it), no `remove`.
    let (_, log) = support::emulator_requests(log_start).await;
    let ops: Vec<Value> = log
        .iter()
        .filter(|r| {
            r["operation"] == "UpdateMethod"
                && r["params"]["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(edge_id.as_str()))
        })
        .flat_map(|r| {
            r["params"]["body"]["patchOperations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        ops,
        vec![json!({"op": "replace", "path": "/authorizationType", "value": "NONE"}); 2],
        "UpdateMethod patches"
    );
    assert!(
        c.apigw
            .get_authorizers()
            .rest_api_id(&edge_id)
            .send()
            .await
            .expect("authorizers")
            .items()
            .is_empty()
    );

    // Deletion: the adopted API stays, with exactly its owner's policy.
    support::delete_and_wait(&admin, &ns, "orders-adopted", Duration::from_secs(240)).await;
    assert!(
        policy::same_meaning(&private_policy(&adopted_id).await, &team_policy),
        "the team's policy is back as it was"
    );
    let left = support::tagged_with(&uid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    // The adopted endpoint and security group are the team's: still there.
    let endpoints = p
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&team_vpce)
        .send()
        .await
        .expect("team endpoint still described");
    assert_eq!(
        endpoints
            .vpc_endpoints()
            .first()
            .and_then(|e| e.state())
            .map(|s| s.as_str()),
        Some("available"),
        "the adopted endpoint is left as it was"
    );
    let groups = p
        .ec2
        .describe_security_groups()
        .group_ids(&group_id)
        .send()
        .await
        .expect("team group still there");
    assert_eq!(groups.security_groups().len(), 1);
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn retain_leaves_aws_resources_in_place() {
    let (admin, ns, controller) = setup("chain-retain").await;
    let mut obj = named(support::example("orders.yaml"), "retained");
    obj["spec"]["deletionPolicy"] = "Retain".into();
    obj["spec"]["provider"]["privateApi"]["name"] = format!("retained-{ns}").into();
    let created = support::create(&admin, &ns, &obj).await;
    support::wait_for(&admin, &ns, "retained", READY_TIMEOUT, "Ready", is_ready).await;
    support::delete_and_wait(&admin, &ns, "retained", Duration::from_secs(60)).await;
    let left = support::tagged_with(&uid(&created)).await;
    for kind in ["endpoint", "security group", "rest api", "vpc link", "elb"] {
        assert!(
            left.iter().any(|l| l.starts_with(kind)),
            "Retain kept no {kind}: {left:?}"
        );
    }
    drop(controller);
}

/// Ready objects of one account share its account-wide reads: within a resync interval, one list
/// of REST APIs, VPC links, endpoints, NLBs, target groups, security groups and subnets per
/// account serves every object, and no REST API is read one by one. Counted in the emulator's
/// request log, by the objects' own sessions.
#[tokio::test(flavor = "multi_thread")]
async fn ready_objects_share_account_wide_reads() {
    const OBJECTS: u64 = 4;
    const RESYNCS: u64 = 3;
    let (admin, ns, controller) = setup("chain-shared").await;
    for i in 0..OBJECTS {
        let mut obj = named(support::example("orders.yaml"), &format!("shared-{i}"));
        obj["spec"]["provider"]["privateApi"]["name"] = format!("shared-{i}-{ns}").into();
        obj["spec"]["probe"] = serde_yaml::to_value(json!({"enabled": false})).expect("yaml");
        support::create(&admin, &ns, &obj).await;
    }
    for i in 0..OBJECTS {
        let name = format!("shared-{i}");
        support::wait_for(&admin, &ns, &name, READY_TIMEOUT, "Ready", is_ready).await;
    }
    let start = support::reconciled_ready(&controller).await;
    let mark = support::emulator_log_end().await;
    wait_until(
        Duration::from_secs(120),
        "every object resynced",
        || async { support::reconciled_ready(&controller).await >= start + OBJECTS * RESYNCS },
    )
    .await;
    let (_, log) = support::emulator_requests(mark).await;
    let sessions = format!("xapi-{ns}-");
    let count = |op: &str| {
        log.iter()
            .filter(|r| {
                r["operation"] == op
                    && r["session"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&sessions))
            })
            .count() as u64
    };
    // One DescribeTargetHealth per reconcile of a Ready object: never shared.
    let reconciles = count("DescribeTargetHealth");
    assert!(reconciles >= OBJECTS * RESYNCS, "{reconciles} reconciles");
    eprintln!(
        "{reconciles} reconciles: {:?}",
        [
            "GetRestApis",
            "GetVpcLinks",
            "DescribeVpcEndpoints",
            "DescribeSubnets"
        ]
        .map(count)
    );
    assert_eq!(count("GetRestApi"), 0, "REST APIs come from the list");
    for (op, accounts) in [
        ("GetRestApis", 2),
        ("GetVpcLinks", 1),
        ("DescribeVpcEndpoints", 1),
        ("DescribeLoadBalancers", 1),
        ("DescribeTargetGroups", 1),
        ("DescribeSecurityGroups", 1),
        ("DescribeSubnets", 1),
    ] {
        // Each list serves at least two reconciles (about four here: one list per account and
        // interval, four objects).
        assert!(
            count(op) * 2 <= reconciles * accounts,
            "{op}: {} calls for {reconciles} reconciles in {accounts} account(s)",
            count(op)
        );
    }
    for i in 0..OBJECTS {
        support::delete_and_wait(
            &admin,
            &ns,
            &format!("shared-{i}"),
            Duration::from_secs(120),
        )
        .await;
    }
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_error_is_a_condition_and_an_event_and_cleanup_still_works() {
    let (admin, ns, controller) = setup("chain-bad-vpc").await;
    let mut obj = named(support::example("orders.yaml"), "bad-vpc");
    obj["spec"]["provider"]["vpcId"] = "vpc-0ffffffffffffffff".into();
    support::create(&admin, &ns, &obj).await;
    let failed = support::wait_for(
        &admin,
        &ns,
        "bad-vpc",
        Duration::from_secs(60),
        "EndpointReady=False with AWS's code",
        |o| {
            condition(o, "EndpointReady")
                .is_some_and(|(s, reason, _)| s == "False" && reason.contains("NotFound"))
        },
    )
    .await;
    let (_, reason, message) = condition(&failed, "Ready").expect("Ready condition");
    assert!(
        reason.contains("NotFound"),
        "Ready carries the cause: {reason} {message}"
    );
    assert!(
        message.contains("vpc-0ffffffffffffffff") || message.contains("222222222222"),
        "message names the account or VPC: {message}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), &ns);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = events.list(&ListParams::default()).await.expect("events");
        if list.items.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref().is_some_and(|r| r.contains("NotFound"))
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Warning event: {:?}",
            list.items
                .iter()
                .map(|e| (&e.reason, &e.note))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // An adopted private API that does not exist: the condition names the field.
    let mut missing = named(support::example("orders.yaml"), "missing-api");
    missing["spec"]["provider"]["privateApi"] =
        serde_yaml::to_value(json!({"id": "zzzzzzzzzz", "stageName": "prod"})).expect("yaml");
    let missing = support::create(&admin, &ns, &missing).await;
    support::wait_for(
        &admin,
        &ns,
        "missing-api",
        Duration::from_secs(60),
        "PrivateApiReady=False naming the field",
        |o| {
            condition(o, "PrivateApiReady").is_some_and(|(s, reason, message)| {
                s == "False"
                    && reason == "InvalidSpec"
                    && message.contains("spec.provider.privateApi.id")
                    && message.contains("zzzzzzzzzz")
            })
        },
    )
    .await;
    support::delete_and_wait(&admin, &ns, "missing-api", Duration::from_secs(240)).await;
    let left = support::tagged_with(&uid(&missing)).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    // The consumer side went ahead meanwhile; deleting removes what was made.
    let uid = uid(&failed);
    support::delete_and_wait(&admin, &ns, "bad-vpc", Duration::from_secs(240)).await;
    let left = support::tagged_with(&uid).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(controller);
}
