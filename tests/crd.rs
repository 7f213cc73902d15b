//! The CRD against the real kube-apiserver: installed, objects created and read back, invalid
//! input refused at apply time with a message naming the field, immutable fields, explain docs,
//! and the file in sync with the types.

mod support;

use cross_account_api_operator::account_role::{self, AccountRole};
use cross_account_api_operator::api::{CrossAccountApi, crd_yaml};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn valid() -> Value {
    json!({
        "apiVersion": "apigw.crossaccount.io/v1alpha1",
        "kind": "CrossAccountApi",
        "metadata": {"name": "valid"},
        "spec": {
            "provider": {
                "region": "us-east-1",
                "roleArn": "arn:aws:iam::222222222222:role/xapi-provider",
                "vpcId": "vpc-0b1234567890abcde",
                "subnetIds": ["subnet-0a1234567890abcde", "subnet-0b1234567890abcde"],
                "allowedCidrs": ["10.1.0.0/16"],
                "privateApi": {"stageName": "prod"}
            },
            "consumer": {
                "region": "us-east-1",
                "roleArn": "arn:aws:iam::111111111111:role/xapi-consumer",
                "vpcId": "vpc-0a1234567890abcde",
                "subnetIds": ["subnet-0c1234567890abcde"],
                "regionalApi": {"stageName": "prod"}
            }
        }
    })
}

/// `valid()` in the long form, with a created private API per path.
fn with_routes(paths: &[&str]) -> Value {
    let routes: Vec<Value> = paths
        .iter()
        .map(|p| json!({"path": p, "privateApi": {"stageName": "prod"}}))
        .collect();
    with(
        with(valid(), "/spec/provider/privateApi", None),
        "/spec/routes",
        Some(json!(routes)),
    )
}

/// Sets (Some) or removes (None) the value at a JSON pointer.
fn with(mut obj: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = obj
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no parent {parent}"));
    match value {
        Some(v) => match target {
            Value::Object(map) => {
                map.insert(key.to_string(), v);
            }
            Value::Array(list) => list[key.parse::<usize>().expect("index")] = v,
            _ => panic!("cannot set {pointer}"),
        },
        None => {
            target.as_object_mut().expect("object").remove(key);
        }
    }
    obj
}

#[test]
fn crd_files_are_in_sync_with_the_types() {
    for (file, generated) in [
        ("crossaccountapi.yaml", crd_yaml().expect("CRD renders")),
        (
            "accountrole.yaml",
            account_role::crd_yaml().expect("CRD renders"),
        ),
    ] {
        for dir in ["crds", "charts/cross-account-api-operator/crds"] {
            let path = format!("{dir}/{file}");
            let on_disk =
                std::fs::read_to_string(support::root().join(&path)).expect("CRD file exists");
            assert!(
                on_disk == generated,
                "{path} differs from `cross-account-api-operator crd`: regenerate it"
            );
        }
    }
}

#[tokio::test]
async fn account_roles_are_validated_at_apply_time() {
    let client = support::admin().await;
    support::install_crd(&client).await;
    let valid = json!({
        "apiVersion": "apigw.crossaccount.io/v1alpha1",
        "kind": "AccountRole",
        "metadata": {"name": "crd-valid-role"},
        "spec": {
            "roleArn": "arn:aws:iam::222222222222:role/xapi-provider",
            "externalId": "ext-1234",
            "namespaces": ["team-a"],
            "namespaceSelector": {"matchLabels": {"xapi/provider": "orders"}},
            "regions": ["us-east-1"]
        }
    });
    let roles = Api::<kube::api::DynamicObject>::all_with(
        client.clone(),
        &kube::api::ApiResource::erase::<AccountRole>(&()),
    );
    let create = |body: Value| {
        let roles = roles.clone();
        async move {
            roles
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(body).expect("dynamic object"),
                )
                .await
        }
    };
    let _ = roles.delete("crd-valid-role", &Default::default()).await;
    create(valid.clone())
        .await
        .expect("valid AccountRole accepted");
    let mut failures = Vec::new();
    for (what, pointer, value, field) in [
        (
            "not a role ARN",
            "/spec/roleArn",
            json!("arn:aws:iam::222222222222:user/x"),
            "spec.roleArn",
        ),
        (
            "unsupported partition",
            "/spec/roleArn",
            json!("arn:aws-iso:iam::222222222222:role/x"),
            "spec.roleArn",
        ),
        (
            "a namespace that is no DNS label",
            "/spec/namespaces",
            json!(["Team_A"]),
            "spec.namespaces[0]",
        ),
        (
            "an external id with a space",
            "/spec/externalId",
            json!("a b"),
            "spec.externalId",
        ),
        (
            "a region of an unsupported partition",
            "/spec/regions",
            json!(["us-isob-east-1"]),
            "spec.regions",
        ),
        (
            "a selector operator Kubernetes does not know",
            "/spec/namespaceSelector",
            json!({"matchExpressions": [{"key": "a", "operator": "Near"}]}),
            "spec.namespaceSelector",
        ),
    ] {
        let body = with(
            with(valid.clone(), "/metadata/name", Some(json!("crd-bad-role"))),
            pointer,
            Some(value),
        );
        match create(body).await {
            Ok(_) => {
                failures.push(format!("{what}: accepted"));
                let _ = roles.delete("crd-bad-role", &Default::default()).await;
            }
            Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains(field) => {}
            Err(e) => failures.push(format!("{what}: refused without naming {field}: {e}")),
        }
    }
    let _ = roles.delete("crd-valid-role", &Default::default()).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn crd_installs_objects_round_trip_and_invalid_input_is_refused() {
    let client = support::admin().await;
    support::install_crd(&client).await;
    let ns = support::namespace(&client, "crd-validation").await;
    let api: Api<CrossAccountApi> = Api::namespaced(client.clone(), &ns);

    // A valid object is accepted and reads back with its defaults.
    let obj: CrossAccountApi = serde_json::from_value(valid()).expect("valid object parses");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("valid object accepted");
    let back = api.get("valid").await.expect("read back");
    assert_eq!(back.spec.provider.subnet_ids.len(), 2);
    assert_eq!(
        back.spec.deletion_policy,
        cross_account_api_operator::api::DeletionPolicy::Delete
    );
    assert!(!back.spec.provider.private_dns_enabled);

    let p = "/spec/provider";
    let c = "/spec/consumer";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad provider region",
            with(valid(), &format!("{p}/region"), Some(json!("US-EAST-1"))),
            "spec.provider.region",
        ),
        (
            "bad consumer region",
            with(valid(), &format!("{c}/region"), Some(json!("useast1"))),
            "spec.consumer.region",
        ),
        (
            "role ARN of a user",
            with(
                valid(),
                &format!("{p}/roleArn"),
                Some(json!("arn:aws:iam::222222222222:user/bob")),
            ),
            "spec.provider.roleArn",
        ),
        (
            "role ARN short account",
            with(
                valid(),
                &format!("{c}/roleArn"),
                Some(json!("arn:aws:iam::1111:role/x")),
            ),
            "spec.consumer.roleArn",
        ),
        (
            "external id too short",
            with(valid(), &format!("{p}/externalId"), Some(json!("x"))),
            "spec.provider.externalId",
        ),
        (
            "external id bad chars",
            with(valid(), &format!("{c}/externalId"), Some(json!("a b"))),
            "spec.consumer.externalId",
        ),
        (
            "provider vpc id",
            with(valid(), &format!("{p}/vpcId"), Some(json!("vpc-123"))),
            "spec.provider.vpcId",
        ),
        (
            "consumer vpc id",
            with(
                valid(),
                &format!("{c}/vpcId"),
                Some(json!("vpc_0a1234567890abcde")),
            ),
            "spec.consumer.vpcId",
        ),
        (
            "provider subnet id",
            with(
                valid(),
                &format!("{p}/subnetIds/0"),
                Some(json!("subnet-xyz")),
            ),
            "spec.provider.subnetIds[0]",
        ),
        (
            "consumer subnet id",
            with(
                valid(),
                &format!("{c}/subnetIds/0"),
                Some(json!("sn-0c1234567890abcde")),
            ),
            "spec.consumer.subnetIds[0]",
        ),
        (
            "no provider subnets",
            with(valid(), &format!("{p}/subnetIds"), Some(json!([]))),
            "spec.provider.subnetIds",
        ),
        (
            "seven subnets",
            with(
                valid(),
                &format!("{c}/subnetIds"),
                Some(json!(
                    (1..=7)
                        .map(|i| format!("subnet-0{i}234567890abcde"))
                        .collect::<Vec<_>>()
                )),
            ),
            "spec.consumer.subnetIds",
        ),
        (
            "duplicate subnets",
            with(
                valid(),
                &format!("{p}/subnetIds"),
                Some(json!([
                    "subnet-0a1234567890abcde",
                    "subnet-0a1234567890abcde"
                ])),
            ),
            "spec.provider.subnetIds[1]",
        ),
        (
            "bad CIDR",
            with(
                valid(),
                &format!("{p}/allowedCidrs"),
                Some(json!(["10.1.0.0/33"])),
            ),
            "spec.provider.allowedCidrs",
        ),
        (
            "CIDR without length",
            with(
                valid(),
                &format!("{p}/allowedCidrs"),
                Some(json!(["10.1.0.0"])),
            ),
            "spec.provider.allowedCidrs",
        ),
        (
            "neither CIDRs nor groups",
            with(valid(), &format!("{p}/allowedCidrs"), None),
            "allowedCidrs or securityGroupIds",
        ),
        (
            "bad security group",
            with(
                valid(),
                &format!("{p}/securityGroupIds"),
                Some(json!(["sg-zz"])),
            ),
            "spec.provider.securityGroupIds[0]",
        ),
        (
            "bad endpoint id",
            with(
                valid(),
                &format!("{p}/vpcEndpointId"),
                Some(json!("vpce-123456789")),
            ),
            "spec.provider.vpcEndpointId",
        ),
        (
            "bad private API id",
            with(valid(), &format!("{p}/privateApi/id"), Some(json!("ABC"))),
            "spec.provider.privateApi.id",
        ),
        (
            "private stage name",
            with(
                valid(),
                &format!("{p}/privateApi/stageName"),
                Some(json!("prod-1")),
            ),
            "spec.provider.privateApi.stageName",
        ),
        (
            "regional stage too long",
            with(
                valid(),
                &format!("{c}/regionalApi/stageName"),
                Some(json!("s".repeat(129))),
            ),
            "spec.consumer.regionalApi.stageName",
        ),
        (
            "missing stage",
            with(valid(), &format!("{c}/regionalApi/stageName"), None),
            "spec.consumer.regionalApi.stageName",
        ),
        (
            "bad API name",
            with(
                valid(),
                &format!("{c}/regionalApi/name"),
                Some(json!("-edge")),
            ),
            "spec.consumer.regionalApi.name",
        ),
        (
            "name with adopted id",
            with(
                with(
                    valid(),
                    &format!("{p}/privateApi/id"),
                    Some(json!("a1b2c3d4e5")),
                ),
                &format!("{p}/privateApi/name"),
                Some(json!("x")),
            ),
            "spec.provider.privateApi.name",
        ),
        (
            "bad lambda ARN",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(json!({"lambdaArn": "arn:aws:lambda:us-east-1:111111111111:auth"})),
            ),
            "spec.consumer.regionalApi.authorizer.lambdaArn",
        ),
        (
            "bad authorizer type",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(
                    json!({"lambdaArn": "arn:aws:lambda:us-east-1:111111111111:function:auth", "type": "COGNITO"}),
                ),
            ),
            "spec.consumer.regionalApi.authorizer.type",
        ),
        (
            "TTL too long",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(
                    json!({"lambdaArn": "arn:aws:lambda:us-east-1:111111111111:function:auth", "resultTtlSeconds": 3601}),
                ),
            ),
            "spec.consumer.regionalApi.authorizer.resultTtlSeconds",
        ),
        (
            "bad identity source",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(
                    json!({"lambdaArn": "arn:aws:lambda:us-east-1:111111111111:function:auth", "identitySource": "Authorization"}),
                ),
            ),
            "spec.consumer.regionalApi.authorizer.identitySource",
        ),
        (
            "bad deletion policy",
            with(valid(), "/spec/deletionPolicy", Some(json!("Orphan"))),
            "spec.deletionPolicy",
        ),
        (
            "same VPC same account",
            with(
                with(
                    valid(),
                    &format!("{c}/vpcId"),
                    Some(json!("vpc-0b1234567890abcde")),
                ),
                &format!("{c}/roleArn"),
                Some(json!("arn:aws:iam::222222222222:role/other")),
            ),
            "spec.consumer.vpcId",
        ),
        ("missing provider", with(valid(), p, None), "spec.provider"),
        (
            "CIDRs with given groups",
            with(
                valid(),
                &format!("{p}/securityGroupIds"),
                Some(json!(["sg-0a1234567890abcde"])),
            ),
            "spec.provider.allowedCidrs only shapes",
        ),
        (
            "external id without role",
            with(
                with(valid(), &format!("{p}/roleArn"), None),
                &format!("{p}/externalId"),
                Some(json!("ext-1")),
            ),
            "spec.provider.externalId",
        ),
        (
            "consumer external id without role",
            with(
                with(valid(), &format!("{c}/roleArn"), None),
                &format!("{c}/externalId"),
                Some(json!("ext-1")),
            ),
            "spec.consumer.externalId",
        ),
        (
            "authorizer in another region",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(json!({"lambdaArn": "arn:aws:lambda:eu-west-1:111111111111:function:auth"})),
            ),
            "spec.consumer.regionalApi.authorizer.lambdaArn",
        ),
        (
            "TOKEN authorizer with a query-string identity",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(json!({
                    "lambdaArn": "arn:aws:lambda:us-east-1:111111111111:function:auth",
                    "identitySource": "method.request.querystring.token",
                })),
            ),
            "spec.consumer.regionalApi.authorizer.identitySource",
        ),
        (
            "TOKEN authorizer with two identity sources",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(json!({
                    "lambdaArn": "arn:aws:lambda:us-east-1:111111111111:function:auth",
                    "type": "TOKEN",
                    "identitySource": "method.request.header.A, method.request.header.B",
                })),
            ),
            "spec.consumer.regionalApi.authorizer.identitySource",
        ),
        (
            "region of an unsupported partition",
            with(
                valid(),
                &format!("{p}/region"),
                Some(json!("us-iso-east-1")),
            ),
            "spec.provider.region",
        ),
        (
            "role ARN of an unsupported partition",
            with(
                valid(),
                &format!("{c}/roleArn"),
                Some(json!("arn:aws-iso:iam::111111111111:role/x")),
            ),
            "spec.consumer.roleArn",
        ),
        (
            "a provider AccountRole and an inline role at once",
            with(
                valid(),
                &format!("{p}/roleRef"),
                Some(json!("xapi-provider")),
            ),
            "spec.provider: name an AccountRole in roleRef or give an inline roleArn, not both",
        ),
        (
            "a consumer AccountRole that is no Kubernetes name",
            with(
                with(valid(), &format!("{c}/roleArn"), None),
                &format!("{c}/roleRef"),
                Some(json!("Xapi_Consumer")),
            ),
            "spec.consumer.roleRef",
        ),
        (
            "role ARN of another partition than the region",
            with(
                valid(),
                &format!("{p}/roleArn"),
                Some(json!("arn:aws-cn:iam::222222222222:role/x")),
            ),
            "spec.provider.roleArn",
        ),
        (
            "authorizer ARN of another partition than its region",
            with(
                valid(),
                &format!("{c}/regionalApi/authorizer"),
                Some(
                    json!({"lambdaArn": "arn:aws-us-gov:lambda:us-east-1:111111111111:function:auth"}),
                ),
            ),
            "spec.consumer.regionalApi.authorizer.lambdaArn",
        ),
        (
            "probe path without a leading slash",
            with(
                valid(),
                &format!("{p}/privateApi/probePath"),
                Some(json!("health")),
            ),
            "spec.provider.privateApi.probePath",
        ),
        (
            "probe interval that is not a duration",
            with(
                valid(),
                "/spec/probe",
                Some(json!({"interval": "5 minutes"})),
            ),
            "spec.probe.interval",
        ),
        (
            "both forms",
            with(
                valid(),
                "/spec/routes",
                Some(json!([{"path": "/orders", "privateApi": {"stageName": "prod"}}])),
            ),
            "spec.routes: Invalid value",
        ),
        (
            "neither form",
            with(valid(), &format!("{p}/privateApi"), None),
            "spec.provider.privateApi or spec.routes is required",
        ),
        (
            "duplicate route path",
            with_routes(&["/orders", "/", "/orders"]),
            "spec.routes[2]: Duplicate value",
        ),
        (
            "two routes at /",
            with_routes(&["/", "/orders", "/"]),
            "spec.routes[2]: Duplicate value",
        ),
        (
            "route path under another",
            with_routes(&["/", "/shop/orders", "/shop"]),
            "spec.routes[2].path is a segment-prefix",
        ),
        (
            "bad route path characters",
            with_routes(&["/orders", "/pay ments"]),
            "spec.routes[1].path",
        ),
        (
            "route path with a trailing slash",
            with_routes(&["/orders/"]),
            "spec.routes[0].path",
        ),
        (
            "more than 25 routes",
            with_routes(
                &(0..26)
                    .map(|i| format!("/r{i}"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            "spec.routes: Too many",
        ),
        (
            "bad route API id",
            with(
                with_routes(&["/orders"]),
                "/spec/routes/0/privateApi/id",
                Some(json!("ABC")),
            ),
            "spec.routes[0].privateApi.id",
        ),
        (
            "name too long for the owner tag",
            with(valid(), "/metadata/name", Some(json!("n".repeat(193)))),
            "metadata.name",
        ),
    ];
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (i, (what, body, field)) in cases.iter().enumerate() {
        // Each case its own name, unless the name is what the case is about.
        let long_name = body["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.len() > 63);
        let body = if long_name {
            body.clone()
        } else {
            with(
                body.clone(),
                "/metadata/name",
                Some(json!(format!("invalid-{i}"))),
            )
        };
        // A create, as `kubectl apply` sends for a new object.
        let result = Api::<kube::api::DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &kube::api::ApiResource::erase::<CrossAccountApi>(&()),
        )
        .create(
            &PostParams::default(),
            &serde_json::from_value(body).expect("dynamic object"),
        )
        .await;
        match result {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains(field) => {}
            Err(e) => failures.push(format!("{what}: refused without naming {field}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The same VPC id in two different accounts is fine (cross-field rule is per account).
    let two_accounts = with(
        with(
            valid(),
            &format!("{c}/vpcId"),
            Some(json!("vpc-0b1234567890abcde")),
        ),
        "/metadata/name",
        Some(json!("same-vpc-id")),
    );
    api.patch(
        "same-vpc-id",
        &PatchParams::apply("xapi-tests"),
        &Patch::Apply(&two_accounts),
    )
    .await
    .expect("same VPC id in another account is valid");

    // Immutable fields: region, vpcId, subnets of the NLB, adopted API id.
    for (pointer, value, field) in [
        (
            format!("{p}/region"),
            json!("us-west-2"),
            "spec.provider.region is immutable",
        ),
        (
            format!("{c}/vpcId"),
            json!("vpc-0f1234567890abcde"),
            "spec.consumer.vpcId is immutable",
        ),
        (
            format!("{c}/subnetIds"),
            json!(["subnet-0d1234567890abcde"]),
            "spec.consumer.subnetIds is immutable",
        ),
        (
            format!("{p}/privateApi/id"),
            json!("a1b2c3d4e5"),
            "spec.provider.privateApi.id: Invalid value: privateApi.id is immutable",
        ),
        (
            format!("{p}/vpcEndpointId"),
            json!("vpce-0123456789abcdef0"),
            "spec.provider.vpcEndpointId cannot be added",
        ),
    ] {
        let body = with(valid(), &pointer, Some(value));
        match api
            .patch(
                "valid",
                &PatchParams::apply("xapi-tests").force(),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => panic!("change of {pointer} accepted"),
            Err(kube::Error::Api(e)) => assert!(
                e.message.contains(field),
                "change of {pointer}: {}",
                e.message
            ),
            Err(e) => panic!("change of {pointer}: {e}"),
        }
    }
    // A route's adopted API is immutable too; its routes list may change.
    let adopting = with(
        with(
            with_routes(&["/orders", "/team"]),
            "/metadata/name",
            Some(json!("routed")),
        ),
        "/spec/routes/1/privateApi/id",
        Some(json!("a1b2c3d4e5")),
    );
    api.patch(
        "routed",
        &PatchParams::apply("xapi-tests"),
        &Patch::Apply(&adopting),
    )
    .await
    .expect("routes accepted");
    let swapped = with(
        adopting.clone(),
        "/spec/routes/1/privateApi/id",
        Some(json!("f6g7h8i9j0")),
    );
    match api
        .patch(
            "routed",
            &PatchParams::apply("xapi-tests").force(),
            &Patch::Apply(&swapped),
        )
        .await
    {
        Ok(_) => panic!("a route's adopted API id changed"),
        Err(kube::Error::Api(e)) => assert!(
            e.message.contains("spec.routes[1].privateApi.id") && e.message.contains("immutable"),
            "{}",
            e.message
        ),
        Err(e) => panic!("{e}"),
    }
    let fewer = with(
        adopting,
        "/spec/routes",
        Some(json!([{"path": "/orders", "privateApi": {"stageName": "v2"}}])),
    );
    api.patch(
        "routed",
        &PatchParams::apply("xapi-tests").force(),
        &Patch::Apply(&fewer),
    )
    .await
    .expect("a route removed and another's stage changed");

    // A mutable field changes fine.
    let body = with(
        valid(),
        &format!("{p}/allowedCidrs"),
        Some(json!(["10.1.0.0/16", "10.3.0.0/16"])),
    );
    api.patch(
        "valid",
        &PatchParams::apply("xapi-tests").force(),
        &Patch::Apply(&body),
    )
    .await
    .expect("allowedCidrs may change");
}

#[tokio::test]
async fn examples_are_accepted() {
    let client = support::admin().await;
    support::install_crd(&client).await;
    let ns = support::namespace(&client, "crd-examples").await;
    for file in [
        "orders.yaml",
        "orders-adopted-with-authorizer.yaml",
        "shop-routes.yaml",
    ] {
        // (account-roles.yaml is applied by install_crd.)
        let obj = support::example(file);
        let created = support::create(&client, &ns, &obj).await;
        assert!(created.metadata.uid.is_some(), "{file} created");
    }
}

#[tokio::test]
async fn kubectl_explain_shows_field_docs() {
    let client = support::admin().await;
    support::install_crd(&client).await;
    for (field, words) in [
        (
            "xapi.spec.provider.allowedCidrs",
            "CIDRs allowed to reach the endpoint on TCP 443",
        ),
        (
            "xapi.spec.provider.roleRef",
            "it must grant this object's namespace and region",
        ),
        (
            "xrole.spec.namespaceSelector",
            "Namespaces whose labels match",
        ),
    ] {
        let out = std::process::Command::new(support::env("XAPI_KUBECTL"))
            .args(["explain", field])
            .env("KUBECONFIG", support::env("KUBECONFIG"))
            .output()
            .expect("kubectl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubectl explain {field} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // kubectl wraps long descriptions: compare with the line breaks undone.
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains(words), "{field}: {text}");
    }
}
