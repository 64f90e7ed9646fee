//! Credentials from STS AssumeRole, for the template's `assume_role` block
//! (every field Packer's has, `transitive_tag_keys` included, which the
//! SDK's own assume-role provider cannot send) and for a shared-config
//! profile that assumes a role behind MFA (`role_arn` + `mfa_serial`,
//! answered by `mfa_code`, which the SDK's profile chain ignores).

use super::client::{error_chain, Reused};
use super::config::{Access, AssumeRole};
use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::EnvConfigFiles;
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

/// The selected shared-config profile when it assumes a role behind MFA
/// (or `mfa_code` is set): the provider to use instead of the SDK's chain.
/// `None` when the SDK's own chain applies.
pub async fn mfa_profile(
    access: &Access,
    files: &EnvConfigFiles,
    base: &SdkConfig,
) -> Option<SharedCredentialsProvider> {
    use aws_types::os_shim_internal::{Env, Fs};
    // The environment's keys come before any profile but the template's own.
    if access.profile.is_none()
        && std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty())
    {
        return access.mfa_code.as_ref().map(|_| refuse("mfa_code is set, but the credentials come from AWS_ACCESS_KEY_ID in the environment, which needs no MFA code: unset one of them"));
    }
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        files,
        access.profile.clone().map(Into::into),
    )
    .await;
    let name = match &set {
        Ok(s) => s.selected_profile().to_string(),
        Err(e) => {
            return access.mfa_code.as_ref().map(|_| {
                refuse(&format!(
                    "mfa_code is set, but the shared config files could not be read: {e}"
                ))
            })
        }
    };
    let profile = set.as_ref().ok().and_then(|s| s.get_profile(&name));
    let (role_arn, serial) = match profile.map(|p| (p.get("role_arn"), p.get("mfa_serial"))) {
        Some((Some(r), Some(m))) => (r.to_string(), m.to_string()),
        _ => return access.mfa_code.as_ref().map(|_| refuse(&format!("mfa_code is set, but profile {name:?} assumes no role with MFA (it needs role_arn and mfa_serial in the shared config file)"))),
    };
    let profile = profile?;
    let Some(code) = access.mfa_code.clone() else {
        return Some(refuse(&format!("profile {name:?} assumes {role_arn} with MFA (mfa_serial {serial}): set mfa_code to the device's current code (kiln cleanup: -mfa-code)")));
    };
    let pc = super::client::provider_config(access);
    let source: SharedCredentialsProvider = match (profile.get("source_profile"), profile.get("credential_source")) {
        (Some(src), _) => SharedCredentialsProvider::new(super::client::profile_provider(&pc, Some(src), Some(files))),
        (None, Some("Environment")) => SharedCredentialsProvider::new(aws_config::environment::EnvironmentVariableCredentialsProvider::new()),
        (None, Some("Ec2InstanceMetadata")) => SharedCredentialsProvider::new(aws_config::imds::credentials::ImdsCredentialsProvider::builder().configure(&pc).build()),
        (None, Some("EcsContainer")) => SharedCredentialsProvider::new(aws_config::ecs::EcsCredentialsProvider::builder().configure(&pc).build()),
        (None, other) => {
            return Some(refuse(&format!(
                "profile {name:?} assumes {role_arn} but names no source_profile{}",
                other.map(|o| format!(" (credential_source {o:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer)")).unwrap_or_default()
            )))
        }
    };
    let role = AssumeRole {
        role_arn,
        session_name: profile.get("role_session_name").map(str::to_string),
        external_id: profile.get("external_id").map(str::to_string),
        duration: profile
            .get("duration_seconds")
            .and_then(|d| d.parse().ok())
            .map(Duration::from_secs),
        ..AssumeRole::default()
    };
    let base = base.to_builder().credentials_provider(source).build();
    Some(SharedCredentialsProvider::new(AssumeRoleProvider::new(
        &base,
        role,
        Some((serial, code)),
    )))
}

pub fn refuse(why: &str) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Refuse(why.to_string()))
}
