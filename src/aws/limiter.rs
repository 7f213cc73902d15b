//! Client-side limiter for API Gateway's control-plane quotas, which are fixed per account and
//! region and shared by every object: 10 requests/s (burst 40) in all, CreateDeployment 1 per 5 s,
//! CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, GetResources 5 per 2 s, CreateResource and
//! DeleteResource 5 per s ("Amazon API Gateway quotas"). Waiting here is cheaper than a 429.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Quotas, scalable as a whole (an account with raised quotas, or an emulator with a time scale).
#[derive(Clone, Copy, Debug)]
pub struct LimiterSettings {
    /// Multiplies every period: 1.0 is AWS's default quotas, 0.1 allows ten times as much.
    pub period_scale: f64,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings { period_scale: 1.0 }
    }
}

// AWS counts a call when it arrives, the limiter when it is sent, and the time between the two
// varies. Two rules make the limiter hold under any latency, without a guessed margin:
// - A spaced operation has one call in flight, and the next is sent `interval` after the
//   previous one was answered (AWS counted it before answering, and counts the next after it
//   was sent).
// - At most `MAX_IN_FLIGHT` calls are in flight and the bucket holds `BURST - MAX_IN_FLIGHT`:
//   the calls AWS counts in any window are those sent in it plus those in flight when it began,
//   so never more than AWS's burst plus its rate over the window.
const RATE_PER_SECOND: f64 = 10.0;
const BURST: f64 = 40.0;
const MAX_IN_FLIGHT: usize = 8;

/// Minimum interval from one call's answer to the next call of the same operation, at scale 1.
/// "5 per 2 s" is paced as one per 0.4 s: never over the quota, at the cost of its burst.
fn operation_interval(operation: &str) -> Option<Duration> {
    match operation {
        "CreateDeployment" => Some(Duration::from_secs(5)),
        "CreateRestApi" => Some(Duration::from_secs(3)),
        "DeleteRestApi" => Some(Duration::from_secs(30)),
        "GetResources" => Some(Duration::from_millis(400)),
        "CreateResource" | "DeleteResource" => Some(Duration::from_millis(200)),
        _ => None,
    }
}

/// Why a permit cannot be had yet.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    /// Try again after this long.
    For(Duration),
    /// Try again when a call in flight is answered.
    Answer,
}

/// Token bucket, calls in flight and per-operation spacing; pure, so it is tested without
/// sleeping.
#[derive(Debug)]
struct Buckets {
    scale: f64,
    tokens: f64,
    refilled_at: Instant,
    in_flight: usize,
    spaced_in_flight: HashSet<&'static str>,
    next_allowed: HashMap<&'static str, Instant>,
}

impl Buckets {
    fn new(scale: f64, now: Instant) -> Self {
        Buckets {
            scale: scale.max(0.0001),
            tokens: Self::capacity(),
            refilled_at: now,
            in_flight: 0,
            spaced_in_flight: HashSet::new(),
            next_allowed: HashMap::new(),
        }
    }

    fn capacity() -> f64 {
        BURST - MAX_IN_FLIGHT as f64
    }

    /// Takes a permit for `operation` at `now`, or says what to wait for.
    fn try_acquire(&mut self, operation: &'static str, now: Instant) -> Result<(), Wait> {
        let rate = RATE_PER_SECOND / self.scale;
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(Self::capacity());
        self.refilled_at = now;
        let spaced = operation_interval(operation).is_some();
        if self.in_flight >= MAX_IN_FLIGHT || (spaced && self.spaced_in_flight.contains(operation))
        {
            return Err(Wait::Answer);
        }
        if let Some(at) = self.next_allowed.get(operation)
            && *at > now
        {
            return Err(Wait::For(*at - now));
        }
        if self.tokens < 1.0 {
            return Err(Wait::For(Duration::from_secs_f64(
                (1.0 - self.tokens) / rate,
            )));
        }
        self.tokens -= 1.0;
        self.in_flight += 1;
        if spaced {
            self.spaced_in_flight.insert(operation);
        }
        Ok(())
    }

    /// The call of `operation` was answered (or abandoned) at `now`.
    fn release(&mut self, operation: &'static str, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(interval) = operation_interval(operation) {
            self.spaced_in_flight.remove(operation);
            self.next_allowed
                .insert(operation, now + interval.mul_f64(self.scale));
        }
    }
}

/// The limiter of one account and region.
#[derive(Debug)]
pub struct ApiGatewayLimiter {
    buckets: Mutex<Buckets>,
    answered: Notify,
}

/// Leave to send one call; dropped when its answer came (or the call was abandoned).
#[must_use]
pub struct Permit<'a> {
    limiter: &'a ApiGatewayLimiter,
    operation: &'static str,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Ok(mut b) = self.limiter.buckets.lock() {
            b.release(self.operation, Instant::now());
        }
        self.limiter.answered.notify_waiters();
    }
}

impl ApiGatewayLimiter {
    /// A full bucket.
    pub fn new(settings: LimiterSettings) -> Self {
        ApiGatewayLimiter {
            buckets: Mutex::new(Buckets::new(settings.period_scale, Instant::now())),
            answered: Notify::new(),
        }
    }

    /// Waits until `operation` may be sent; hold the permit until its answer is in.
    pub async fn acquire(&self, operation: &'static str) -> Permit<'_> {
        loop {
            // Registered before the check, so an answer between the two is not missed.
            let answered = self.answered.notified();
            let wait = match self.buckets.lock() {
                Ok(mut b) => b.try_acquire(operation, Instant::now()),
                // A panic while holding the lock leaves nothing to protect: send unpaced.
                Err(_) => Ok(()),
            };
            match wait {
                Ok(()) => {
                    return Permit {
                        limiter: self,
                        operation,
                    };
                }
                Err(Wait::For(wait)) => tokio::time::sleep(wait).await,
                Err(Wait::Answer) => answered.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Acquires and at once answers, as a call with no latency.
    fn call(b: &mut Buckets, op: &'static str, at: Instant) -> Result<(), Wait> {
        b.try_acquire(op, at)?;
        b.release(op, at);
        Ok(())
    }

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        for _ in 0..32 {
            assert_eq!(call(&mut b, "GetRestApi", t0), Ok(()));
        }
        assert_eq!(call(&mut b, "GetRestApi", t0), Err(Wait::For(100 * MS)));
        assert_eq!(call(&mut b, "GetRestApi", t0 + 100 * MS), Ok(()));
    }

    #[test]
    fn calls_in_flight_are_capped_and_the_bucket_leaves_them_room() {
        // Whatever AWS counts in a window: those sent in it (at most the bucket plus the rate)
        // and those in flight when it began (at most the cap), never more than its burst of 40.
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        for _ in 0..MAX_IN_FLIGHT {
            assert_eq!(b.try_acquire("GetStage", t0), Ok(()));
        }
        assert_eq!(b.try_acquire("GetStage", t0), Err(Wait::Answer));
        b.release("GetStage", t0 + 10 * MS);
        assert_eq!(b.try_acquire("GetStage", t0 + 10 * MS), Ok(()));
        assert_eq!(Buckets::capacity() + MAX_IN_FLIGHT as f64, BURST);
    }

    #[test]
    fn spacing_counts_from_the_answer() {
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        assert_eq!(b.try_acquire("CreateDeployment", t0), Ok(()));
        // In flight: the next waits for its answer, however long it takes.
        assert_eq!(
            b.try_acquire("CreateDeployment", t0 + 10_000 * MS),
            Err(Wait::Answer)
        );
        // Other operations are not held back by it.
        assert_eq!(call(&mut b, "GetStage", t0 + 10_000 * MS), Ok(()));
        b.release("CreateDeployment", t0 + 12_000 * MS);
        assert_eq!(
            b.try_acquire("CreateDeployment", t0 + 13_000 * MS),
            Err(Wait::For(4000 * MS))
        );
        assert_eq!(b.try_acquire("CreateDeployment", t0 + 17_000 * MS), Ok(()));
    }

    #[test]
    fn resource_calls_stay_under_their_quotas() {
        // GetResources 5 per 2 s; CreateResource and DeleteResource 5 per s.
        let t0 = Instant::now();
        let in_window = |op: &'static str, window: Duration| {
            let mut b = Buckets::new(1.0, t0);
            let mut admitted = 0;
            let mut t = t0;
            while t < t0 + window {
                if call(&mut b, op, t).is_ok() {
                    admitted += 1;
                }
                t += 10 * MS;
            }
            admitted
        };
        assert_eq!(in_window("GetResources", Duration::from_secs(2)), 5);
        assert_eq!(in_window("CreateResource", Duration::from_secs(1)), 5);
        assert_eq!(in_window("DeleteResource", Duration::from_secs(1)), 5);
    }

    #[test]
    fn scale_shrinks_every_period() {
        let t0 = Instant::now();
        let mut b = Buckets::new(0.1, t0);
        assert_eq!(call(&mut b, "DeleteRestApi", t0), Ok(()));
        assert_eq!(
            b.try_acquire("DeleteRestApi", t0),
            Err(Wait::For(3000 * MS))
        );
    }
}
