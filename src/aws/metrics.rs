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
    account: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl CallMetrics {
    /// Counts the calls of clients acting in `account`.
    pub(crate) fn new(metrics: Arc<Metrics>, account: &str) -> Self {
        CallMetrics {
            metrics,
            account: account.to_string(),
        }
    }
}

/// Whether an error answer carries a throttling code: in the query protocols' XML
/// (`<Code>RequestLimitExceeded</Code>`, EC2 answers it with 503) or the JSON protocols'
/// `x-amzn-ErrorType` header (API Gateway's 429 `TooManyRequestsException`).
pub(crate) fn is_throttle(error_type: Option<&str>, body: Option<&[u8]>) -> bool {
    let header = error_type.map(|t| t.split(':').next().unwrap_or(t));
    let body = body.map(String::from_utf8_lossy);
    crate::error::THROTTLING_CODES.iter().any(|code| {
        header == Some(*code)
            || body
                .as_deref()
                .is_some_and(|b| b.contains(&format!("<Code>{code}</Code>")))
    })
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
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let mut labels = AwsCallLabels {
            account: self.account.clone(),
            service,
            operation,
            outcome: outcome(status).into(),
        };
        if let Some(r) = response.filter(|r| r.status().as_u16() >= 400)
            && is_throttle(r.headers().get("x-amzn-ErrorType"), r.body().bytes())
        {
            labels.outcome = "throttled".into();
            self.metrics.aws_throttles.get_or_create(&labels).inc();
        }
        self.metrics.aws_calls.get_or_create(&labels).inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{is_throttle, outcome};

    #[test]
    fn throttles_by_code_whatever_the_status() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
        assert!(is_throttle(None, Some(ec2)));
        assert!(is_throttle(
            Some("TooManyRequestsException:http://internal.amazon.com/"),
            None
        ));
        let other = b"<Error><Code>InvalidParameter</Code><Message>Throttling</Message></Error>";
        assert!(!is_throttle(None, Some(other)));
        assert!(!is_throttle(Some("BadRequestException"), None));
    }

    #[test]
    fn outcome_from_status() {
        assert_eq!(outcome(Some(200)), "ok");
        assert_eq!(outcome(Some(429)), "throttled");
        assert_eq!(outcome(Some(503)), "server_error");
        assert_eq!(outcome(Some(404)), "client_error");
        assert_eq!(outcome(None), "transport_error");
    }
}
