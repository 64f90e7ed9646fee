//! Credentials from STS AssumeRole, for the template's `assume_role` block
//! (every field Packer's has, `transitive_tag_keys` included, which the
//! SDK's own assume-role provider cannot send) and for the roles of
//! shared-config profiles (profile.rs).

use super::client::{error_chain, Reused};
use super::config::AssumeRole;
use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use std::time::{Duration, SystemTime};

/// One AssumeRole request and the credentials it last returned.
#[derive(Debug)]
pub struct AssumeRoleProvider {
    sts: aws_sdk_sts::Client,
    role: AssumeRole,
    /// The MFA device's serial and the code for it.
    mfa: Option<(String, String)>,
    /// Reused until five minutes before they expire.
    reused: Reused,
}

impl AssumeRoleProvider {
    /// Assume `role` with the credentials of `base` (its region and
    /// endpoint too).
    pub fn new(
        base: &SdkConfig,
        role: AssumeRole,
        mfa: Option<(String, String)>,
    ) -> AssumeRoleProvider {
        AssumeRoleProvider {
            sts: aws_sdk_sts::Client::new(base),
            role,
            mfa,
            reused: Reused::new(Duration::from_secs(300)),
        }
    }

    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let r = &self.role;
        let session = r.session_name.clone().unwrap_or_else(|| {
            format!(
                "kiln-{}",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            )
        });
        let mut req = self
            .sts
            .assume_role()
            .role_arn(&r.role_arn)
            .role_session_name(session)
            .set_external_id(r.external_id.clone())
            .set_policy(r.policy.clone());
        if let Some(d) = r.duration {
            req = req.duration_seconds(i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
        }
        for arn in &r.policy_arns {
            req = req.policy_arns(
                aws_sdk_sts::types::PolicyDescriptorType::builder()
                    .arn(arn)
                    .build(),
            );
        }
        for (k, v) in &r.tags {
            let tag = aws_sdk_sts::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| {
                    CredentialsError::invalid_configuration(format!("assume_role tag {k:?}: {e}"))
                })?;
            req = req.tags(tag);
        }
        for k in &r.transitive_tag_keys {
            req = req.transitive_tag_keys(k);
        }
        if let Some((serial, code)) = &self.mfa {
            req = req.serial_number(serial).token_code(code);
        }
        let out = req.send().await.map_err(|e| {
            CredentialsError::provider_error(format!(
                "assuming role {}: {}",
                r.role_arn,
                error_chain(&e)
            ))
        })?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::provider_error(format!(
                "assuming role {}: STS answered without credentials",
                r.role_arn
            ))
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "AssumeRole",
        ))
    }
}

impl ProvideCredentials for AssumeRoleProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.reused.get(|| self.assume()))
    }
}

/// A provider that only fails, with a reason: a credential set-up kiln can
/// tell is wrong before any call (the build then stops before it creates
/// anything, saying why).
#[derive(Debug)]
struct Refuse(String);

impl ProvideCredentials for Refuse {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::invalid_configuration(
            self.0.clone(),
        )))
    }
}

pub fn refuse(why: &str) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Refuse(why.to_string()))
}
