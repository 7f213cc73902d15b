//! Faults and timing against the emulator. These change the emulator's global settings, so they
//! run as one test in their own binary (cargo runs test binaries one after another) and put the
//! settings back even when they fail.

mod support;

use std::time::Duration;

use cross_account_api_operator::api::CrossAccountApi;
use serde_json::json;
use support::{ControllerProcess, EmulatorSettings, env, is_ready};

/// Faults the emulator has injected since it started, of the (service, kind) pairs `keep` keeps.
async fn injected_faults(keep: impl Fn(&str, &str) -> bool) -> u64 {
    let faults = support::emulator_json("/_xapi/faults").await;
    faults
        .as_object()
        .map(|services| {
            services
                .iter()
                .filter(|(name, _)| *name != "by_operation")
                .flat_map(|(service, kinds)| {
                    kinds
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(kind, _)| keep(service, kind))
                })
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// The controller's AWS call attempts that did not succeed (`outcome` other than `ok`).
async fn failed_attempts(controller: &ControllerProcess) -> u64 {
    let metrics = support::http_get(&controller.metrics).await;
    metrics
        .lines()
        .filter(|l| l.starts_with("xapi_aws_calls_total{") && !l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .map(|v| v as u64)
        .sum()
}

/// Throttles of the services the SDK clients call (STS's AssumeRole runs inside the
/// credentials provider, outside the counted clients, so STS is left out on both sides).
fn sdk_throttle(service: &str, kind: &str) -> bool {
    kind == "throttle" && service != "sts"
}

async fn sdk_throttles(controller: &ControllerProcess) -> f64 {
    support::http_get(&controller.metrics)
        .await
        .lines()
        .filter(|l| l.starts_with("xapi_aws_throttles_total{") && !l.contains("service=\"sts\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn ready_at(obj: &CrossAccountApi, type_: &str) -> jiff::Timestamp {
    obj.status
        .as_ref()
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == type_ && c.status == "True")
        })
        .map(|c| c.last_transition_time.0)
        .unwrap_or_else(|| panic!("{type_} not True"))
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_waits_and_deleting_while_provisioning() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "resilience").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    let scale: f64 = env("XAPI_EMU_TIME_SCALE").parse().unwrap_or(1.0);
    let secs = |s: f64| s / scale; // emulator waits are given at time scale 1

    // 1. Independent steps go ahead while the endpoint is pending: the VPC link (after the NLB)
    //    is AVAILABLE before the slow endpoint is, so apply→Ready ≈ the slowest chain.
    {
        let _settings = EmulatorSettings::set(json!({"waits": {"vpc_endpoint_pending": secs(20.0), "nlb_provisioning": secs(4.0), "vpc_link_pending": secs(4.0)}})).await;
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "parallel".into();
        support::create(&admin, &ns, &obj).await;
        let ready = support::wait_for(
            &admin,
            &ns,
            "parallel",
            Duration::from_secs(120),
            "Ready",
            is_ready,
        )
        .await;
        let endpoint = ready_at(&ready, "EndpointReady");
        let events: kube::Api<k8s_openapi::api::events::v1::Event> =
            kube::Api::namespaced(admin.clone(), &ns);
        let list = events.list(&Default::default()).await.expect("events");
        let link_created = list
            .items
            .iter()
            .find(|e| e.reason.as_deref() == Some("CreatedVpcLink"))
            .and_then(|e| e.event_time.as_ref().map(|t| t.0))
            .expect("a CreatedVpcLink event");
        assert!(
            link_created < endpoint,
            "the VPC link ({link_created}) waited for the endpoint ({endpoint})"
        );
        support::delete_and_wait(&admin, &ns, "parallel", Duration::from_secs(240)).await;
    }

    // 2. A VPC link is made once its NLB is active even while the reconcile still waits for a
    //    slow answer elsewhere (the private API's CreateDeployment, held 12 s): the link looks at
    //    the NLB again meanwhile instead of at the object's next reconcile.
    {
        let held = 12.0;
        let _settings = EmulatorSettings::set(json!({
            "waits": {"nlb_provisioning": secs(2.0), "vpc_link_pending": secs(2.0)},
            "latency": {"apigateway:CreateDeployment": secs(held)}
        }))
        .await;
        let mark = support::emulator_log_end().await;
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "busy-link".into();
        support::create(&admin, &ns, &obj).await;
        support::wait_for(
            &admin,
            &ns,
            "busy-link",
            Duration::from_secs(180),
            "Ready",
            is_ready,
        )
        .await;
        let (_, log) = support::emulator_requests(mark).await;
        let session = format!("xapi-{ns}-busy-link");
        let provider = env("XAPI_PROVIDER_ROLE_ARN");
        let provider = provider.split(':').nth(4).unwrap_or_default();
        let first = |op: &str, account: Option<&str>| {
            log.iter()
                .find(|r| {
                    r["operation"] == op
                        && r["session"]
                            .as_str()
                            .is_some_and(|s| s.starts_with(&session))
                        && account.is_none_or(|a| r["account"] == a)
                        && r["status"].as_u64().is_some_and(|s| s < 300)
                })
                .and_then(|r| r["time"].as_f64())
                .unwrap_or_else(|| panic!("no {op} of busy-link in the request log"))
        };
        let deployment_answered = first("CreateDeployment", Some(provider)) + held;
        let link_created = first("CreateVpcLink", None);
        assert!(
            link_created < deployment_answered,
            "the VPC link ({link_created}) waited for the private API's deployment (answered {deployment_answered})"
        );
        support::delete_and_wait(&admin, &ns, "busy-link", Duration::from_secs(240)).await;
    }

    // 3. Deleting an object that is still provisioning removes exactly what was made.
    {
        let _settings =
            EmulatorSettings::set(json!({"waits": {"nlb_provisioning": secs(60.0)}})).await;
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "early-delete".into();
        let created = support::create(&admin, &ns, &obj).await;
        support::wait_for(
            &admin,
            &ns,
            "early-delete",
            Duration::from_secs(60),
            "provisioning",
            |o| {
                o.status
                    .as_ref()
                    .and_then(|s| s.consumer.as_ref())
                    .is_some_and(|c| c.load_balancer_arn.is_some())
                    && o.status
                        .as_ref()
                        .and_then(|s| s.provider.as_ref())
                        .is_some_and(|p| p.vpc_endpoint_id.is_some())
                    && !is_ready(o)
            },
        )
        .await;
        support::delete_and_wait(&admin, &ns, "early-delete", Duration::from_secs(240)).await;
        let left = support::tagged_with(created.metadata.uid.as_deref().unwrap_or_default()).await;
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    // 4. Faults at 20 % on every service, STS included (5 % each: server errors, throttling,
    //    connections dropped before and after AWS acted): ten objects reach Ready with exactly
    //    one of each resource and are taken down leaving nothing.
    {
        let fault = json!({"error_rate": 0.05, "throttle_rate": 0.05, "drop_rate": 0.05, "drop_after_rate": 0.05});
        let faults = json!({"faults": {
            "apigateway": fault, "ec2": fault, "elasticloadbalancing": fault, "sts": fault
        }});
        let settings = EmulatorSettings::set(faults.clone()).await;
        let injected_before = injected_faults(|_, _| true).await;
        let throttles_injected_before = injected_faults(sdk_throttle).await;
        let failed_before = failed_attempts(&controller).await;
        let throttled_before = sdk_throttles(&controller).await;
        let names: Vec<String> = (0..10).map(|i| format!("faulty-{i}")).collect();
        let mut uids = Vec::new();
        for name in &names {
            let mut obj = support::example("orders.yaml");
            obj["metadata"]["name"] = name.as_str().into();
            let created = support::create(&admin, &ns, &obj).await;
            uids.push(created.metadata.uid.clone().expect("uid"));
        }
        for name in &names {
            support::wait_for(
                &admin,
                &ns,
                name,
                Duration::from_secs(600),
                "Ready despite faults",
                is_ready,
            )
            .await;
        }
        // Only what this part caused: the emulator's count of faults it injected, and the
        // controller's count of attempts that did not succeed, both as deltas.
        let injected = injected_faults(|_, _| true).await - injected_before;
        let failed = failed_attempts(&controller).await - failed_before;
        assert!(injected > 0, "faults were on but none was injected");
        assert!(
            failed > 0,
            "the controller counted no failed attempt for {injected} injected faults"
        );
        // Every service's own throttling answer is counted as a throttle, EC2's 503 too (read
        // after the emulator's count: an attempt in flight between the two may add one).
        let throttles = injected_faults(sdk_throttle).await - throttles_injected_before;
        let throttled = sdk_throttles(&controller).await - throttled_before;
        assert!(throttles > 0, "no throttle was injected");
        assert!(
            throttled >= throttles as f64,
            "xapi_aws_throttles_total counted {throttled} of {throttles} injected throttles"
        );
        // The test's own look-ups run with the faults off.
        drop(settings);
        let one_of_each = support::one_of_each();
        for (name, uid) in names.iter().zip(&uids) {
            let kinds = support::tagged_kinds(uid).await;
            assert_eq!(kinds, one_of_each, "{name}");
        }
        let settings = EmulatorSettings::set(faults).await;
        let api: kube::Api<CrossAccountApi> = kube::Api::namespaced(admin.clone(), &ns);
        for name in &names {
            api.delete(name, &Default::default()).await.expect("delete");
        }
        support::wait_until(Duration::from_secs(600), "all ten deleted", || async {
            api.list(&Default::default()).await.is_ok_and(|l| {
                l.items
                    .iter()
                    .all(|o| !names.contains(&o.metadata.name.clone().unwrap_or_default()))
            })
        })
        .await;
        drop(settings);
        for (name, uid) in names.iter().zip(&uids) {
            let left = support::tagged_with(uid).await;
            assert!(left.is_empty(), "{name} left behind: {left:?}");
        }
    }
    drop(controller);
}
