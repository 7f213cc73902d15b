//! Input the schema accepts but AWS refuses: each case shows `Ready=False` with AWS's code as
//! the reason and its message on the step's condition, and a Warning Event with that reason;
//! then either the spec is fixed and the object converges, or it is deleted and nothing with
//! its uid tag remains. The cases run side by side under one controller; a refusal that needs a
//! change of the spec is retried on a growing delay.

mod support;

use std::time::Duration;

use cross_account_api_operator::api::CrossAccountApi;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{ControllerProcess, condition, env, is_ready};

const WAIT: Duration = Duration::from_secs(180);

struct Case {
    name: &'static str,
    /// JSON pointer and the bad value.
    bad: (&'static str, Value),
    /// The condition that must say it, and words its reason must hold.
    condition: &'static str,
    reason: &'static str,
    /// Words the message must hold.
    message: &'static str,
    /// The repair (a pointer and a good value), else the object is deleted.
    fix: Option<(&'static str, Value)>,
}

fn set(obj: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    obj.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no {parent}"))
        .insert(key.to_string(), value);
}

/// A second VPC with one subnet in the provider account (a subnet of "another VPC").
async fn other_vpc_subnet(p: &support::Account) -> String {
    let vpc = p
        .ec2
        .create_vpc()
        .cidr_block("10.77.0.0/16")
        .send()
        .await
        .expect("vpc");
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("vpc id")
        .to_string();
    let mut attempts = 0;
    loop {
        match p
            .ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.77.1.0/24")
            .send()
            .await
        {
            Ok(out) => {
                return out
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .expect("subnet id")
                    .to_string();
            }
            // EC2 shows a new VPC to other calls only after a moment.
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("subnet not yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("subnet: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_aws_refuses_is_a_condition_an_event_and_nothing_half_made() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "bad-input").await;
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    controller.wait_ready().await;
    let p = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
    let good_subnets: Value = env("XAPI_PROVIDER_SUBNET_IDS")
        .split(',')
        .map(|s| Value::String(s.to_string()))
        .collect();
    let consumer_subnet = env("XAPI_CONSUMER_SUBNET_IDS")
        .split(',')
        .next()
        .expect("a consumer subnet")
        .to_string();
    let foreign_vpc_subnet = other_vpc_subnet(&p).await;

    let cases = vec![
        Case {
            name: "no-such-vpc",
            bad: ("/spec/provider/vpcId", json!("vpc-0fffffffffffffff0")),
            condition: "EndpointReady",
            reason: "InvalidVpcIDNotFound",
            message: "vpc-0fffffffffffffff0",
            // vpcId is immutable: the object is deleted instead.
            fix: None,
        },
        Case {
            name: "no-such-private-api",
            bad: (
                "/spec/provider/privateApi",
                json!({"id": "a0b1c2d3e4", "stageName": "prod"}),
            ),
            condition: "PrivateApiReady",
            reason: "InvalidSpec",
            message: "spec.provider.privateApi.id",
            fix: None,
        },
        Case {
            name: "no-such-function",
            bad: (
                "/spec/consumer/regionalApi/authorizer",
                json!({"lambdaArn": format!(
                    "arn:aws:lambda:{}:{}:function:no-such-authorizer",
                    env("XAPI_REGION"),
                    env("XAPI_CONSUMER_ACCOUNT")
                )}),
            ),
            condition: "RegionalApiReady",
            reason: "InvalidSpec",
            message: "spec.consumer.regionalApi.authorizer.lambdaArn: arn:aws:lambda:",
            fix: Some((
                "/spec/consumer/regionalApi/authorizer/lambdaArn",
                json!(env("XAPI_AUTHORIZER_FUNCTION_ARN")),
            )),
        },
        Case {
            name: "no-such-subnet",
            bad: (
                "/spec/provider/subnetIds",
                json!(["subnet-0fffffffffffffff0"]),
            ),
            condition: "EndpointReady",
            reason: "InvalidSubnetIDNotFound",
            message: "subnet-0fffffffffffffff0",
            fix: Some(("/spec/provider/subnetIds", good_subnets.clone())),
        },
        Case {
            name: "subnet-of-another-vpc",
            bad: ("/spec/provider/subnetIds", json!([foreign_vpc_subnet])),
            condition: "EndpointReady",
            reason: "InvalidParameter",
            message: "does not belong to VPC",
            fix: None,
        },
        Case {
            name: "subnet-of-another-account",
            bad: ("/spec/provider/subnetIds", json!([consumer_subnet])),
            condition: "EndpointReady",
            reason: "InvalidSubnetIDNotFound",
            message: "222222222222",
            fix: None,
        },
        Case {
            name: "no-such-endpoint",
            bad: (
                "/spec/provider/vpcEndpointId",
                json!("vpce-0fffffffffffffff0"),
            ),
            condition: "EndpointReady",
            reason: "InvalidSpec",
            message: "spec.provider.vpcEndpointId",
            fix: None,
        },
    ];

    let api: Api<CrossAccountApi> = Api::namespaced(admin.clone(), &ns);
    let log_start = support::emulator_log_end().await;
    let mut uids = Vec::new();
    for case in &cases {
        let mut obj: Value = serde_json::to_value(support::example("orders.yaml")).expect("json");
        set(&mut obj, "/metadata/name", json!(case.name));
        set(&mut obj, case.bad.0, case.bad.1.clone());
        let yaml: serde_yaml::Value = serde_json::from_value(obj).expect("yaml");
        let made = support::create(&admin, &ns, &yaml).await;
        uids.push(made.metadata.uid.clone().expect("uid"));
    }
    for case in &cases {
        let seen = support::wait_for(&admin, &ns, case.name, WAIT, case.reason, |o| {
            condition(o, case.condition)
                .is_some_and(|(s, reason, _)| s == "False" && reason.contains(case.reason))
        })
        .await;
        let (_, _, message) = condition(&seen, case.condition).expect("condition");
        assert!(message.contains(case.message), "{}: {message}", case.name);
        assert!(!is_ready(&seen), "{}", case.name);
        // kstatus: a refusal only a change mends is Stalled, with the same reason.
        assert_eq!(
            support::kstatus(&seen),
            ["False", "False", "True"],
            "{}",
            case.name
        );
        let (_, stalled_reason, _) = condition(&seen, "Stalled").expect("Stalled");
        assert!(
            stalled_reason.contains(case.reason),
            "{}: {stalled_reason}",
            case.name
        );
        support::wait_until(WAIT, &format!("{}: a Warning Event", case.name), || {
            support::warning_with(&admin, &ns, case.name, case.reason)
        })
        .await;
    }
    // A refusal that only a change of the spec can mend is retried on a growing delay: the
    // gaps between the controller's CreateVpcEndpoint attempts with the foreign subnet grow.
    let (mut since, mut attempts) = (log_start, Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while attempts.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "CreateVpcEndpoint with the other VPC's subnet tried {} times in 240 s",
            attempts.len()
        );
        let (next, log) = support::emulator_requests(since).await;
        since = next;
        attempts.extend(
            log.iter()
                .filter(|r| r["operation"] == "CreateVpcEndpoint")
                .filter(|r| r["params"].to_string().contains(&foreign_vpc_subnet))
                .filter_map(|r| r["time"].as_f64()),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (first, second) = (attempts[1] - attempts[0], attempts[2] - attempts[1]);
    assert!(
        second > first * 1.5,
        "retry delays {first:.1} s then {second:.1} s: not growing"
    );

    // Each case is fixed (or deleted) side by side: deletions wait on AWS (the VPC link goes
    // first), and one after another they would take minutes.
    let settle = cases.iter().zip(&uids).map(|(case, uid)| {
        let (admin, ns, api) = (&admin, &ns, &api);
        async move {
            if let Some((pointer, value)) = &case.fix {
                let mut patch = json!({});
                let path: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
                let mut at = &mut patch;
                for (i, key) in path.iter().enumerate() {
                    at = at
                        .as_object_mut()
                        .expect("object")
                        .entry(key.to_string())
                        .or_insert(if i + 1 == path.len() {
                            value.clone()
                        } else {
                            json!({})
                        });
                }
                api.patch(case.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("fixed");
                let fixed =
                    support::wait_for(admin, ns, case.name, WAIT, "Ready once fixed", is_ready)
                        .await;
                assert_eq!(support::kstatus(&fixed), ["True", "False", "False"]);
            }
            support::delete_and_wait(admin, ns, case.name, WAIT).await;
            let left = support::tagged_with(uid).await;
            assert!(left.is_empty(), "{} left behind: {left:?}", case.name);
        }
    });
    futures::future::join_all(settle).await;
    drop(controller);

    // Someone else's target group under the name the operator derives from the uid: created
    // while no controller runs, so the operator meets it first. `NameTaken`, and it is never
    // touched, not even on deletion.
    let taken = support::create(&admin, &ns, &{
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "name-taken".into();
        obj
    })
    .await;
    let uid = taken.metadata.uid.clone().expect("uid");
    let name = format!(
        "xapi-{}",
        uid.chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(27)
            .collect::<String>()
    );
    let c = support::account(&env("XAPI_CONSUMER_ROLE_ARN")).await;
    let foreign = c
        .elb
        .create_target_group()
        .name(&name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(443)
        .vpc_id(env("XAPI_CONSUMER_VPC_ID"))
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .send()
        .await
        .expect("someone else's target group");
    let foreign_arn = foreign.target_groups()[0]
        .target_group_arn()
        .expect("arn")
        .to_string();
    let controller = ControllerProcess::start(&ns, &env("KUBECONFIG"), "5s");
    support::wait_for(&admin, &ns, "name-taken", WAIT, "NameTaken", |o| {
        condition(o, "LoadBalancerReady").is_some_and(|(s, reason, m)| {
            s == "False" && reason == "NameTaken" && m.contains(&name)
        })
    })
    .await;
    support::wait_until(WAIT, "a NameTaken Warning Event", || {
        support::warning_with(&admin, &ns, "name-taken", "NameTaken")
    })
    .await;
    support::delete_and_wait(&admin, &ns, "name-taken", WAIT).await;
    assert!(support::tagged_with(&uid).await.is_empty());
    let still = c
        .elb
        .describe_target_groups()
        .target_group_arns(&foreign_arn)
        .send()
        .await
        .expect("someone else's group is still there");
    assert_eq!(still.target_groups().len(), 1);
    c.elb
        .delete_target_group()
        .target_group_arn(&foreign_arn)
        .send()
        .await
        .expect("cleaned up");

    // A VPC link that goes FAILED: AWS's statusMessage in a Warning Event; the link is deleted,
    // a new one is made, and the object converges with one link.
    let failure = "NLB ENIs could not be provisioned";
    support::http_post(
        &format!("{}/_xapi/vpclink/fail-next", env("AWS_ENDPOINT_URL")),
        &json!({ "message": failure }).to_string(),
    )
    .await;
    let failing = support::create(&admin, &ns, &{
        let mut obj = support::example("orders.yaml");
        obj["metadata"]["name"] = "link-fails".into();
        obj
    })
    .await;
    let uid = failing.metadata.uid.clone().expect("uid");
    support::wait_until(WAIT, "a VpcLinkFailed Warning Event", || {
        support::warning_with(&admin, &ns, "link-fails", "VpcLinkFailed")
    })
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), &ns);
    let notes: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("VpcLinkFailed"))
        .filter_map(|e| e.note)
        .collect();
    assert!(notes.iter().any(|n| n.contains(failure)), "{notes:?}");
    support::wait_for(
        &admin,
        &ns,
        "link-fails",
        WAIT,
        "Ready with a new link",
        is_ready,
    )
    .await;
    // The failed link goes on the pass after the integrations moved to the new one.
    support::wait_until(WAIT, "one VPC link left", || async {
        support::tagged_kinds(&uid).await.get("vpc link") == Some(&1)
    })
    .await;
    support::delete_and_wait(&admin, &ns, "link-fails", WAIT).await;
    assert!(support::tagged_with(&uid).await.is_empty());
    drop(controller);
}
