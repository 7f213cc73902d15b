//! Lambda: only whether the edge's authorizer function exists. API Gateway's CreateAuthorizer
//! takes any function ARN without looking it up; a missing function shows only when a client
//! calls the edge (500, "Execution failed due to configuration error"), so the operator asks
//! Lambda first.

use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use aws_sdk_lambda::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::instrument;

use super::metrics::CallMetrics;
use super::{Caller, error_code, to_error};
use crate::error::Result;

/// Lambda's code for a function that does not exist.
const NOT_FOUND: &str = "ResourceNotFoundException";

/// The Lambda client of one account and region, built on its first use: only objects with an
/// authorizer call Lambda, and every client holds its own runtime set-up.
#[derive(Debug)]
pub(crate) struct LazyClient {
    config: SdkConfig,
    metrics: CallMetrics,
    client: OnceLock<Client>,
}

impl LazyClient {
    pub(crate) fn new(config: SdkConfig, metrics: CallMetrics) -> Self {
        LazyClient {
            config,
            metrics,
            client: OnceLock::new(),
        }
    }

    fn get(&self) -> &Client {
        self.client.get_or_init(|| {
            Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&self.config)
                    .interceptor(self.metrics.clone())
                    .build(),
            )
        })
    }
}

/// Lambda, as one object's session calls it.
#[derive(Clone, Debug)]
pub struct Lambda {
    shared: Arc<LazyClient>,
    caller: Caller,
    account: String,
}

/// What Lambda says of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Function {
    /// It exists.
    Found,
    /// It does not: AWS's message.
    Missing(String),
    /// It lives in another account, which these credentials cannot see into.
    Elsewhere,
}

/// The account id of a function ARN (`arn:<partition>:lambda:<region>:<account>:function:<name>`).
pub fn function_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

impl Lambda {
    pub(crate) fn new(shared: Arc<LazyClient>, caller: Caller, account: String) -> Self {
        Lambda {
            shared,
            caller,
            account,
        }
    }

    fn client(&self) -> &Client {
        self.shared.get()
    }

    /// Looks the function up by its ARN, in this account only.
    #[instrument(skip(self), fields(account = %self.account, service = "lambda", operation = "GetFunctionConfiguration"))]
    pub async fn function(&self, arn: &str) -> Result<Function> {
        if function_account(arn) != Some(self.account.as_str()) {
            return Ok(Function::Elsewhere);
        }
        match self
            .client()
            .get_function_configuration()
            .function_name(arn)
            .customize()
            .config_override(super::signed_by!(aws_sdk_lambda, self.caller))
            .send()
            .await
        {
            Ok(_) => Ok(Function::Found),
            Err(e) if error_code(&e) == Some(NOT_FOUND) => Ok(Function::Missing(format!(
                "{NOT_FOUND}: {}",
                e.as_service_error()
                    .and_then(|s| s.message())
                    .unwrap_or("function not found")
            ))),
            Err(e) => Err(to_error("GetFunctionConfiguration", &self.account)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_of_a_function_arn() {
        assert_eq!(
            function_account("arn:aws-cn:lambda:cn-north-1:111111111111:function:auth:live"),
            Some("111111111111")
        );
        assert_eq!(function_account("auth"), None);
    }
}
