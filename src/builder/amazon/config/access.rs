//! The AWS access options amazon-ebs and the amazon-ami data source share:
//! region, credentials (keys, profile, `assume_role`, `mfa_code`,
//! `vault_aws_engine`), endpoint, retries and polling.

use super::*;

#[derive(Debug, Clone, Default)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
    /// A session policy (JSON) and managed policies that narrow the role.
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    /// Session tags, and those of them that pass on to roles chained after.
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
}

/// Where credentials and the endpoint come from.
#[derive(Clone, Default)]
pub struct Access {
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub token: Option<String>,
    pub profile: Option<String>,
    pub shared_credentials_file: Option<String>,
    pub endpoint: Option<String>,
    pub skip_region_validation: bool,
    pub skip_credential_validation: bool,
    /// Never ask the EC2 instance metadata service for credentials.
    pub skip_metadata_api_check: bool,
    /// Decode the "Encoded authorization failure message" of a refused
    /// call through STS and show it.
    pub decode_authorization_messages: bool,
    pub max_retries: Option<u32>,
    pub assume_role: Option<AssumeRole>,
    /// The current code of the MFA device a shared-config profile's role
    /// asks for (`mfa_serial`).
    pub mfa_code: Option<String>,
    /// `vault_aws_engine`: the credentials come from Vault.
    pub vault: Option<crate::builder::amazon::vault::VaultEngine>,
    /// `aws_polling`: a fixed delay between polls, and a bound on them.
    pub poll_delay: Option<Duration>,
    pub poll_max_attempts: Option<u32>,
    /// `insecure_skip_tls_verify`: HTTPS endpoints' certificates are not checked.
    pub insecure_skip_tls_verify: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Access")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Known region names (Packer checks against its list unless
/// `skip_region_validation`).
const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

pub fn check_region(r: &str, skip: bool) -> Result<(), String> {
    if skip || REGIONS.contains(&r) {
        Ok(())
    } else {
        Err(format!("Invalid region {r:?}; set skip_region_validation = true to use a region kiln does not know"))
    }
}

impl Access {
    pub fn from_config(c: &Config) -> Result<Access, String> {
        let o = AccessOptions::from_config(c)?;
        let region = non_empty(o.region).or_else(|| {
            std::env::var("AWS_REGION")
                .ok()
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .filter(|s| !s.is_empty())
        });
        // Then the profile's region, as the SDK for Go reads it.
        let region = region.or_else(|| {
            let profile = non_empty(o.profile.clone())
                .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
                .unwrap_or_else(|| "default".into());
            crate::builder::amazon::client::shared_config_value(&profile, "region")
                .filter(|r| !r.is_empty())
        });
        let region = region.ok_or(
            "region is required (or set AWS_REGION, or region in the shared config profile)",
        )?;
        let skip_region_validation = o.skip_region_validation;
        check_region(&region, skip_region_validation)?;
        let (access_key, secret_key) = (non_empty(o.access_key), non_empty(o.secret_key));
        if access_key.is_some() != secret_key.is_some() {
            return Err("access_key and secret_key must be set together".into());
        }
        let assume_role = match o.assume_role {
            None => None,
            Some(a) => Some(AssumeRole {
                role_arn: non_empty(a.role_arn).ok_or("assume_role: role_arn is required")?,
                session_name: non_empty(a.session_name),
                external_id: non_empty(a.external_id),
                duration: a
                    .duration_seconds
                    .map(|s| Duration::from_secs(s.max(0) as u64)),
                policy: non_empty(a.policy),
                policy_arns: a.policy_arns,
                tags: a.tags.into_iter().collect(),
                transitive_tag_keys: a.transitive_tag_keys,
            }),
        };
        let vault = match o.vault_aws_engine {
            None => None,
            Some(v) => {
                let name = non_empty(v.name).ok_or("vault_aws_engine: name (the Vault role to generate credentials for) is required")?;
                if access_key.is_some() {
                    return Err("If you have set vault_aws_engine, you must not set the access_key or secret_key".into());
                }
                let ttl = non_empty(v.ttl);
                if let Some(t) = &ttl {
                    crate::util::duration::parse(t).map_err(|_| format!("vault_aws_engine.ttl {t:?} is not a duration with a unit (\"900s\", \"1h\")"))?;
                }
                Some(crate::builder::amazon::vault::VaultEngine {
                    name,
                    engine_name: non_empty(v.engine_name).unwrap_or_else(|| "aws".into()),
                    role_arn: non_empty(v.role_arn),
                    ttl,
                })
            }
        };
        let polling = o.aws_polling.as_ref();
        let env_num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let poll_delay = polling
            .and_then(|p| p.delay_seconds)
            .map(|s| s.max(0) as u64)
            .or_else(|| env_num("AWS_POLL_DELAY_SECONDS"))
            .map(Duration::from_secs);
        let poll_max_attempts = polling
            .and_then(|p| p.max_attempts)
            .map(|n| n.max(1) as u64)
            .or_else(|| env_num("AWS_MAX_ATTEMPTS"))
            .map(|n| n.min(u32::MAX as u64) as u32);
        let endpoint = non_empty(o.custom_endpoint_ec2);
        if let Some(e) = &endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(format!(
                    "custom_endpoint_ec2 {e:?} must be a URL (http:// or https://)"
                ));
            }
        }
        Ok(Access {
            region,
            access_key,
            secret_key,
            token: non_empty(o.token),
            profile: non_empty(o.profile),
            shared_credentials_file: non_empty(o.shared_credentials_file),
            endpoint,
            skip_region_validation,
            skip_credential_validation: o.skip_credential_validation,
            skip_metadata_api_check: o.skip_metadata_api_check,
            decode_authorization_messages: o.decode_authorization_messages,
            max_retries: o.max_retries.map(|n| n.clamp(0, 100) as u32),
            assume_role,
            mfa_code: non_empty(o.mfa_code),
            vault,
            poll_delay,
            poll_max_attempts,
            insecure_skip_tls_verify: o.insecure_skip_tls_verify,
        })
    }
}
