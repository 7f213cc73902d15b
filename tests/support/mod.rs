//! The test ground for integration tests: the real kube-apiserver and the AWS emulator started
//! once per run by `testenv/ground.py` (or reused when up), a namespace per test, the controller
//! as its own process, and AWS clients per account for checking results independently.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cross_account_api_operator::account_role::AccountRole;
use cross_account_api_operator::api::{CrossAccountApi, UID_TAG};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

/// The ground's env file as a map.
pub fn ground() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let root = root();
        let out = Command::new("python3")
            .arg(root.join("testenv/ground.py"))
            .arg("up")
            .current_dir(&root)
            .stderr(Stdio::inherit())
            .output()
            .expect("python3 runs testenv/ground.py");
        assert!(out.status.success(), "the test ground did not come up");
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        parse_env(&std::fs::read_to_string(&path).expect("env file"))
    })
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A value of the env file.
pub fn env(key: &str) -> String {
    ground()
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{key} missing from the ground's env file"))
}

/// A client from a kubeconfig file.
pub async fn client_from(path: &str) -> Client {
    let kc = Kubeconfig::read_from(path).expect("kubeconfig parses");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig usable");
    Client::try_from(config).expect("client")
}

/// The admin client (group system:masters).
pub async fn admin() -> Client {
    client_from(&env("KUBECONFIG")).await
}

/// Installs both CRDs (server-side apply of crds/), waits until they are served, and applies the
/// ground's AccountRoles (examples/account-roles.yaml).
pub async fn install_crd(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in ["crds/crossaccountapi.yaml", "crds/accountrole.yaml"] {
        let crd: CustomResourceDefinition = repo_yaml(file);
        api.patch(
            crd.metadata.name.as_deref().expect("CRD name"),
            &PatchParams::apply("xapi-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("CRD applied");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let objects: Api<CrossAccountApi> = Api::all(client.clone());
    let roles: Api<AccountRole> = Api::all(client.clone());
    while objects.list(&Default::default()).await.is_err()
        || roles.list(&Default::default()).await.is_err()
    {
        assert!(Instant::now() < deadline, "CRDs not served after 30s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for role in example_docs("account-roles.yaml") {
        apply_account_role(client, &role).await;
    }
}

/// Server-side applies an AccountRole given as YAML.
pub async fn apply_account_role(client: &Client, role: &serde_yaml::Value) {
    let name = role["metadata"]["name"].as_str().expect("name").to_string();
    Api::<AccountRole>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply("xapi-tests").force(),
            &Patch::Apply(role),
        )
        .await
        .expect("AccountRole applied");
}

/// Whether a Warning Event about object `name` has a reason containing `reason`.
pub async fn warning_with(admin: &Client, ns: &str, name: &str, reason: &str) -> bool {
    !warnings(admin, ns, name, reason).await.is_empty()
}

/// The Warning Events about object `name` whose reason contains `reason`.
pub async fn warnings(
    admin: &Client,
    ns: &str,
    name: &str,
    reason: &str,
) -> Vec<k8s_openapi::api::events::v1::Event> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin.clone(), ns);
    let listed = events.list(&ListParams::default()).await;
    listed.map_or_else(
        |_| Vec::new(),
        |l| {
            l.items
                .into_iter()
                .filter(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                        && e.reason.as_deref().is_some_and(|r| r.contains(reason))
                })
                .collect()
        },
    )
}

/// Deletes an AccountRole (gone already is fine).
pub async fn delete_account_role(client: &Client, name: &str) {
    let _ = Api::<AccountRole>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

/// The labels by which the ground's AccountRoles grant a namespace each side.
pub const GRANT_PROVIDER: (&str, &str) = ("apigw.crossaccount.io/provider", "granted");
/// See [`GRANT_PROVIDER`].
pub const GRANT_CONSUMER: (&str, &str) = ("apigw.crossaccount.io/consumer", "granted");

/// A fresh namespace named after the test, with a random suffix, granted both sides by the
/// ground's AccountRoles.
pub async fn namespace(client: &Client, test: &str) -> String {
    namespace_labelled(client, test, &[GRANT_PROVIDER, GRANT_CONSUMER]).await
}

/// A fresh namespace with these labels.
pub async fn namespace_labelled(client: &Client, test: &str, labels: &[(&str, &str)]) -> String {
    let suffix: String = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
    .chars()
    .rev()
    .take(6)
    .collect();
    let name = format!("{}-{suffix}", test.replace('_', "-"))
        .chars()
        .take(63)
        .collect::<String>();
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
    name
}

/// An example with the ground's ids filled in, as a YAML value.
pub fn example(file: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&rendered(file)).expect("example parses")
}

/// Every document of an example, rendered as [`example`] does.
pub fn example_docs(file: &str) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(&rendered(file))
        .map(|doc| serde_yaml::Value::deserialize(doc).expect("example parses"))
        .collect()
}

fn rendered(file: &str) -> String {
    let text = std::fs::read_to_string(root().join("examples").join(file)).expect("example exists");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&env(&rest[start + 2..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The controller as its own process, scoped to one namespace, with a short resync.
pub struct ControllerProcess {
    child: Child,
    /// Its /metrics address.
    pub metrics: String,
    log: PathBuf,
}

impl ControllerProcess {
    /// Starts the built binary with the ground's AWS environment and `kubeconfig`.
    pub fn start(namespace: &str, kubeconfig: &str, resync: &str) -> Self {
        Self::start_with(namespace, kubeconfig, resync, &[], namespace)
    }

    /// [`Self::start`] logging one JSON object per line (`LOG_FORMAT=json`, as the chart does).
    pub fn start_json(namespace: &str, kubeconfig: &str, resync: &str) -> Self {
        Self::spawn(namespace, kubeconfig, resync, &[], namespace, "json")
    }

    /// [`Self::start`] with more flags, logging to `xapi-controller-<log>.log`.
    pub fn start_with(
        namespace: &str,
        kubeconfig: &str,
        resync: &str,
        flags: &[&str],
        log: &str,
    ) -> Self {
        Self::spawn(namespace, kubeconfig, resync, flags, log, "text")
    }

    fn spawn(
        namespace: &str,
        kubeconfig: &str,
        resync: &str,
        flags: &[&str],
        log: &str,
        log_format: &str,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log_path = std::env::temp_dir().join(format!("xapi-controller-{log}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cross-account-api-operator"))
            .args(["run", "--namespace", namespace, "--resync-interval", resync])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--apigateway-quota-scale", &env("XAPI_EMU_TIME_SCALE")])
            .args(flags)
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ENDPOINT_URL", env("AWS_ENDPOINT_URL"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", env("AWS_REGION"))
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", log_format)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("controller starts");
        ControllerProcess {
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
            log: log_path,
        }
    }

    /// Its log so far, without terminal colours.
    pub fn log(&self) -> String {
        let raw = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // An SGR sequence: ESC [ … m.
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (a graceful stop), then waits for the process to end.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Waits until `/healthz` and `/readyz` answer `ok` (the first watch list is in).
    pub async fn wait_ready(&self) {
        let base = self.metrics.trim_end_matches("/metrics").to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answers = |path: &'static str| {
                let url = format!("{base}{path}");
                async move { try_http_get(&url).await.is_ok_and(|b| b.trim() == "ok") }
            };
            if answers("/healthz").await && answers("/readyz").await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "controller not ready on {base}/readyz after 60s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The sum of the samples of `/metrics` whose line starts with `series` (a metric name,
    /// optionally with the start of its labels, e.g. `xapi_objects{ready="true"}`).
    pub async fn metric(&self, series: &str) -> f64 {
        http_get(&self.metrics)
            .await
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// `xapi_aws_calls_total` by operation (summed over services and outcomes).
    pub async fn aws_calls(&self) -> HashMap<String, u64> {
        let text = http_get(&self.metrics).await;
        let mut calls = HashMap::new();
        for line in text
            .lines()
            .filter(|l| l.starts_with("xapi_aws_calls_total{"))
        {
            let op = line
                .split("operation=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_default();
            let n: u64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_default() as u64;
            *calls.entry(op.to_string()).or_default() += n;
        }
        calls
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET on loopback (no client crate needed).
pub async fn http_get(url: &str) -> String {
    try_http_get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// [`http_get`], or the I/O error (a server not listening yet).
pub async fn try_http_get(url: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await?;
    Ok(buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

/// A plain HTTP POST of JSON on loopback (the emulator's control endpoint).
pub async fn http_post(url: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("request");
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.expect("response");
    buf
}

/// Creates `obj` (a YAML value) in `namespace` and returns the typed object.
pub async fn create(client: &Client, namespace: &str, obj: &serde_yaml::Value) -> CrossAccountApi {
    let obj: CrossAccountApi = serde_yaml::from_value(obj.clone()).expect("object parses");
    Api::<CrossAccountApi>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &obj)
        .await
        .expect("object created")
}

/// Polls until `check` holds on the object, or panics with the last status.
pub async fn wait_for(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&CrossAccountApi) -> bool,
) -> CrossAccountApi {
    let api = Api::<CrossAccountApi>::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        let obj = api.get(name).await.expect("object readable");
        if check(&obj) {
            return obj;
        }
        if Instant::now() > deadline {
            panic!(
                "{namespace}/{name}: not {what} after {timeout:?}; status: {}",
                serde_json::to_string_pretty(&obj.status).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The condition's (status, reason, message).
pub fn condition(obj: &CrossAccountApi, type_: &str) -> Option<(String, String, String)> {
    obj.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The status of `Ready`, `Reconciling` and `Stalled` ("" where missing).
pub fn kstatus(obj: &CrossAccountApi) -> [String; 3] {
    ["Ready", "Reconciling", "Stalled"].map(|t| condition(obj, t).map(|c| c.0).unwrap_or_default())
}

/// Ready=True for the current generation.
pub fn is_ready(obj: &CrossAccountApi) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        s.observed_generation == obj.metadata.generation
            && s.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && c.observed_generation == obj.metadata.generation
            })
    })
}

/// Deletes the object and waits until it is gone (finalizer done).
pub async fn delete_and_wait(client: &Client, namespace: &str, name: &str, timeout: Duration) {
    let api = Api::<CrossAccountApi>::namespaced(client.clone(), namespace);
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete accepted");
    let deadline = Instant::now() + timeout;
    while api.get_opt(name).await.expect("readable").is_some() {
        if Instant::now() > deadline {
            let obj = api.get(name).await.ok();
            panic!(
                "{namespace}/{name} not gone after {timeout:?}: {:?}",
                obj.and_then(|o| o.status)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// AWS SDK clients acting in one account (assumed role), for independent checks.
pub struct Account {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// ELBv2.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// API Gateway.
    pub apigw: aws_sdk_apigateway::Client,
}

/// The emulator's SDK configuration with the ground's own long-term keys (the operator's).
pub async fn ground_aws_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(env("AWS_ENDPOINT_URL"))
        .region(aws_config::Region::new(env("AWS_REGION")))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Clients for the account of `role_arn` on the emulator.
pub async fn account(role_arn: &str) -> Account {
    let base = ground_aws_config().await;
    // The seeded roles' trust policies require their external ids.
    let external_id = [
        ("XAPI_PROVIDER_ROLE_ARN", "XAPI_PROVIDER_EXTERNAL_ID"),
        ("XAPI_CONSUMER_ROLE_ARN", "XAPI_CONSUMER_EXTERNAL_ID"),
    ]
    .into_iter()
    .find(|(role, _)| env(role) == role_arn)
    .map(|(_, id)| env(id));
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("xapi-tests")
        .configure(&base);
    if let Some(id) = external_id {
        provider = provider.external_id(id);
    }
    let provider = provider.build().await;
    let config = base
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build();
    Account {
        ec2: aws_sdk_ec2::Client::new(&config),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
        apigw: aws_sdk_apigateway::Client::new(&config),
    }
}

/// Ids of everything in both accounts that carries `uid` in its uid tag.
pub async fn tagged_with(uid: &str) -> Vec<String> {
    let mut found = Vec::new();
    for role in [env("XAPI_PROVIDER_ROLE_ARN"), env("XAPI_CONSUMER_ROLE_ARN")] {
        let a = account(&role).await;
        let f = aws_sdk_ec2::types::Filter::builder()
            .name(format!("tag:{UID_TAG}"))
            .values(uid)
            .build();
        for e in a
            .ec2
            .describe_vpc_endpoints()
            .filters(f.clone())
            .send()
            .await
            .expect("endpoints")
            .vpc_endpoints()
        {
            found.push(format!(
                "endpoint {:?} {:?}",
                e.vpc_endpoint_id(),
                e.state()
            ));
        }
        for g in a
            .ec2
            .describe_security_groups()
            .filters(f)
            .send()
            .await
            .expect("groups")
            .security_groups()
        {
            found.push(format!("security group {:?}", g.group_id()));
        }
        for api in a
            .apigw
            .get_rest_apis()
            .limit(500)
            .send()
            .await
            .expect("apis")
            .items()
        {
            if api.tags().and_then(|t| t.get(UID_TAG)).map(String::as_str) == Some(uid) {
                found.push(format!("rest api {:?}", api.id()));
            }
        }
        for link in a
            .apigw
            .get_vpc_links()
            .limit(500)
            .send()
            .await
            .expect("links")
            .items()
        {
            if link.tags().and_then(|t| t.get(UID_TAG)).map(String::as_str) == Some(uid) {
                found.push(format!("vpc link {:?}", link.id()));
            }
        }
        let lbs = a.elb.describe_load_balancers().send().await.expect("lbs");
        let tgs = a.elb.describe_target_groups().send().await.expect("tgs");
        let arns: Vec<String> = lbs
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .chain(
                tgs.target_groups()
                    .iter()
                    .filter_map(|t| t.target_group_arn().map(str::to_string)),
            )
            .collect();
        for arn in arns {
            let tags = a
                .elb
                .describe_tags()
                .resource_arns(&arn)
                .send()
                .await
                .expect("tags");
            if tags
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .any(|t| t.key() == Some(UID_TAG) && t.value() == Some(uid))
            {
                found.push(format!("elb {arn}"));
            }
        }
    }
    found
}

/// How many resources of each kind carry `uid`, from both accounts' own view (deleted and
/// deleting endpoints do not count).
pub async fn tagged_kinds(uid: &str) -> HashMap<String, usize> {
    let mut kinds = HashMap::new();
    for found in tagged_with(uid).await {
        // "endpoint Some(..) Some(Available)" → "endpoint".
        if found.contains("Deleted") || found.contains("Deleting") {
            continue;
        }
        let kind = found
            .split(" Some(")
            .next()
            .unwrap_or_default()
            .split(" arn:")
            .next()
            .unwrap_or_default()
            .to_string();
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// Binds the chart's ClusterRole rules to the restricted user, after proving it is denied
/// (once per test binary; the others wait for it).
pub async fn restricted_kubeconfig(admin: &kube::Client, ns: &str) -> String {
    static BOUND: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    BOUND
        .get_or_init(|| bind_restricted(admin.clone(), ns.to_string()))
        .await
        .clone()
}

async fn bind_restricted(admin: kube::Client, ns: String) -> String {
    let (admin, ns) = (&admin, ns.as_str());
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef};
    let path = env("XAPI_RESTRICTED_KUBECONFIG");
    if path.is_empty() {
        // An external cluster: run the controller as admin.
        return env("KUBECONFIG");
    }
    let restricted = client_from(&path).await;
    let mut rules: Vec<PolicyRule> = repo_yaml("charts/cross-account-api-operator/rbac-rules.yaml");
    rules.extend(repo_yaml::<Vec<PolicyRule>>(
        "charts/cross-account-api-operator/grant-rules.yaml",
    ));
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
    let role_name = "xapi-tests-operator";
    let ssa = PatchParams::apply("xapi-tests").force();
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some(role_name.into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    };
    // Denied until the role is bound (a binding left by an earlier run on this ground goes first).
    if bindings
        .get_opt(role_name)
        .await
        .expect("bindings readable")
        .is_some()
    {
        bindings
            .delete(role_name, &Default::default())
            .await
            .expect("old binding removed");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match Api::<CrossAccountApi>::namespaced(restricted.clone(), ns)
            .list(&ListParams::default())
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 403 => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "restricted user must start without rights: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    roles
        .patch(role_name, &ssa, &Patch::Apply(&role))
        .await
        .expect("role applied");
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(role_name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role_name.into(),
        },
        subjects: Some(vec![restricted_user()]),
    };
    bindings
        .patch(role_name, &ssa, &Patch::Apply(&binding))
        .await
        .expect("binding applied");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while Api::<CrossAccountApi>::namespaced(restricted.clone(), ns)
        .list(&ListParams::default())
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "restricted user still denied after the binding"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    path
}

/// The user of the restricted kubeconfig, as a binding's subject.
fn restricted_user() -> k8s_openapi::api::rbac::v1::Subject {
    k8s_openapi::api::rbac::v1::Subject {
        kind: "User".into(),
        name: "xapi-restricted".into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        ..Default::default()
    }
}

/// Binds the chart's leader-election Role rules (the Lease) in `ns` to the restricted user.
pub async fn bind_lease_role(admin: &Client, ns: &str) {
    use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef};
    let rules: Vec<PolicyRule> =
        repo_yaml("charts/cross-account-api-operator/leader-election-rules.yaml");
    let name = "xapi-tests-leader-election";
    let ssa = PatchParams::apply("xapi-tests").force();
    let role = Role {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        rules: Some(rules),
    };
    Api::<Role>::namespaced(admin.clone(), ns)
        .patch(name, &ssa, &Patch::Apply(&role))
        .await
        .expect("lease role applied");
    let binding = RoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(vec![restricted_user()]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .patch(name, &ssa, &Patch::Apply(&binding))
        .await
        .expect("lease role bound");
}

/// What `examples/orders.yaml` makes, by kind as [`tagged_kinds`] counts it.
pub fn one_of_each() -> HashMap<String, usize> {
    [
        ("endpoint", 1),
        ("security group", 1),
        ("rest api", 2),
        ("vpc link", 1),
        ("elb", 2),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect()
}

/// Reads a YAML file of the repository.
pub fn repo_yaml<T: serde::de::DeserializeOwned>(path: impl AsRef<Path>) -> T {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(path)).expect("file exists"))
        .expect("YAML parses")
}

/// Restores the emulator's startup settings when dropped (also on panic).
pub struct EmulatorSettings;

impl EmulatorSettings {
    /// Merges `body` into the emulator's settings.
    pub async fn set(body: serde_json::Value) -> Self {
        let answer = http_post(
            &format!("{}/_xapi/config", env("AWS_ENDPOINT_URL")),
            &body.to_string(),
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "emulator refused {body}: {answer}"
        );
        EmulatorSettings
    }
}

impl Drop for EmulatorSettings {
    fn drop(&mut self) {
        // Back to the startup settings, keeping what moto holds.
        let url = format!("{}/_xapi/reset", env("AWS_ENDPOINT_URL"));
        let body = json!({"moto": false}).to_string();
        // Drop cannot await: do it on a fresh runtime in a thread.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(http_post(&url, &body)))
        })
        .join();
    }
}

/// `GET` an emulator control path (`/_xapi/…`) as JSON.
pub async fn emulator_json(path: &str) -> serde_json::Value {
    let body = http_get(&format!("{}{path}", env("AWS_ENDPOINT_URL"))).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The emulator's request log from `since` on: (next position, requests).
pub async fn emulator_requests(since: u64) -> (u64, Vec<serde_json::Value>) {
    let log = emulator_json(&format!("/_xapi/requests?since={since}")).await;
    let next = log["next"].as_u64().unwrap_or(since);
    let requests = log["requests"].as_array().cloned().unwrap_or_default();
    (next, requests)
}

/// Where the emulator's request log ends now.
pub async fn emulator_log_end() -> u64 {
    emulator_requests(u64::MAX).await.0
}

/// `xapi_reconciles_total{result="ready"}` of the controller.
pub async fn reconciled_ready(controller: &ControllerProcess) -> u64 {
    http_get(&controller.metrics)
        .await
        .lines()
        .find(|l| l.starts_with("xapi_reconciles_total{result=\"ready\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// The AWS calls (by operation) of exactly `resyncs` whole reconciles of the controller's only
/// object, Ready: the window starts and ends as a reconcile ends. Asserts they are reads only
/// (TestInvokeMethod, the probe, changes nothing in AWS).
pub async fn steady_state_calls(
    controller: &ControllerProcess,
    resyncs: u64,
) -> HashMap<String, u64> {
    let first = reconciled_ready(controller).await;
    wait_until(Duration::from_secs(30), "a reconcile", || async {
        reconciled_ready(controller).await > first
    })
    .await;
    let before = controller.aws_calls().await;
    let start = reconciled_ready(controller).await;
    wait_until(Duration::from_secs(60), "more reconciles", || async {
        reconciled_ready(controller).await >= start + resyncs
    })
    .await;
    let after = controller.aws_calls().await;
    assert_eq!(
        reconciled_ready(controller).await,
        start + resyncs,
        "the window holds exactly {resyncs} reconciles"
    );
    let delta: HashMap<String, u64> = after
        .into_iter()
        .map(|(op, n)| {
            let d = n - before.get(&op).copied().unwrap_or(0);
            (op, d)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let writes: Vec<_> = delta
        .iter()
        .filter(|(op, _)| {
            !(op.starts_with("Describe")
                || op.starts_with("Get")
                || op.as_str() == "TestInvokeMethod")
        })
        .collect();
    assert!(writes.is_empty(), "steady state made writes: {writes:?}");
    delta
}

/// Polls `check` every 500 ms until it holds, or panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} not true after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A REST API's resource policy as its own account reads it (API Gateway stores it escaped).
pub async fn rest_api_policy(apigw: &aws_sdk_apigateway::Client, id: &str) -> serde_json::Value {
    let api = apigw
        .get_rest_api()
        .rest_api_id(id)
        .send()
        .await
        .expect("api");
    let stored = api.policy().unwrap_or_default().replace("\\\"", "\"");
    serde_json::from_str(&stored).unwrap_or_else(|e| panic!("{e}: {stored}"))
}

/// The id of the resource at `path` of a REST API, as its account sees it.
pub async fn resource_id(apigw: &aws_sdk_apigateway::Client, api_id: &str, path: &str) -> String {
    apigw
        .get_resources()
        .rest_api_id(api_id)
        .limit(500)
        .send()
        .await
        .expect("resources")
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .and_then(|r| r.id())
        .unwrap_or_else(|| panic!("no resource {path} on {api_id}"))
        .to_string()
}
