//! An SDK interceptor that counts every HTTP attempt by service, operation and outcome, so that
//! `xapi_aws_calls_total` shows exactly what the controller asked of AWS (retries included).

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::telemetry::{AwsCallLabels, Metrics};

#[derive(Clone, Debug)]
pub(crate) struct CallMetrics {
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl CallMetrics {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        CallMetrics { metrics }
    }
}

/// Outcome label of one attempt from its HTTP status (None: no response arrived).
pub(crate) fn outcome(status: Option<u16>) -> &'static str {
    match status {
        None => "transport_error",
        Some(s) if s < 300 => "ok",
        Some(429) => "throttled",
        Some(s) if s >= 500 => "server_error",
        Some(_) => "client_error",
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "CallMetrics"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| {
                // SDK metadata says "API Gateway", "Elastic Load Balancing v2": label them
                // as the SDK crates are named.
                let service: String = m
                    .service()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect();
                (service.to_ascii_lowercase(), m.name().to_string())
            })
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        // HTTP status is all an interceptor sees uniformly across services; EC2's throttling
        // (503 RequestLimitExceeded) therefore counts as server_error here.
        let outcome = outcome(context.response().map(|r| r.status().as_u16()));
        self.metrics
            .aws_calls
            .get_or_create(&AwsCallLabels {
                service,
                operation,
                outcome: outcome.into(),
            })
            .inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn outcome_from_status() {
        assert_eq!(outcome(Some(200)), "ok");
        assert_eq!(outcome(Some(429)), "throttled");
        assert_eq!(outcome(Some(503)), "server_error");
        assert_eq!(outcome(Some(404)), "client_error");
        assert_eq!(outcome(None), "transport_error");
    }
}
