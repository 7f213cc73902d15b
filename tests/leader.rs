//! Leader election with two controller processes: only the Lease's holder reconciles (the
//! standby makes no AWS call); the holder SIGKILLed mid-creation, the standby takes over within
//! the lease duration and finishes without a duplicate; a graceful stop gives the Lease up at
//! once. The replicas run as a user bound to exactly the chart's ClusterRole and Lease Role.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use support::{ControllerProcess, is_ready};

const LEASE: &str = "cross-account-api-operator";
const LEASE_SECONDS: u64 = 15;
const RENEW_SECONDS: u64 = 5;

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn wait_holder(leases: &Api<Lease>, who: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while holder(leases).await.as_deref() != Some(who) {
        assert!(
            started.elapsed() < within,
            "{who} did not hold the lease within {within:?} (holder {:?})",
            holder(leases).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}

fn replica(ns: &str, kubeconfig: &str, log: &str) -> ControllerProcess {
    ControllerProcess::start_with(
        ns,
        kubeconfig,
        "5s",
        &["--leader-election", "--leader-election-namespace", ns],
        log,
    )
}

async fn aws_calls(c: &ControllerProcess) -> u64 {
    c.aws_calls().await.values().sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_acts_and_another_takes_over() {
    let admin = support::admin().await;
    support::install_crd(&admin).await;
    let ns = support::namespace(&admin, "leader").await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &ns);
    // The replicas act as a user with exactly the chart's ClusterRole and Lease Role.
    let kubeconfig = support::restricted_kubeconfig(&admin, &ns).await;
    support::bind_lease_role(&admin, &ns).await;

    // The first replica takes the Lease; a second one waits and makes no AWS call.
    let first = replica(&ns, &kubeconfig, &format!("{ns}-a"));
    let first_id = format!("pid-{}", first.pid());
    wait_holder(&leases, &first_id, Duration::from_secs(30)).await;
    let mut second = replica(&ns, &kubeconfig, &format!("{ns}-b"));
    let second_id = format!("pid-{}", second.pid());
    second.wait_ready().await;

    let obj = support::example("orders.yaml");
    let made = support::create(&admin, &ns, &obj).await;
    let uid = made.metadata.uid.clone().expect("uid");
    // Mid-creation: the endpoint recorded, the object not Ready yet.
    support::wait_for(
        &admin,
        &ns,
        "orders",
        Duration::from_secs(120),
        "under way",
        |o| {
            o.status
                .as_ref()
                .and_then(|s| s.provider.as_ref())
                .is_some_and(|p| p.vpc_endpoint_id.is_some())
        },
    )
    .await;
    assert_eq!(aws_calls(&second).await, 0, "the standby called AWS");

    // The holder killed: the standby takes the Lease within its duration and finishes.
    drop(first);
    let took = wait_holder(&leases, &second_id, Duration::from_secs(LEASE_SECONDS + 10)).await;
    eprintln!("took over after {took:?}");
    support::wait_for(
        &admin,
        &ns,
        "orders",
        Duration::from_secs(180),
        "Ready",
        is_ready,
    )
    .await;
    assert!(aws_calls(&second).await > 0, "the new holder did the work");
    let kinds = support::tagged_kinds(&uid).await;
    let one_of_each = support::one_of_each();
    assert_eq!(kinds, one_of_each);

    // A graceful stop gives the Lease up: a third replica holds it before the lease could have
    // run out (the holder renewed it at most RENEW_SECONDS before the stop).
    let third = replica(&ns, &kubeconfig, &format!("{ns}-c"));
    let third_id = format!("pid-{}", third.pid());
    third.wait_ready().await;
    let stopped = Instant::now();
    second.terminate();
    wait_holder(&leases, &third_id, Duration::from_secs(LEASE_SECONDS)).await;
    let after = stopped.elapsed();
    assert!(
        after < Duration::from_secs(LEASE_SECONDS - RENEW_SECONDS),
        "the Lease passed on after {after:?}, as if it had run out"
    );

    support::delete_and_wait(&admin, &ns, "orders", Duration::from_secs(180)).await;
    assert!(support::tagged_with(&uid).await.is_empty());
    drop(third);
}
