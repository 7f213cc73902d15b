//! Credentials of one AssumeRole session, asked of an STS client that every session of a region
//! shares: a session costs its few fields and its credentials, not a client of its own. The
//! session keeps its credentials until shortly before they expire: the calls it signs go
//! through clients shared by many sessions, whose identity caches keep the operator's own.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sdk_sts::types::Tag;
use tokio::sync::Mutex;

use super::AccountKey;

/// Whose credentials: a role, its external id, and the session's name and tags.
#[derive(Debug)]
pub struct AssumedRole {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    session_name: String,
    tags: Vec<(String, String)>,
    // One AssumeRole at a time: the calls that find no fresh credentials wait for it.
    credentials: Mutex<Option<Credentials>>,
}

/// How long before their expiry credentials are replaced: longer than any call that is
/// signed with them takes, retries included.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// Whether `credentials` are still good for a call that starts at `now`.
fn fresh(credentials: &Credentials, now: SystemTime) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > now + REFRESH_BEFORE)
}

/// The RoleSessionName of a key without a session of its own.
const OPERATOR_SESSION: &str = "cross-account-api-operator";

impl AssumedRole {
    /// The session of `key`'s role, through `sts`; `None` for a key without a role.
    pub fn of(sts: aws_sdk_sts::Client, key: &AccountKey) -> Option<Self> {
        let session = key.session.as_ref();
        Some(AssumedRole {
            sts,
            role_arn: key.role_arn.clone()?,
            external_id: key.external_id.clone(),
            session_name: session.map_or(OPERATOR_SESSION.to_string(), |s| s.name.clone()),
            tags: session.map(|s| s.tags.clone()).unwrap_or_default(),
            credentials: Mutex::default(),
        })
    }

    /// The session's credentials: those it holds while fresh, else a new AssumeRole's.
    async fn credentials(&self) -> provider::Result {
        let mut held = self.credentials.lock().await;
        if let Some(c) = held.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(c.clone());
        }
        let c = self.assume().await?;
        *held = Some(c.clone());
        Ok(c)
    }

    async fn assume(&self) -> provider::Result {
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(CredentialsError::invalid_configuration)?;
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(CredentialsError::provider_error)?;
        let c = out
            .credentials()
            .ok_or_else(|| CredentialsError::unhandled("AssumeRole answered no credentials"))?;
        let expiry = SystemTime::try_from(*c.expiration())
            .map_err(|e| CredentialsError::unhandled(format!("AssumeRole's expiration: {e}")))?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expiry),
            "AssumeRole",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.credentials())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_replaced_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expiring = |after: u64| {
            Credentials::new(
                "a",
                "s",
                None,
                Some(now + Duration::from_secs(after)),
                "test",
            )
        };
        assert!(fresh(&expiring(3600), now));
        assert!(fresh(&expiring(301), now));
        assert!(!fresh(&expiring(300), now));
        assert!(!fresh(&expiring(0), now));
        assert!(fresh(&Credentials::new("a", "s", None, None, "test"), now));
    }
}
