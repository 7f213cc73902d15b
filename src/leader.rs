//! Leader election on a `coordination.k8s.io/v1` Lease: one active controller among replicas.
//! A leader that cannot renew within the lease duration exits, so two never act at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::{info, warn};

const LEASE_SECONDS: i32 = 15;
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Whether `lease` may be taken by `me` at `now` (free, ours, or expired).
pub fn can_take(lease: &LeaseSpec, me: &str, now: jiff::Timestamp) -> bool {
    let holder = lease.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return true;
    }
    let duration = i64::from(lease.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    match &lease.renew_time {
        Some(MicroTime(renewed)) => now.as_second() > renewed.as_second() + duration,
        None => true,
    }
}

/// Blocks until this process holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: Client, namespace: &str, name: &str, me: String) {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    loop {
        match try_take(&api, name, &me).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => warn!(error = %e, "leader election"),
        }
        tokio::time::sleep(RENEW_EVERY).await;
    }
    info!(lease = name, identity = %me, "became leader");
    let name = name.to_string();
    tokio::spawn(async move {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match try_take(&api, &name, &me).await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                other => {
                    warn!(result = ?other.map_err(|e| e.to_string()), "could not renew the lease");
                    if last_renewed.elapsed() > Duration::from_secs(LEASE_SECONDS as u64) {
                        warn!("lost leadership; exiting");
                        std::process::exit(1);
                    }
                }
            }
        }
    });
}

/// Gives the lease up on a graceful stop, so that a standby takes over at once instead of
/// after the lease duration. Only a lease this process holds is touched.
pub async fn release(client: Client, namespace: &str, name: &str, me: &str) {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let result = async {
        let Some(mut lease) = api.get_opt(name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(me) {
            return Ok(());
        }
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            renew_time: None,
            ..spec
        });
        api.replace(name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => info!(lease = name, "released the lease"),
        Err(e) => warn!(error = %e, "could not release the lease"),
    }
}

async fn try_take(api: &Api<Lease>, name: &str, me: &str) -> Result<bool, kube::Error> {
    let now = jiff::Timestamp::now();
    let spec = |acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: acquired.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        ..Default::default()
    };
    match api.get_opt(name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                spec: Some(spec(None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            if !can_take(&current, me, now) {
                return Ok(false);
            }
            let acquired = (current.holder_identity.as_deref() == Some(me))
                .then(|| current.acquire_time.clone())
                .flatten();
            lease.spec = Some(spec(acquired));
            // replace() carries resourceVersion: a concurrent taker makes this a 409.
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_taken_only_when_free_ours_or_expired() {
        let t = |s: i64| jiff::Timestamp::from_second(s).expect("valid second");
        let held = LeaseSpec {
            holder_identity: Some("other".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(t(1000))),
            ..Default::default()
        };
        assert!(!can_take(&held, "me", t(1010)));
        assert!(can_take(&held, "me", t(1016)));
        assert!(can_take(&held, "other", t(1010)));
        assert!(can_take(&LeaseSpec::default(), "me", t(0)));
    }
}
