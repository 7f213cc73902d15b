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

/// The items per page of each service's list reads.
pub(super) const API_GATEWAY_PAGE: usize = 500;
pub(super) const EC2_PAGE: usize = 1000;
pub(super) const ELB_PAGE: usize = 400;

/// The lists of one account and region, each with what its callers filter by.
#[derive(Debug, Default)]
pub struct AccountLists {
    /// Every REST API.
    pub(super) rest_apis: SharedList<RestApi, API_GATEWAY_PAGE>,
    /// Every VPC link, with its uid tag.
    pub(super) vpc_links: SharedList<(VpcLink, Option<String>), API_GATEWAY_PAGE>,
    /// Every VPC endpoint.
    pub(super) endpoints: SharedList<Endpoint, EC2_PAGE>,
    /// Every security group with a uid tag: (VPC, uid, group).
    pub(super) security_groups: SharedList<(String, String, SecurityGroup), EC2_PAGE>,
    /// Every subnet, with its VPC.
    pub(super) subnets: SharedList<(String, Subnet), EC2_PAGE>,
    /// Every load balancer.
    pub(super) load_balancers: SharedList<LoadBalancer, ELB_PAGE>,
    /// Every target group.
    pub(super) target_groups: SharedList<TargetGroup, ELB_PAGE>,
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

/// How a reader uses its account's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListReads {
    /// The oldest list it takes.
    max_age: Duration,
    /// Whether it reads a stale list again itself, or only when that read is shared.
    fetch: Fetch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    /// A stale list is read again: its resync is what the list is for.
    Always,
    /// A stale list is read again only when that read serves more readers than it has pages
    /// (else the caller reads its own resource directly): while objects are being created,
    /// their writes make the lists stale faster than their polls could share them, and each
    /// such read would return the whole account.
    WhenShared,
}

impl ListReads {
    /// A Ready object's resync: one list per `max_age` for every object of the account.
    pub fn resync(max_age: Duration) -> Self {
        ListReads {
            max_age,
            fetch: Fetch::Always,
        }
    }

    /// An object still working: lists taken at most `max_age` ago, read again only when shared.
    pub fn polling(max_age: Duration) -> Self {
        ListReads {
            max_age,
            fetch: Fetch::WhenShared,
        }
    }

    /// The same age, but a stale list is always read again: for a caller whose direct read
    /// would be the whole list anyway.
    pub(super) fn fetching(self) -> Self {
        ListReads {
            fetch: Fetch::Always,
            ..self
        }
    }
}

/// Whether a client reads from its account's lists, and how.
#[derive(Clone, Debug)]
pub struct Sharing {
    lists: Arc<AccountLists>,
    reads: Option<ListReads>,
}

impl Sharing {
    /// Direct reads; writes still make the lists stale.
    pub(super) fn new(lists: Arc<AccountLists>) -> Self {
        Sharing { lists, reads: None }
    }

    /// Reads from the lists, as `reads` says.
    pub(super) fn reading(self, reads: ListReads) -> Self {
        Sharing {
            reads: Some(reads),
            ..self
        }
    }

    /// The lists, when this client reads from them; with how.
    pub(super) fn lists(&self) -> Option<(&AccountLists, ListReads)> {
        self.reads.map(|reads| (self.lists.as_ref(), reads))
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

/// One shared list, the count of writes that invalidate it, and how well the polls of working
/// objects share it. `PAGE`: the items one call of its read returns.
#[derive(Debug)]
pub struct SharedList<T, const PAGE: usize> {
    writes: AtomicU64,
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    taken: Option<Taken<T>>,
    /// The polls since one found the list stale, while no write was made and the first is
    /// younger than the pollers' max age: the polls one read at its start would have served.
    window: Option<PollWindow>,
    /// The polls per window, averaged over the recent windows.
    polls_per_window: f64,
    /// The list's length when last read, for the calls its next read takes.
    len: usize,
}

#[derive(Debug)]
struct Taken<T> {
    /// When its read began: its age counts from there.
    at: Instant,
    /// The write count when its read began.
    writes: u64,
    items: Arc<Vec<T>>,
}

#[derive(Debug)]
struct PollWindow {
    at: Instant,
    writes: u64,
    polls: u32,
}

/// The weight of the newest window in the average.
const WINDOW_WEIGHT: f64 = 0.25;

impl<T, const PAGE: usize> Default for SharedList<T, PAGE> {
    fn default() -> Self {
        SharedList {
            writes: AtomicU64::new(0),
            state: Mutex::new(State {
                taken: None,
                window: None,
                polls_per_window: 0.0,
                len: 0,
            }),
        }
    }
}

impl<T> State<T> {
    fn count_poll(&mut self, writes: u64, max_age: Duration) {
        match &mut self.window {
            Some(w) if w.writes == writes && w.at.elapsed() <= max_age => w.polls += 1,
            window => {
                if let Some(closed) = window.take() {
                    self.polls_per_window = self.polls_per_window * (1.0 - WINDOW_WEIGHT)
                        + f64::from(closed.polls) * WINDOW_WEIGHT;
                }
                *window = Some(PollWindow {
                    at: Instant::now(),
                    writes,
                    polls: 1,
                });
            }
        }
    }

    /// Whether a read of the list now serves more polls than the calls it takes: those of
    /// this window so far, or of an average one.
    fn read_is_shared(&self, page: usize) -> bool {
        let calls = self.len.div_ceil(page.max(1)).max(1);
        let polls = self.window.as_ref().map_or(0, |w| w.polls);
        f64::from(polls).max(self.polls_per_window) > calls as f64
    }
}

impl<T, const PAGE: usize> SharedList<T, PAGE> {
    /// A write in the account was made (or attempted: its answer may be lost): the list as
    /// taken may no longer hold.
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The list, unless `reads` declines a stale one (`None`: the caller reads directly). A
    /// list younger than the max age with no write since its read began is served; else it is
    /// taken by `fetch`. Callers at the same time share one read.
    pub(super) async fn get<E, Fut>(
        &self,
        reads: ListReads,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Option<Arc<Vec<T>>>, E>
    where
        Fut: Future<Output = Result<Vec<T>, E>>,
    {
        let mut state = self.state.lock().await;
        let writes = self.writes.load(Ordering::SeqCst);
        if reads.fetch == Fetch::WhenShared {
            state.count_poll(writes, reads.max_age);
        }
        if let Some(t) = state.taken.as_ref()
            && t.writes == writes
            && t.at.elapsed() <= reads.max_age
        {
            return Ok(Some(t.items.clone()));
        }
        if reads.fetch == Fetch::WhenShared && !state.read_is_shared(PAGE) {
            return Ok(None);
        }
        let at = Instant::now();
        let items = Arc::new(fetch().await?);
        state.len = items.len();
        // A write during the read: the caller may use what it read (as any direct read), but
        // no one else is served from it.
        state.taken = (self.writes.load(Ordering::SeqCst) == writes).then(|| Taken {
            at,
            writes,
            items: items.clone(),
        });
        Ok(Some(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type List = SharedList<u32, 2>;

    const RESYNC: ListReads = ListReads {
        max_age: Duration::from_secs(60),
        fetch: Fetch::Always,
    };
    const POLL: ListReads = ListReads {
        max_age: Duration::from_secs(60),
        fetch: Fetch::WhenShared,
    };

    /// What `reads` is given: the list (`Some`), or `None` for a direct read; `reads` counts
    /// the list's reads, each returning `value`.
    async fn get(
        list: &List,
        how: ListReads,
        reads: &AtomicUsize,
        value: &[u32],
    ) -> Option<Vec<u32>> {
        list.get::<(), _>(how, || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(value.to_vec())
        })
        .await
        .ok()
        .flatten()
        .map(|v| v.to_vec())
    }

    async fn read(list: &List, reads: &AtomicUsize, value: u32) -> Vec<u32> {
        get(list, RESYNC, reads, &[value]).await.unwrap_or_default()
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
            .get::<(), _>(RESYNC, || async {
                list.wrote();
                Ok(vec![1])
            })
            .await;
        assert_eq!(
            during.map(|v| v.map(|v| v.to_vec())),
            Ok(Some(vec![1])),
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
        let again = ListReads::resync(Duration::ZERO);
        assert_eq!(get(&list, again, &reads, &[2]).await, Some(vec![2]));
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_read_keeps_nothing() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        let failed = list
            .get(RESYNC, || async { Err::<Vec<u32>, _>("no") })
            .await;
        assert!(failed.is_err());
        assert_eq!(read(&list, &reads, 1).await, [1]);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_poll_reads_directly_while_writes_leave_nothing_to_share() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        for _ in 0..5 {
            assert_eq!(get(&list, POLL, &reads, &[1]).await, None);
            list.wrote();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn polls_between_writes_share_one_read() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(get(&list, POLL, &reads, &[1]).await, None, "alone so far");
        assert_eq!(
            get(&list, POLL, &reads, &[2]).await,
            Some(vec![2]),
            "shared"
        );
        assert_eq!(get(&list, POLL, &reads, &[3]).await, Some(vec![2]));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn once_polls_have_shared_the_first_of_a_window_reads_the_list() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        for _ in 0..6 {
            for _ in 0..4 {
                get(&list, POLL, &reads, &[1]).await;
            }
            list.wrote();
        }
        let before = reads.load(Ordering::SeqCst);
        assert_eq!(get(&list, POLL, &reads, &[2]).await, Some(vec![2]));
        assert_eq!(reads.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test]
    async fn a_list_of_more_pages_needs_more_polls_to_share() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        // Three items at two a page: a read takes two calls.
        get(&list, RESYNC, &reads, &[1, 2, 3]).await;
        list.wrote();
        let before = reads.load(Ordering::SeqCst);
        assert_eq!(get(&list, POLL, &reads, &[4]).await, None);
        assert_eq!(
            get(&list, POLL, &reads, &[4]).await,
            None,
            "two polls, two calls"
        );
        assert_eq!(get(&list, POLL, &reads, &[4]).await, Some(vec![4]));
        assert_eq!(reads.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test]
    async fn a_poll_that_must_read_the_whole_list_anyway_reads_it() {
        let list = List::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(
            get(&list, POLL.fetching(), &reads, &[1]).await,
            Some(vec![1])
        );
        assert_eq!(
            get(&list, POLL, &reads, &[2]).await,
            Some(vec![1]),
            "and shares it"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }
}
