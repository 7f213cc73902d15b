//! Logs, Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Starts logging: JSON when `LOG_FORMAT=json`, else human-readable; level from `RUST_LOG`.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .init();
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .init();
    }
}

/// Labels of `xapi_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// `ready`, `waiting`, `error`, `deleted`.
    pub result: String,
}

/// Labels of `xapi_aws_calls_total` and `xapi_aws_throttles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// The account the call acts in (for STS: the account of the role being assumed; `default`
    /// for the operator's own credentials before their account is known).
    pub account: String,
    /// `ec2`, `elasticloadbalancingv2`, `apigateway`, `lambda`, `sts`.
    pub service: String,
    /// The AWS operation, e.g. `DescribeVpcEndpoints`.
    pub operation: String,
    /// `ok`, `throttled`, `server_error`, `client_error`, `transport_error`.
    pub outcome: String,
}

/// Labels of `xapi_drift_repairs_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    /// What was repaired, from the Event's reason: `VpcLink`, `Listener`, `Policy`, …
    pub kind: String,
}

/// Labels of `xapi_objects`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadyLabels {
    /// `true` or `false`: the object's `Ready` condition.
    pub ready: String,
}

/// The controller's metrics, all prefixed `xapi_`.
pub struct Metrics {
    /// Reconciles by result.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconcile duration in seconds.
    pub reconcile_duration: Histogram,
    /// AWS calls (each HTTP attempt) by account, service, operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// Attempts AWS refused with a throttling code (whatever the HTTP status).
    pub aws_throttles: Family<AwsCallLabels, Counter>,
    /// Writes that put back what someone changed or removed, by kind.
    pub drift_repairs: Family<DriftLabels, Counter>,
    /// CrossAccountApis by their Ready condition.
    pub objects: Family<ReadyLabels, Gauge>,
    /// From an object's creation (or its Ready turning False) to Ready, in seconds.
    pub time_to_ready: Histogram,
    readiness: Mutex<HashMap<String, bool>>,
    /// End-to-end probes by result.
    pub probes: Family<ReconcileLabels, Counter>,
    /// Latency API Gateway measured for each probe, in seconds.
    pub probe_latency: Histogram,
    registry: Registry,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("xapi");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconcile_duration =
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        registry.register(
            "aws_calls",
            "AWS API calls (HTTP attempts) by service, operation and outcome",
            aws_calls.clone(),
        );
        let probes = Family::<ReconcileLabels, Counter>::default();
        let probe_latency =
            Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 29.0]);
        registry.register(
            "probes",
            "End-to-end probes (TestInvokeMethod through the chain) by result: ok, failed, error",
            probes.clone(),
        );
        registry.register(
            "probe_latency_seconds",
            "Latency of the end-to-end probe as API Gateway measured it",
            probe_latency.clone(),
        );
        let aws_throttles = Family::<AwsCallLabels, Counter>::default();
        registry.register(
            "aws_throttles",
            "AWS API attempts refused with a throttling code, by account, service and operation",
            aws_throttles.clone(),
        );
        let drift_repairs = Family::<DriftLabels, Counter>::default();
        registry.register(
            "drift_repairs",
            "Writes that repaired drift of a Ready object whose spec did not change, by kind",
            drift_repairs.clone(),
        );
        let objects = Family::<ReadyLabels, Gauge>::default();
        registry.register(
            "objects",
            "CrossAccountApis this controller reconciled, by Ready",
            objects.clone(),
        );
        let time_to_ready = Histogram::new([5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]);
        registry.register(
            "time_to_ready_seconds",
            "From creation, or from Ready turning False, to Ready",
            time_to_ready.clone(),
        );
        Metrics {
            reconciles,
            reconcile_duration,
            aws_calls,
            aws_throttles,
            drift_repairs,
            objects,
            time_to_ready,
            readiness: Mutex::default(),
            probes,
            probe_latency,
            registry,
        }
    }

    /// Counts one probe: `ok` (2xx), `failed` (another status), `error` (the call was refused).
    pub fn probed(&self, status: Option<i32>, latency_ms: Option<i64>) {
        let result = match status {
            Some(s) if (200..300).contains(&s) => "ok",
            Some(_) => "failed",
            None => "error",
        };
        self.probes
            .get_or_create(&ReconcileLabels {
                result: result.into(),
            })
            .inc();
        if let Some(ms) = latency_ms {
            self.probe_latency.observe(ms as f64 / 1000.0);
        }
    }

    /// Counts one reconcile by its result: `ready`, `waiting`, `error`, `deleting`, `deleted`.
    pub fn reconciled(&self, result: &str) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Records an object's Ready state (`None`: deleted) for `xapi_objects`.
    pub fn object_ready(&self, key: &str, ready: Option<bool>) {
        let Ok(mut states) = self.readiness.lock() else {
            return;
        };
        match ready {
            Some(r) => states.insert(key.to_string(), r),
            None => states.remove(key),
        };
        let ready = states.values().filter(|r| **r).count() as i64;
        let total = states.len() as i64;
        for (label, n) in [("true", ready), ("false", total - ready)] {
            self.objects
                .get_or_create(&ReadyLabels {
                    ready: label.into(),
                })
                .set(n);
        }
    }

    /// Counts one drift repair.
    pub fn drift_repaired(&self, kind: &str) {
        self.drift_repairs
            .get_or_create(&DriftLabels { kind: kind.into() })
            .inc();
    }

    /// Records how long an object took to become Ready.
    pub fn became_ready(&self, took: Duration) {
        self.time_to_ready.observe(took.as_secs_f64());
    }

    /// Records how long one reconcile took.
    pub fn reconcile_took(&self, took: Duration) {
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Readiness: set once the CRD is served and listed (the controller can start watching).
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the controller ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether the controller is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct ServerState {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// Serves `/metrics`, `/healthz` and `/readyz` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz_handler))
        .with_state(ServerState { metrics, readiness });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, app).await
}

async fn metrics_handler(State(state): State<ServerState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn readyz_handler(State(state): State<ServerState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the CRD to answer a list",
        )
    }
}
