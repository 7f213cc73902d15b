//! Client-side limiter for API Gateway's control-plane quotas, which are fixed per account and
//! region and shared by every object: 10 requests/s (burst 40) in all, CreateDeployment 1 per 5 s,
//! CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, GetResources 5 per 2 s, CreateResource and
//! DeleteResource 5 per s ("Amazon API Gateway quotas"). Waiting here is cheaper than a 429.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

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

const RATE_PER_SECOND: f64 = 10.0;
/// Keeps a little under the quotas: AWS's clock and ours disagree by the request's latency, and
/// a permit granted right at the boundary would come back as a 429.
const MARGIN: f64 = 1.05;
const BURST: f64 = 40.0;

/// Minimum interval between two calls of one operation, at scale 1. "5 per 2 s" is paced as
/// one per 0.4 s: never over the quota, at the cost of its burst.
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

/// Token bucket plus per-operation spacing; pure, so it is tested without sleeping.
#[derive(Debug)]
struct Buckets {
    scale: f64,
    tokens: f64,
    refilled_at: Instant,
    next_allowed: HashMap<&'static str, Instant>,
}

impl Buckets {
    fn new(scale: f64, now: Instant) -> Self {
        Buckets {
            scale: scale.max(0.0001),
            tokens: BURST,
            refilled_at: now,
            next_allowed: HashMap::new(),
        }
    }

    /// Takes a permit for `operation` at `now`, or says how long to wait before trying again.
    fn try_acquire(&mut self, operation: &'static str, now: Instant) -> Result<(), Duration> {
        let rate = RATE_PER_SECOND / (self.scale * MARGIN);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(BURST);
        self.refilled_at = now;
        if let Some(at) = self.next_allowed.get(operation)
            && *at > now
        {
            return Err(*at - now);
        }
        if self.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - self.tokens) / rate));
        }
        self.tokens -= 1.0;
        if let Some(interval) = operation_interval(operation) {
            self.next_allowed
                .insert(operation, now + interval.mul_f64(self.scale * MARGIN));
        }
        Ok(())
    }
}

/// The limiter of one account and region.
#[derive(Debug)]
pub struct ApiGatewayLimiter {
    buckets: Mutex<Buckets>,
}

impl ApiGatewayLimiter {
    /// A full bucket.
    pub fn new(settings: LimiterSettings) -> Self {
        ApiGatewayLimiter {
            buckets: Mutex::new(Buckets::new(settings.period_scale, Instant::now())),
        }
    }

    /// Waits until `operation` may be sent.
    pub async fn acquire(&self, operation: &'static str) {
        loop {
            let wait = match self
                .buckets
                .lock()
                .await
                .try_acquire(operation, Instant::now())
            {
                Ok(()) => return,
                Err(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        for _ in 0..40 {
            assert!(b.try_acquire("GetRestApi", t0).is_ok());
        }
        let wait = b
            .try_acquire("GetRestApi", t0)
            .expect_err("bucket is empty after the burst");
        assert!(
            wait > Duration::from_millis(100) && wait <= Duration::from_millis(106),
            "{wait:?}"
        );
        assert!(
            b.try_acquire("GetRestApi", t0 + Duration::from_millis(106))
                .is_ok()
        );
    }

    #[test]
    fn create_deployment_is_spaced_five_seconds() {
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        assert!(b.try_acquire("CreateDeployment", t0).is_ok());
        let wait = b
            .try_acquire("CreateDeployment", t0 + Duration::from_secs(1))
            .expect_err("too soon");
        assert_eq!(wait, Duration::from_millis(4250));
        // Other operations are not held back by it.
        assert!(
            b.try_acquire("GetStage", t0 + Duration::from_secs(1))
                .is_ok()
        );
        assert!(
            b.try_acquire("CreateDeployment", t0 + Duration::from_millis(5250))
                .is_ok()
        );
    }

    #[test]
    fn resource_calls_stay_under_their_quotas() {
        // GetResources 5 per 2 s; CreateResource and DeleteResource 5 per s.
        let t0 = Instant::now();
        let mut b = Buckets::new(1.0, t0);
        let in_window = |b: &mut Buckets, op: &'static str, window: Duration| {
            let mut admitted = 0;
            let mut t = t0;
            while t < t0 + window {
                if b.try_acquire(op, t).is_ok() {
                    admitted += 1;
                }
                t += Duration::from_millis(10);
            }
            admitted
        };
        assert_eq!(in_window(&mut b, "GetResources", Duration::from_secs(2)), 5);
        let mut b = Buckets::new(1.0, t0);
        assert_eq!(
            in_window(&mut b, "CreateResource", Duration::from_secs(1)),
            5
        );
        let mut b = Buckets::new(1.0, t0);
        assert_eq!(
            in_window(&mut b, "DeleteResource", Duration::from_secs(1)),
            5
        );
    }

    #[test]
    fn scale_shrinks_every_period() {
        let t0 = Instant::now();
        let mut b = Buckets::new(0.1, t0);
        assert!(b.try_acquire("DeleteRestApi", t0).is_ok());
        assert_eq!(
            b.try_acquire("DeleteRestApi", t0).expect_err("spaced"),
            Duration::from_millis(3150)
        );
    }
}
