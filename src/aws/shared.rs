//! Account-wide list reads shared by the objects of one account and region: one `GetRestApis`
//! page serves every object's REST APIs, instead of a `GetRestApi` per API.
//!
//! A list is served while younger than the reader's `max_age`: the resync interval for a Ready
//! object (nothing it reads is older than one resync), a fraction of a second for the others.
//! Every write to its service in the account makes it stale: a list whose read overlapped a write is never
//! served, so an object never misses its own new resource. What a list lacks is read again
//! directly by the caller, never taken as gone.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Mutex;

use super::apigateway::{RestApi, VpcLink};
use super::ec2::{Endpoint, SecurityGroup, Subnet};
use super::elbv2::{LoadBalancer, TargetGroup};

/// The lists of one account and region, each with what its callers filter by.
#[derive(Debug, Default)]
pub struct AccountLists {
    /// Every REST API.
    pub(super) rest_apis: SharedList<RestApi>,
    /// Every VPC link, with its uid tag.
    pub(super) vpc_links: SharedList<(VpcLink, Option<String>)>,
    /// Every VPC endpoint.
    pub(super) endpoints: SharedList<Endpoint>,
    /// Every security group with a uid tag: (VPC, uid, group).
    pub(super) security_groups: SharedList<(String, String, SecurityGroup)>,
    /// Every subnet, with its VPC.
    pub(super) subnets: SharedList<(String, Subnet)>,
    /// Every load balancer.
    pub(super) load_balancers: SharedList<LoadBalancer>,
    /// Every target group.
    pub(super) target_groups: SharedList<TargetGroup>,
}

/// The service a client calls, for what its writes make stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    Ec2,
    Elb,
    ApiGateway,
}

impl AccountLists {
    /// A write to `service` in the account: that service's lists may no longer hold. Each list
    /// shows resources of its own service, which no other service's write creates or changes.
    pub(super) fn wrote(&self, service: Service) {
        match service {
            Service::ApiGateway => {
                self.rest_apis.wrote();
                self.vpc_links.wrote();
            }
            Service::Ec2 => {
                self.endpoints.wrote();
                self.security_groups.wrote();
                self.subnets.wrote();
            }
            Service::Elb => {
                self.load_balancers.wrote();
                self.target_groups.wrote();
            }
        }
    }
}

/// Whether a client reads from its account's lists, and how old they may be.
#[derive(Clone, Debug)]
pub struct Sharing {
    lists: Arc<AccountLists>,
    max_age: Option<Duration>,
}

impl Sharing {
    /// Direct reads; writes still make the lists stale.
    pub(super) fn new(lists: Arc<AccountLists>) -> Self {
        Sharing {
            lists,
            max_age: None,
        }
    }

    /// Reads from the lists, taken at most `max_age` ago.
    pub(super) fn reading(self, max_age: Duration) -> Self {
        Sharing {
            max_age: Some(max_age),
            ..self
        }
    }

    /// The lists, when this client reads from them; with their max age.
    pub(super) fn lists(&self) -> Option<(&AccountLists, Duration)> {
        self.max_age.map(|age| (self.lists.as_ref(), age))
    }
}

/// Reads change nothing; every other call may (TestInvokeMethod runs an integration only).
fn is_write(operation: &str) -> bool {
    !["Describe", "Get", "List"]
        .iter()
        .any(|read| operation.starts_with(read))
        && operation != "TestInvokeMethod"
}

/// An SDK interceptor that makes its service's lists of the account stale after every attempt
/// of a write, answered or not: no write method can forget it.
#[derive(Clone, Debug)]
pub(super) struct WritesSeen {
    pub(super) lists: Arc<AccountLists>,
    pub(super) service: Service,
}

impl Intercept for WritesSeen {
    fn name(&self) -> &'static str {
        "WritesSeen"
    }

    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Metadata>().is_none_or(|m| is_write(m.name())) {
            self.lists.wrote(self.service);
        }
        Ok(())
    }
}

/// One shared list and the count of writes that invalidate it.
#[derive(Debug)]
pub struct SharedList<T> {
    writes: AtomicU64,
    taken: Mutex<Option<Taken<T>>>,
}

#[derive(Debug)]
struct Taken<T> {
    /// When its read began: its age counts from there.
    at: Instant,
    /// The write count when its read began.
    writes: u64,
    items: Arc<Vec<T>>,
}

impl<T> Default for SharedList<T> {
    fn default() -> Self {
        SharedList {
            writes: AtomicU64::new(0),
            taken: Mutex::new(None),
        }
    }
}

impl<T> SharedList<T> {
    /// A write in the account was made (or attempted: its answer may be lost): the list as
    /// taken may no longer hold.
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The list, taken by `fetch` unless a list younger than `max_age` with no write since its
    /// read began is at hand. Callers at the same time share one read.
    pub(super) async fn get<E, Fut>(
        &self,
        max_age: Duration,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<Vec<T>>, E>
    where
        Fut: Future<Output = Result<Vec<T>, E>>,
    {
        let mut taken = self.taken.lock().await;
        if let Some(t) = taken.as_ref()
            && t.writes == self.writes.load(Ordering::SeqCst)
            && t.at.elapsed() <= max_age
        {
            return Ok(t.items.clone());
        }
        let writes = self.writes.load(Ordering::SeqCst);
        let at = Instant::now();
        let items = Arc::new(fetch().await?);
        // A write during the read: the caller may use what it read (as any direct read), but
        // no one else is served from it.
        *taken = (self.writes.load(Ordering::SeqCst) == writes).then(|| Taken {
            at,
            writes,
            items: items.clone(),
        });
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn read(list: &SharedList<u32>, reads: &AtomicUsize, value: u32) -> Vec<u32> {
        list.get::<(), _>(Duration::from_secs(60), || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![value])
        })
        .await
        .map(|v| v.to_vec())
        .unwrap_or_default()
    }

    #[test]
    fn writes_are_what_is_not_a_read() {
        for write in [
            "CreateRestApi",
            "PutIntegration",
            "RegisterTargets",
            "ModifyVpcEndpoint",
        ] {
            assert!(is_write(write), "{write}");
        }
        for read in [
            "GetRestApis",
            "DescribeTargetHealth",
            "ListTags",
            "TestInvokeMethod",
        ] {
            assert!(!is_write(read), "{read}");
        }
    }

    #[test]
    fn a_write_makes_only_its_own_services_lists_stale() {
        let lists = AccountLists::default();
        let writes = |l: &AccountLists| {
            [
                l.rest_apis.writes.load(Ordering::SeqCst),
                l.vpc_links.writes.load(Ordering::SeqCst),
                l.endpoints.writes.load(Ordering::SeqCst),
                l.security_groups.writes.load(Ordering::SeqCst),
                l.subnets.writes.load(Ordering::SeqCst),
                l.load_balancers.writes.load(Ordering::SeqCst),
                l.target_groups.writes.load(Ordering::SeqCst),
            ]
        };
        lists.wrote(Service::ApiGateway);
        assert_eq!(writes(&lists), [1, 1, 0, 0, 0, 0, 0]);
        lists.wrote(Service::Ec2);
        assert_eq!(writes(&lists), [1, 1, 1, 1, 1, 0, 0]);
        lists.wrote(Service::Elb);
        assert_eq!(writes(&lists), [1, 1, 1, 1, 1, 1, 1]);
    }

    #[tokio::test]
    async fn one_read_serves_until_a_write() {
        let list = SharedList::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(read(&list, &reads, 1).await, [1]);
        assert_eq!(read(&list, &reads, 2).await, [1], "served from the list");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        list.wrote();
        assert_eq!(read(&list, &reads, 3).await, [3], "a write makes it stale");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_overlapping_a_write_is_not_kept() {
        let list = SharedList::default();
        let reads = AtomicUsize::new(0);
        let during = list
            .get::<(), _>(Duration::from_secs(60), || async {
                list.wrote();
                Ok(vec![1])
            })
            .await;
        assert_eq!(
            during.map(|v| v.to_vec()),
            Ok(vec![1]),
            "its caller uses it"
        );
        assert_eq!(read(&list, &reads, 2).await, [2], "no one else does");
        assert_eq!(read(&list, &reads, 3).await, [2]);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_list_older_than_max_age_is_read_again() {
        let list = SharedList::default();
        let reads = AtomicUsize::new(0);
        read(&list, &reads, 1).await;
        let again = list
            .get::<(), _>(Duration::ZERO, || async { Ok(vec![2]) })
            .await;
        assert_eq!(again.map(|v| v.to_vec()), Ok(vec![2]));
    }

    #[tokio::test]
    async fn a_failed_read_keeps_nothing() {
        let list: SharedList<u32> = SharedList::default();
        let reads = AtomicUsize::new(0);
        let failed = list
            .get(Duration::from_secs(60), || async {
                Err::<Vec<u32>, _>("no")
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(read(&list, &reads, 1).await, [1]);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
