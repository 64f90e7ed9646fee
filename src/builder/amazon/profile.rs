//! Credentials of a shared-config profile (`~/.aws/config`,
//! `~/.aws/credentials`), resolved as the AWS SDK for Go that Packer links
//! resolves them.
//!
//! A profile that assumes a role (`role_arn`) is resolved here, link by
//! link: its source (`source_profile`, itself a chain; the profile's own
//! keys when it names itself; `credential_source = Environment |
//! Ec2InstanceMetadata | EcsContainer`), then AssumeRole with the profile's
//! `role_session_name`, `external_id`, `duration_seconds` and `mfa_serial`
//! (answered by `mfa_code`). aws-config's own chain has no
//! `duration_seconds` and no MFA, and takes a source profile's keys over
//! its role where Go's SDK assumes the role. Every other profile (keys,
//! `credential_process`, SSO, web identity) is aws-config's.

use super::client::Reused;
use super::config::AssumeRole;
use super::sts::AssumeRoleProvider;
use aws_config::profile::{Profile, ProfileSet};
use aws_config::provider_config::ProviderConfig;
use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::EnvConfigFiles;
use std::time::Duration;

/// The credentials of one shared-config profile (the named one, else the
/// one `AWS_PROFILE` selects, else `default`).
#[derive(Debug)]
pub struct ProfileProvider {
    name: Option<String>,
    files: EnvConfigFiles,
    pc: ProviderConfig,
    /// Region, endpoint and HTTP client for STS.
    base: SdkConfig,
    mfa_code: Option<String>,
    reused: Reused,
}

/// A chain longer than this is a mistake in the files (the AWS CLI allows
/// any length, but no real set-up nests this deep).
const MAX_LINKS: usize = 16;

impl ProfileProvider {
    pub fn new(
        name: Option<String>,
        files: EnvConfigFiles,
        pc: ProviderConfig,
        base: &SdkConfig,
        mfa_code: Option<String>,
    ) -> ProfileProvider {
        ProfileProvider {
            name,
            files,
            pc,
            base: base.clone(),
            mfa_code,
            reused: Reused::new(Duration::from_secs(300)),
        }
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let set = load(&self.files, self.name.as_deref())
            .await
            .map_err(CredentialsError::not_loaded)?;
        let name = set.selected_profile().to_string();
        if set.get_profile(&name).is_none() {
            return Err(CredentialsError::not_loaded(if set.is_empty() {
                format!("profile {name:?}: no shared config or credentials file (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)")
            } else {
                format!("profile {name:?} is not in the shared config or credentials file")
            }));
        }
        let mut visited = Vec::new();
        self.profile(&set, &name, &mut visited).await
    }

    /// The credentials of profile `name`; `visited` holds the profiles
    /// already on the way here.
    fn profile<'a>(
        &'a self,
        set: &'a ProfileSet,
        name: &'a str,
        visited: &'a mut Vec<String>,
    ) -> future::ProvideCredentials<'a> {
        future::ProvideCredentials::new(async move {
            let Some(p) = set.get_profile(name) else {
                return Err(CredentialsError::invalid_configuration(format!(
                    "profile {:?} names source_profile {name:?}, which is not in the shared config or credentials file",
                    visited.last().map(String::as_str).unwrap_or_default()
                )));
            };
            let seen_before = visited.iter().any(|v| v == name);
            visited.push(name.to_string());
            if visited.len() > MAX_LINKS {
                return Err(CredentialsError::invalid_configuration(format!(
                    "profile chain {} is longer than {MAX_LINKS} links",
                    visited.join(" -> ")
                )));
            }
            let role = p.get("role_arn").filter(|r| !r.is_empty());
            // A profile seen a second time only lends its keys (the SDK
            // for Go clears its role options), which is how a profile
            // that names itself as source_profile works.
            if seen_before {
                return static_keys(p).ok_or_else(|| {
                    CredentialsError::invalid_configuration(format!(
                        "profile chain {} loops without keys to start from",
                        visited.join(" -> ")
                    ))
                });
            }
            let Some(role_arn) = role.filter(|_| p.get("web_identity_token_file").is_none()) else {
                return aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .configure(&self.pc)
                    .profile_files(self.files.clone())
                    .profile_name(name)
                    .build()
                    .provide_credentials()
                    .await;
            };
            let source = match (p.get("source_profile"), p.get("credential_source")) {
                (Some(src), None) => self.profile(set, src, visited).await?,
                (None, Some(kind)) => named_source(kind, &self.pc)
                    .map_err(|e| {
                        CredentialsError::invalid_configuration(format!("profile {name:?}: {e}"))
                    })?
                    .provide_credentials()
                    .await?,
                (Some(_), Some(_)) => {
                    return Err(CredentialsError::invalid_configuration(format!(
                        "profile {name:?} sets both source_profile and credential_source: keep one"
                    )))
                }
                (None, None) => match static_keys(p) {
                    Some(keys) => keys,
                    None => {
                        return Err(CredentialsError::invalid_configuration(format!(
                            "profile {name:?} assumes {role_arn} but names no source_profile or credential_source to assume it with"
                        )))
                    }
                },
            };
            let mfa = match (p.get("mfa_serial"), &self.mfa_code) {
                (Some(serial), Some(code)) => Some((serial.to_string(), code.clone())),
                (Some(serial), None) => {
                    return Err(CredentialsError::invalid_configuration(format!(
                        "profile {name:?} assumes {role_arn} with MFA (mfa_serial {serial}): set mfa_code to the device's current code (kiln cleanup: -mfa-code)"
                    )))
                }
                (None, _) => None,
            };
            let duration = match p.get("duration_seconds") {
                None => None,
                Some(d) => Some(d.trim().parse::<u64>().map(Duration::from_secs).map_err(
                    |_| {
                        CredentialsError::invalid_configuration(format!(
                            "profile {name:?}: duration_seconds {d:?} is not a whole number of seconds"
                        ))
                    },
                )?),
            };
            let role = AssumeRole {
                role_arn: role_arn.to_string(),
                session_name: p.get("role_session_name").map(str::to_string),
                external_id: p.get("external_id").map(str::to_string),
                duration,
                ..AssumeRole::default()
            };
            let base = self
                .base
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(source))
                .build();
            AssumeRoleProvider::new(&base, role, mfa)
                .provide_credentials()
                .await
        })
    }
}

impl ProvideCredentials for ProfileProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.reused.get(|| self.resolve()))
    }
}

/// The shared config and credentials files, with `name` selected (else
/// `AWS_PROFILE`'s, else `default`).
pub async fn load(
    files: &EnvConfigFiles,
    name: Option<&str>,
) -> Result<ProfileSet, aws_config::profile::ProfileFileLoadError> {
    use aws_types::os_shim_internal::{Env, Fs};
    aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        files,
        name.map(|n| n.to_string().into()),
    )
    .await
}

/// A profile's own keys, if it has both halves.
fn static_keys(p: &Profile) -> Option<Credentials> {
    let id = p.get("aws_access_key_id").filter(|v| !v.is_empty())?;
    let secret = p.get("aws_secret_access_key").filter(|v| !v.is_empty())?;
    Some(Credentials::new(
        id,
        secret,
        p.get("aws_session_token").map(str::to_string),
        None,
        "ProfileFile",
    ))
}

/// The provider a `credential_source` names.
fn named_source(kind: &str, pc: &ProviderConfig) -> Result<SharedCredentialsProvider, String> {
    Ok(match kind {
        "Environment" => SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ),
        "Ec2InstanceMetadata" => SharedCredentialsProvider::new(
            aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                .configure(pc)
                .build(),
        ),
        "EcsContainer" => SharedCredentialsProvider::new(
            aws_config::ecs::EcsCredentialsProvider::builder()
                .configure(pc)
                .build(),
        ),
        other => {
            return Err(format!(
                "credential_source {other:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer"
            ))
        }
    })
}
