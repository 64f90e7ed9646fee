//! The AWS access options amazon-ebs and the amazon-ami data source share:
//! region, credentials (keys, profile, `assume_role`, `mfa_code`,
//! `vault_aws_engine`), endpoint, retries and polling.

use super::*;

const POLLING: &[Field] = &[
    Field::new("delay_seconds", Kind::Number),
    Field::new("max_attempts", Kind::Number),
];

const ASSUME_ROLE: &[Field] = &[
    Field::new("role_arn", Kind::String),
    Field::new("session_name", Kind::String),
    Field::new("external_id", Kind::String),
    Field::new("duration_seconds", Kind::Number),
    Field::new("policy", Kind::String),
    Field::new("policy_arns", Kind::Strings),
    Field::new("tags", Kind::StringMap),
    Field::new("transitive_tag_keys", Kind::Strings),
];

const VAULT_AWS_ENGINE: &[Field] = &[
    Field::new("name", Kind::String),
    Field::new("engine_name", Kind::String),
    Field::new("role_arn", Kind::String),
    Field::new("ttl", Kind::String),
];

/// The options of the AWS access config shared by amazon-ebs and amazon-ami.
pub const ACCESS_FIELDS: &[Field] = &[
    Field::new("access_key", Kind::String),
    Field::new("secret_key", Kind::String),
    Field::new("token", Kind::String),
    Field::new("region", Kind::String),
    Field::new("profile", Kind::String),
    Field::new("shared_credentials_file", Kind::String),
    Field::new("custom_endpoint_ec2", Kind::String),
    Field::new("skip_region_validation", Kind::Bool),
    Field::new("skip_credential_validation", Kind::Bool),
    Field::new("skip_metadata_api_check", Kind::Bool),
    Field::new("insecure_skip_tls_verify", Kind::Bool),
    Field::new("decode_authorization_messages", Kind::Bool),
    Field::new("max_retries", Kind::Number),
    Field::new("mfa_code", Kind::String),
    Field::new("assume_role", Kind::Block(ASSUME_ROLE)),
    Field::new("aws_polling", Kind::Block(POLLING)),
    Field::new("vault_aws_engine", Kind::Block(VAULT_AWS_ENGINE)),
];

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
        let region = non_empty(get_str(c, "region")).or_else(|| {
            std::env::var("AWS_REGION")
                .ok()
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .filter(|s| !s.is_empty())
        });
        let region = region.ok_or("region is required (or set AWS_REGION)")?;
        let skip_region_validation = get_bool(c, "skip_region_validation").unwrap_or(false);
        check_region(&region, skip_region_validation)?;
        let (access_key, secret_key) = (
            non_empty(get_str(c, "access_key")),
            non_empty(get_str(c, "secret_key")),
        );
        if access_key.is_some() != secret_key.is_some() {
            return Err("access_key and secret_key must be set together".into());
        }
        let assume_role = match block(c, "assume_role") {
            None => None,
            Some(a) => Some(AssumeRole {
                role_arn: non_empty(get_str(&a, "role_arn"))
                    .ok_or("assume_role: role_arn is required")?,
                session_name: non_empty(get_str(&a, "session_name")),
                external_id: non_empty(get_str(&a, "external_id")),
                duration: get_i64(&a, "duration_seconds")
                    .map(|s| Duration::from_secs(s.max(0) as u64)),
                policy: non_empty(get_str(&a, "policy")),
                policy_arns: get_strings(&a, "policy_arns"),
                tags: get_string_map(&a, "tags"),
                transitive_tag_keys: get_strings(&a, "transitive_tag_keys"),
            }),
        };
        let vault = match block(c, "vault_aws_engine") {
            None => None,
            Some(v) => {
                let name = non_empty(get_str(&v, "name")).ok_or("vault_aws_engine: name (the Vault role to generate credentials for) is required")?;
                if access_key.is_some() {
                    return Err("If you have set vault_aws_engine, you must not set the access_key or secret_key".into());
                }
                let ttl = non_empty(get_str(&v, "ttl"));
                if let Some(t) = &ttl {
                    crate::util::duration::parse(t).map_err(|_| format!("vault_aws_engine.ttl {t:?} is not a duration with a unit (\"900s\", \"1h\")"))?;
                }
                Some(crate::builder::amazon::vault::VaultEngine {
                    name,
                    engine_name: non_empty(get_str(&v, "engine_name"))
                        .unwrap_or_else(|| "aws".into()),
                    role_arn: non_empty(get_str(&v, "role_arn")),
                    ttl,
                })
            }
        };
        let polling = block(c, "aws_polling").unwrap_or_default();
        let env_num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let poll_delay = get_i64(&polling, "delay_seconds")
            .map(|s| s.max(0) as u64)
            .or_else(|| env_num("AWS_POLL_DELAY_SECONDS"))
            .map(Duration::from_secs);
        let poll_max_attempts = get_i64(&polling, "max_attempts")
            .map(|n| n.max(1) as u64)
            .or_else(|| env_num("AWS_MAX_ATTEMPTS"))
            .map(|n| n.min(u32::MAX as u64) as u32);
        let endpoint = non_empty(get_str(c, "custom_endpoint_ec2"));
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
            token: non_empty(get_str(c, "token")),
            profile: non_empty(get_str(c, "profile")),
            shared_credentials_file: non_empty(get_str(c, "shared_credentials_file")),
            endpoint,
            skip_region_validation,
            skip_credential_validation: get_bool(c, "skip_credential_validation").unwrap_or(false),
            skip_metadata_api_check: get_bool(c, "skip_metadata_api_check").unwrap_or(false),
            decode_authorization_messages: get_bool(c, "decode_authorization_messages")
                .unwrap_or(false),
            max_retries: get_i64(c, "max_retries").map(|n| n.clamp(0, 100) as u32),
            assume_role,
            mfa_code: non_empty(get_str(c, "mfa_code")),
            vault,
            poll_delay,
            poll_max_attempts,
            insecure_skip_tls_verify: get_bool(c, "insecure_skip_tls_verify").unwrap_or(false),
        })
    }
}
