//! Typed errors, each naming the operation and the account, with a class that decides what the
//! controller does next (wait for the user, retry soon, back off).

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What an error means for the next reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The spec or the account must change (e.g. a VPC that does not exist); retried slowly.
    Terminal,
    /// A transient fault (5xx, connection); retried with backoff.
    Retryable,
    /// AWS throttled us even after the SDK's retries; retried with a longer backoff.
    Throttled,
    /// AWS refused an out-of-order delete or change ("is referenced in", ResourceInUse,
    /// DependencyViolation); the dependency goes away by itself, so retry soon.
    InUse,
    /// AWS does not show yet what it has just made (EC2's eventual consistency: a new security
    /// group or ENI is NotFound for a moment); retry soon.
    NotYetVisible,
}

impl ErrorClass {
    /// Label for metrics and condition reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Terminal => "terminal",
            ErrorClass::Retryable => "retryable",
            ErrorClass::Throttled => "throttled",
            ErrorClass::InUse => "in_use",
            ErrorClass::NotYetVisible => "not_yet_visible",
        }
    }
}

/// Every error the controller handles.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed.
    #[error("{operation} in account {account}: {code}: {message}")]
    Aws {
        /// The AWS operation, e.g. `CreateVpcEndpoint`.
        operation: &'static str,
        /// The account label (account id from the role ARN, or `default`).
        account: String,
        /// AWS's error code, e.g. `InvalidVpcID.NotFound`.
        code: String,
        /// AWS's message.
        message: String,
        /// What to do next.
        class: ErrorClass,
    },
    /// AWS answered with something the controller cannot use (a missing id, a bad document).
    #[error("{operation} in account {account}: unexpected answer: {detail}")]
    Unexpected {
        /// The AWS operation.
        operation: &'static str,
        /// The account label.
        account: String,
        /// What was wrong.
        detail: String,
    },
    /// The spec asks for something the controller refuses (found only at reconcile time).
    #[error("{field}: {message}")]
    InvalidSpec {
        /// The spec field at fault, e.g. `spec.provider.privateApi.id`.
        field: String,
        /// Why.
        message: String,
    },
    /// The object may not act as it asks on one side (an AccountRole that does not grant its
    /// namespace, an inline role or the operator's own credentials while not allowed).
    #[error("{field}: {message}")]
    NotPermitted {
        /// The condition reason: `RoleNotPermitted`, `InlineRoleNotAllowed`, …
        reason: &'static str,
        /// The spec field at fault, e.g. `spec.provider.roleRef`.
        field: String,
        /// Why.
        message: String,
    },
    /// The operator has not listed the AccountRoles and namespaces since it started: a grant
    /// it does not see yet may exist. Retried soon, without an Event.
    #[error("the AccountRoles and namespaces are not listed yet")]
    GrantsNotListed,
    /// Deletion waits on AWS (a VPC link still deleting, an NLB still in use); the finalizer stays.
    #[error("deleting: {0}")]
    DeletionPending(String),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A finalizer step failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// Result with our error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// AWS error codes that mean "slow down".
pub(crate) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// AWS error codes that mean "a dependency still exists; it will go away".
const IN_USE_CODES: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "IncorrectState",
    "ConflictException",
];

impl Error {
    /// Builds an [`Error::Aws`] from an SDK error. A call that failed because its role could
    /// not be assumed becomes an `AssumeRole` error with STS's code and message.
    pub fn aws<E, R>(operation: &'static str, account: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        if !matches!(err, SdkError::ServiceError(_))
            && let Some(sts) = assume_role_error(&err)
        {
            let code = sts.code().unwrap_or("Unknown").to_string();
            let message = sts.message().unwrap_or_default().to_string();
            return Error::Aws {
                operation: "AssumeRole",
                account: account.to_string(),
                class: classify(&code, &message),
                code,
                message,
            };
        }
        let (code, message, class) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_string();
                let message = e.message().unwrap_or_default().to_string();
                let class = classify(&code, &message);
                (code, message, class)
            }
            SdkError::TimeoutError(_) => {
                ("Timeout".into(), format!("{err:?}"), ErrorClass::Retryable)
            }
            SdkError::DispatchFailure(d) => (
                "DispatchFailure".into(),
                format!("{d:?}"),
                ErrorClass::Retryable,
            ),
            SdkError::ResponseError(r) => (
                "ResponseError".into(),
                format!("{r:?}"),
                ErrorClass::Retryable,
            ),
            other => (
                "Unknown".into(),
                format!("{other:?}"),
                ErrorClass::Retryable,
            ),
        };
        Error::Aws {
            operation,
            account: account.to_string(),
            code,
            message,
            class,
        }
    }

    /// The same error, retried soon: AWS has not caught up with what the operator just made.
    pub fn not_yet_visible(self) -> Self {
        match self {
            Error::Aws {
                operation,
                account,
                code,
                message,
                ..
            } => Error::Aws {
                operation,
                account,
                code,
                message,
                class: ErrorClass::NotYetVisible,
            },
            other => other,
        }
    }

    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Aws { class, .. } => *class,
            Error::InvalidSpec { .. } | Error::NotPermitted { .. } => ErrorClass::Terminal,
            Error::DeletionPending(_) => ErrorClass::InUse,
            Error::GrantsNotListed => ErrorClass::NotYetVisible,
            Error::Unexpected { .. } | Error::Kube(_) | Error::Finalizer(_) => {
                ErrorClass::Retryable
            }
        }
    }

    /// The AWS error code, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A CamelCase reason for a condition or an Event: the AWS code without dots, else a kind.
    pub fn reason(&self) -> String {
        match self {
            Error::Aws { code, class, .. } => match class {
                ErrorClass::Throttled => "Throttled".into(),
                _ => code.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
            },
            Error::Unexpected { .. } => "UnexpectedAwsAnswer".into(),
            Error::InvalidSpec { .. } => "InvalidSpec".into(),
            Error::NotPermitted { reason, .. } => (*reason).into(),
            Error::GrantsNotListed => "WaitingForGrants".into(),
            Error::DeletionPending(_) => "Deleting".into(),
            Error::Kube(_) => "KubernetesApiError".into(),
            Error::Finalizer(_) => "CleanupFailed".into(),
        }
    }
}

/// The STS error behind a credentials failure, found along the error's sources.
fn assume_role_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a aws_sdk_sts::operation::assume_role::AssumeRoleError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) =
            e.downcast_ref::<aws_sdk_sts::operation::assume_role::AssumeRoleError>()
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// Classifies an AWS error code and message.
pub fn classify(code: &str, message: &str) -> ErrorClass {
    if THROTTLING_CODES.contains(&code) {
        ErrorClass::Throttled
    } else if IN_USE_CODES.contains(&code)
        || (code == "BadRequestException" && message.contains("is referenced in"))
    {
        ErrorClass::InUse
    } else if code.starts_with("Internal")
        || code.starts_with("ServiceUnavailable")
        || code == "Unavailable"
    {
        ErrorClass::Retryable
    } else {
        ErrorClass::Terminal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_aws_codes() {
        assert_eq!(
            classify("TooManyRequestsException", ""),
            ErrorClass::Throttled
        );
        assert_eq!(classify("RequestLimitExceeded", ""), ErrorClass::Throttled);
        assert_eq!(
            classify(
                "DependencyViolation",
                "resource sg-1 has a dependent object"
            ),
            ErrorClass::InUse
        );
        assert_eq!(classify("ResourceInUse", ""), ErrorClass::InUse);
        assert_eq!(
            classify(
                "BadRequestException",
                "Cannot delete vpc link. Vpc link 'abc', is referenced in [ANY:/:x]"
            ),
            ErrorClass::InUse
        );
        assert_eq!(
            classify("BadRequestException", "Invalid stage name"),
            ErrorClass::Terminal
        );
        assert_eq!(classify("InternalFailure", ""), ErrorClass::Retryable);
        assert_eq!(
            classify("ServiceUnavailableException", ""),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify("AccessDenied", "not authorized to perform: sts:AssumeRole"),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
            ErrorClass::Terminal
        );
    }

    #[test]
    fn reason_is_camel_case_code() {
        let e = Error::Aws {
            operation: "CreateVpcEndpoint",
            account: "222222222222".into(),
            code: "InvalidVpcID.NotFound".into(),
            message: "The vpc ID 'vpc-1' does not exist".into(),
            class: ErrorClass::Terminal,
        };
        assert_eq!(e.reason(), "InvalidVpcIDNotFound");
        assert_eq!(
            e.to_string(),
            "CreateVpcEndpoint in account 222222222222: InvalidVpcID.NotFound: The vpc ID 'vpc-1' does not exist"
        );
    }
}
