//! What one step of the pipeline came to: done, waiting with a reason, or failed with its
//! error. The step's condition, the requeue (an error backs off, a wait polls) and the Warning
//! Event all follow from it, so the pipeline only passes outcomes along.

use crate::conditions::StepCondition;
use crate::error::Error;

/// The outcome of one step, with what later steps may already use.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Done for this generation.
    Done {
        /// What the step made or found.
        value: T,
        /// Condition reason, e.g. `Available`.
        reason: &'static str,
        /// Condition message.
        message: String,
    },
    /// Made what it could; AWS (or another step) has to catch up.
    Waiting {
        /// What is known already (an endpoint id while it is pending, a link id while PENDING).
        value: Option<T>,
        /// Condition reason, e.g. `WaitingForEndpoint`.
        reason: &'static str,
        /// Condition message.
        message: String,
    },
    /// Failed: the error is the condition's reason and message, and backs the object off.
    Failed(Error),
}

impl<T> Outcome<T> {
    /// Done.
    pub fn done(value: T, reason: &'static str, message: impl Into<String>) -> Self {
        Outcome::Done {
            value,
            reason,
            message: message.into(),
        }
    }

    /// Waiting, with what is known so far.
    pub fn waiting(value: Option<T>, reason: &'static str, message: impl Into<String>) -> Self {
        Outcome::Waiting {
            value,
            reason,
            message: message.into(),
        }
    }

    /// What later steps may use, done or not.
    pub fn value(&self) -> Option<&T> {
        match self {
            Outcome::Done { value, .. } => Some(value),
            Outcome::Waiting { value, .. } => value.as_ref(),
            Outcome::Failed(_) => None,
        }
    }

    /// The value of a done step only.
    pub fn done_value(&self) -> Option<&T> {
        match self {
            Outcome::Done { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Whether the step is done.
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done { .. })
    }

    /// The step's error, if it failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Takes the error out (for the object's backoff and Warning Event).
    pub fn into_error(self) -> Option<Error> {
        match self {
            Outcome::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// `(reason, message)` as the condition will say it.
    pub fn note(&self) -> (String, String) {
        match self {
            Outcome::Done {
                reason, message, ..
            }
            | Outcome::Waiting {
                reason, message, ..
            } => (reason.to_string(), message.clone()),
            Outcome::Failed(e) => (e.reason(), e.to_string()),
        }
    }

    /// The condition of type `type_` this outcome sets.
    pub fn condition(&self, type_: &'static str) -> StepCondition {
        let (reason, message) = self.note();
        if self.is_done() {
            StepCondition::ready(type_, &reason, message)
        } else {
            StepCondition::not_ready(type_, reason, message)
        }
    }

    /// The same verdict with another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Done {
                value,
                reason,
                message,
            } => Outcome::Done {
                value: f(value),
                reason,
                message,
            },
            Outcome::Waiting {
                value,
                reason,
                message,
            } => Outcome::Waiting {
                value: value.map(f),
                reason,
                message,
            },
            Outcome::Failed(e) => Outcome::Failed(e),
        }
    }
}

impl<T> From<Result<Outcome<T>, Error>> for Outcome<T> {
    fn from(result: Result<Outcome<T>, Error>) -> Self {
        result.unwrap_or_else(Outcome::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_follow_the_verdict() {
        let done: Outcome<u8> = Outcome::done(1, "Available", "up");
        let c = done.condition("EndpointReady");
        assert!(c.ready && c.reason == "Available" && c.message == "up");
        let waiting: Outcome<u8> = Outcome::waiting(Some(2), "WaitingForEndpoint", "pending");
        assert_eq!(waiting.value(), Some(&2));
        assert_eq!(waiting.done_value(), None);
        let c = waiting.condition("EndpointReady");
        assert!(!c.ready && c.reason == "WaitingForEndpoint");
        let failed: Outcome<u8> = Err(Error::InvalidSpec {
            field: "spec.routes[1].privateApi.id".into(),
            message: "gone".into(),
        })
        .into();
        let c = failed.condition("PrivateApiReady");
        assert!(!c.ready && c.reason == "InvalidSpec" && c.message.contains("spec.routes[1]"));
        assert!(failed.into_error().is_some());
    }
}
