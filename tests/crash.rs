//! A crash after every AWS write. An undisturbed run of an object (creation to Ready, then
//! deletion) enumerates its successful writes from the emulator; the run is then replayed once
//! per write: the emulator answers that write and holds every later request at its door while
//! the controller is SIGKILLed and restarted (mode `kill`), or the write takes effect and its
//! answer is lost (mode `drop`). Each replay must converge with exactly as many resources of
//! each kind as the undisturbed run made, and its deletion must leave nothing with the uid tag.
//! An adopted private API holds one operator statement while the object lives, and its policy
//! is as it was before once the object is gone.
//!
//! `XAPI_CRASH_POINTS=all` replays every point (`./dev crash`, which also covers the routes
//! example and writes the table README.md shows); by default a few points of each phase of the
//! two single-route examples run.
//! `XAPI_CRASH_POINTS=6,7` and `XAPI_CRASH_EXAMPLES=shop-routes.yaml` replay chosen ones.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cross_account_api_operator::api::CrossAccountApi;
use serde_json::{Value, json};
use support::{ControllerProcess, env, is_ready};

const READY: Duration = Duration::from_secs(180);

async fn crashpoint(body: Value) -> Value {
    let url = format!("{}/_xapi/crashpoint", env("AWS_ENDPOINT_URL"));
    let answer = support::http_post(&url, &body.to_string()).await;
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

async fn writes_so_far() -> Vec<String> {
    let state = support::emulator_json("/_xapi/crashpoint").await;
    state["writes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Create,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Kill,
    Drop,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Kill => "freeze",
            Mode::Drop => "drop",
        }
    }
}

struct Ground {
    admin: kube::Client,
    ns: String,
    controller: Option<ControllerProcess>,
}

impl Ground {
    fn start_controller(&mut self) {
        self.controller = Some(ControllerProcess::start(&self.ns, &env("KUBECONFIG"), "5s"));
    }

    async fn restart_controller(&mut self) {
        // Drop kills with SIGKILL and reaps the process.
        self.controller = None;
        self.start_controller();
        if let Some(c) = &self.controller {
            c.wait_ready().await;
        }
    }
}

fn object(example: &str, name: &str) -> serde_yaml::Value {
    let mut obj = support::example(example);
    obj["metadata"]["name"] = name.into();
    obj
}

async fn wait_gone(admin: &kube::Client, ns: &str, name: &str) -> bool {
    let api: kube::Api<CrossAccountApi> = kube::Api::namespaced(admin.clone(), ns);
    let deadline = Instant::now() + READY;
    while api.get_opt(name).await.expect("readable").is_some() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    true
}

/// Waits until the emulator froze after the armed write, or `done` holds (the run made fewer
/// writes this time): `true` when frozen.
async fn frozen_or<F, Fut>(mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + READY;
    loop {
        if support::emulator_json("/_xapi/crashpoint").await["frozen"] == true {
            return true;
        }
        if done().await || Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn is_ready_now(admin: &kube::Client, ns: &str, name: &str) -> bool {
    let api: kube::Api<CrossAccountApi> = kube::Api::namespaced(admin.clone(), ns);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .is_some_and(|o| is_ready(&o))
}

async fn gone_now(admin: &kube::Client, ns: &str, name: &str) -> bool {
    let api: kube::Api<CrossAccountApi> = kube::Api::namespaced(admin.clone(), ns);
    api.get_opt(name).await.ok().flatten().is_none()
}

/// One replay; `Ok(note)` or `Err(what went wrong)`.
async fn replay(
    g: &mut Ground,
    subject: &Subject,
    name: &str,
    phase: Phase,
    mode: Mode,
    point: usize,
) -> Result<String, String> {
    let (example, expected, adopted) = (
        subject.example.as_str(),
        &subject.expected,
        subject.adopted.as_ref(),
    );
    let started = Instant::now();
    let obj = object(example, name);
    let mut reached = true;
    if phase == Phase::Create {
        crashpoint(json!({"after_write": point, "mode": mode.name()})).await;
    }
    let made = support::create(&g.admin, &g.ns, &obj).await;
    let uid = made.metadata.uid.clone().expect("uid");
    if phase == Phase::Create && mode == Mode::Kill {
        reached = frozen_or(|| is_ready_now(&g.admin, &g.ns, name)).await;
        g.controller = None;
        crashpoint(json!({"release": true})).await;
        g.restart_controller().await;
    }
    support::wait_for(&g.admin, &g.ns, name, READY, "Ready", is_ready).await;
    crashpoint(json!({"after_write": 0})).await;
    let kinds = support::tagged_kinds(&uid).await;
    if &kinds != expected {
        return Err(format!("after creation: {kinds:?}, expected {expected:?}"));
    }
    if let Some(a) = adopted {
        let ours = a.operator_statements(&uid).await;
        if ours != 1 {
            return Err(format!(
                "{ours} operator statements on adopted API {}",
                a.id
            ));
        }
    }
    if phase == Phase::Delete {
        crashpoint(json!({"after_write": point, "mode": mode.name()})).await;
    }
    let api: kube::Api<CrossAccountApi> = kube::Api::namespaced(g.admin.clone(), &g.ns);
    api.delete(name, &Default::default())
        .await
        .map_err(|e| e.to_string())?;
    if phase == Phase::Delete && mode == Mode::Kill {
        reached = frozen_or(|| gone_now(&g.admin, &g.ns, name)).await;
        g.controller = None;
        crashpoint(json!({"release": true})).await;
        g.restart_controller().await;
    }
    let gone = wait_gone(&g.admin, &g.ns, name).await;
    crashpoint(json!({"after_write": 0})).await;
    if !gone {
        return Err("not deleted".into());
    }
    let left = support::tagged_with(&uid).await;
    if !left.is_empty() {
        return Err(format!("left behind: {left:?}"));
    }
    if let Some(a) = adopted {
        let now = a.policy().await;
        if now != a.original {
            return Err(format!(
                "adopted API {}'s policy is {now}, was {}",
                a.id, a.original
            ));
        }
    }
    let took = started.elapsed().as_secs();
    eprintln!("{example} {phase:?} write {point} {mode:?}: ok in {took} s");
    Ok(if reached {
        format!("ok, {took} s")
    } else {
        format!("not reached, {took} s")
    })
}

/// An example under test: what its undisturbed run made, and what it adopts.
struct Subject {
    example: String,
    expected: HashMap<String, usize>,
    adopted: Option<Adopted>,
}

/// A private API the example adopts, and its policy before the operator touched it.
struct Adopted {
    id: String,
    provider: support::Account,
    original: Value,
}

impl Adopted {
    async fn of(example: &str) -> Option<Adopted> {
        let id = support::example(example)["spec"]["provider"]["privateApi"]["id"]
            .as_str()?
            .to_string();
        let provider = support::account(&env("XAPI_PROVIDER_ROLE_ARN")).await;
        let original = support::rest_api_policy(&provider.apigw, &id).await;
        Some(Adopted {
            id,
            provider,
            original,
        })
    }

    async fn policy(&self) -> Value {
        support::rest_api_policy(&self.provider.apigw, &self.id).await
    }

    /// Statements with the operator's Sid for the object `uid`.
    async fn operator_statements(&self, uid: &str) -> usize {
        let sid = format!("Xapi{}", uid.replace('-', ""));
        let policy = self.policy().await;
        policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["Sid"] == sid.as_str())
            .count()
    }
}

/// The successful writes of an undisturbed creation and deletion, and what it made.
async fn undisturbed(
    g: &mut Ground,
    example: &str,
) -> (Vec<String>, Vec<String>, HashMap<String, usize>) {
    let name = format!("{}-base", example.trim_end_matches(".yaml"));
    crashpoint(json!({"after_write": 0})).await;
    let made = support::create(&g.admin, &g.ns, &object(example, &name)).await;
    let uid = made.metadata.uid.clone().expect("uid");
    support::wait_for(&g.admin, &g.ns, &name, READY, "Ready", is_ready).await;
    let creation = writes_so_far().await;
    let kinds = support::tagged_kinds(&uid).await;
    crashpoint(json!({"after_write": 0})).await;
    support::delete_and_wait(&g.admin, &g.ns, &name, READY).await;
    let deletion = writes_so_far().await;
    assert!(support::tagged_with(&uid).await.is_empty());
    (creation, deletion, kinds)
}

/// The points to replay of `n`: all, those listed (`XAPI_CRASH_POINTS=3,5`), or the first, a
/// middle one and the last.
fn points(n: usize, all: bool, listed: &[usize]) -> Vec<usize> {
    if !listed.is_empty() {
        return listed
            .iter()
            .copied()
            .filter(|k| (1..=n).contains(k))
            .collect();
    }
    if all || n <= 3 {
        return (1..=n).collect();
    }
    vec![1, n.div_ceil(2), n]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_any_write_duplicates_and_leaks_nothing() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "crash").await;
    let mut g = Ground {
        admin,
        ns,
        controller: None,
    };
    g.restart_controller().await;
    let chosen = std::env::var("XAPI_CRASH_POINTS").unwrap_or_default();
    let all = chosen == "all";
    let listed: Vec<usize> = chosen
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .collect();
    // XAPI_CRASH_EXAMPLES=shop-routes.yaml picks the examples; default: all three with all
    // points, else the single-route ones (one creates everything, one adopts the private API).
    let picked = std::env::var("XAPI_CRASH_EXAMPLES").unwrap_or_default();
    let examples: Vec<&str> = if !picked.is_empty() {
        picked.split(',').map(str::trim).collect()
    } else if all {
        vec![
            "orders.yaml",
            "shop-routes.yaml",
            "orders-adopted-with-authorizer.yaml",
        ]
    } else {
        vec!["orders.yaml", "orders-adopted-with-authorizer.yaml"]
    };
    let mut table = vec![
        "| object | phase | # | write | SIGKILL after it | its answer lost |".to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    for example in examples {
        let adopted = Adopted::of(example).await;
        let (creation, deletion, expected) = undisturbed(&mut g, example).await;
        let subject = Subject {
            example: example.to_string(),
            expected,
            adopted,
        };
        eprintln!("{example}: writes to Ready {creation:?}; to deleted {deletion:?}");
        for (phase, writes) in [(Phase::Create, &creation), (Phase::Delete, &deletion)] {
            for point in points(writes.len(), all, &listed) {
                let mut cells = Vec::new();
                for mode in [Mode::Kill, Mode::Drop] {
                    let name = format!(
                        "{}-{}-{}{point}",
                        example.trim_end_matches(".yaml"),
                        if phase == Phase::Create { "c" } else { "d" },
                        if mode == Mode::Kill { "k" } else { "x" },
                    );
                    match replay(&mut g, &subject, &name, phase, mode, point).await {
                        Ok(note) => cells.push(note),
                        Err(e) => {
                            failures.push(format!("{example} {phase:?} {point} {mode:?}: {e}"));
                            cells.push("**failed**".into());
                        }
                    }
                }
                table.push(format!(
                    "| {example} | {phase:?} | {point} | {} | {} | {} |",
                    writes[point - 1],
                    cells[0],
                    cells[1]
                ));
            }
        }
    }
    let table = table.join("\n");
    println!("{table}");
    let state = std::env::var("XAPI_STATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| support::root().join(".testenv"));
    let _ = std::fs::write(state.join("crash-table.md"), &table);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
