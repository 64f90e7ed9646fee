//! The credential sources a build tries when the template names none, in
//! the AWS CLI's order: the environment's keys, the shared-config profile,
//! web identity (OIDC), the container endpoint (ECS task roles, EKS Pod
//! Identity), the instance role. When none yields credentials, the error
//! says for each source why it did not apply, once, and never a secret.

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;

/// One source: what to call it, and the provider.
#[derive(Debug)]
struct Link {
    name: &'static str,
    /// `None` for a source that is only listed, never asked.
    provider: Option<SharedCredentialsProvider>,
    /// Why the source cannot apply, known before asking it (an unset
    /// variable); `None` asks the provider.
    skip: fn() -> Option<String>,
}

/// Sources tried in order; the first that yields credentials wins. A
/// source that is set up but fails (a refused role, an unreadable token
/// file) ends the search with its own error, as the AWS SDKs do: falling
/// through to the next would sign with an identity nobody chose.
#[derive(Debug, Default)]
pub struct Chain {
    links: Vec<Link>,
}

fn never() -> Option<String> {
    None
}

impl Chain {
    pub fn new() -> Chain {
        Chain::default()
    }

    /// Add a source.
    pub fn then(
        mut self,
        name: &'static str,
        provider: impl ProvideCredentials + 'static,
    ) -> Chain {
        self.links.push(Link {
            name,
            provider: Some(SharedCredentialsProvider::new(provider)),
            skip: never,
        });
        self
    }

    /// Add a source that `skip` can rule out without asking it.
    pub fn then_unless(
        mut self,
        name: &'static str,
        skip: fn() -> Option<String>,
        provider: impl ProvideCredentials + 'static,
    ) -> Chain {
        self.links.push(Link {
            name,
            provider: Some(SharedCredentialsProvider::new(provider)),
            skip,
        });
        self
    }

    /// A source that is never asked, listed with the reason.
    pub fn skipped(mut self, name: &'static str, skip: fn() -> Option<String>) -> Chain {
        self.links.push(Link {
            name,
            provider: None,
            skip,
        });
        self
    }

    async fn resolve(&self) -> Result<Credentials, CredentialsError> {
        let mut tried = Vec::new();
        for link in &self.links {
            let provider = match (&link.provider, (link.skip)()) {
                (Some(p), None) => p,
                (_, why) => {
                    let why = why.unwrap_or_else(|| "not asked".into());
                    tried.push(format!("{}: {why}", link.name));
                    continue;
                }
            };
            match provider.provide_credentials().await {
                Ok(c) => {
                    tracing::debug!("AWS credentials from {}", link.name);
                    return Ok(c);
                }
                Err(e @ CredentialsError::CredentialsNotLoaded(_)) => {
                    tried.push(format!("{}: {}", link.name, reason(&e)));
                }
                Err(e @ CredentialsError::InvalidConfiguration(_)) => return Err(e),
                Err(e) => {
                    let why = super::client::error_chain(&e);
                    return Err(CredentialsError::provider_error(format!(
                        "{}: {why}",
                        link.name
                    )));
                }
            }
        }
        Err(CredentialsError::not_loaded(NotFound(tried)))
    }
}

impl ProvideCredentials for Chain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}

/// Every source was tried and none applied; each line says why.
#[derive(Debug)]
pub struct NotFound(pub Vec<String>);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "No valid credential sources found for AWS. Tried, in order:"
        )?;
        for t in &self.0 {
            write!(f, "\n  - {t}")?;
        }
        write!(f, "\nSet access_key/secret_key in the template, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile (profile, AWS_PROFILE), or run where a role is given (instance, container, OIDC)")
    }
}

impl std::error::Error for NotFound {}

/// A not-loaded error's most telling part: its innermost cause (aws-config
/// wraps "environment variable not set" in "the credential provider was
/// not enabled").
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    super::client::error_chain(e)
        .trim_start_matches("the credential provider was not enabled: ")
        .to_string()
}

fn env_set(k: &str) -> bool {
    std::env::var_os(k).is_some_and(|v| !v.is_empty())
}

/// Why the environment's keys do not apply.
pub fn no_environment_keys() -> Option<String> {
    match (
        env_set("AWS_ACCESS_KEY_ID"),
        env_set("AWS_SECRET_ACCESS_KEY") || env_set("AWS_SECRET_KEY"),
    ) {
        (true, true) => None,
        (true, false) => Some("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()),
        (false, true) => Some("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()),
        (false, false) => Some("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".into()),
    }
}

/// Why web identity (OIDC) does not apply.
pub fn no_web_identity() -> Option<String> {
    match (
        env_set("AWS_WEB_IDENTITY_TOKEN_FILE"),
        env_set("AWS_ROLE_ARN"),
    ) {
        (true, true) => None,
        (true, false) => Some("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not".into()),
        (false, true) => Some("AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not".into()),
        (false, false) => Some("AWS_WEB_IDENTITY_TOKEN_FILE is not set".into()),
    }
}

/// Why the container endpoint (ECS, EKS Pod Identity) does not apply.
pub fn no_container() -> Option<String> {
    (!env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        && !env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
    .then(|| {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
            .into()
    })
}

/// Why the instance role is not asked when the environment turns it off.
pub fn no_instance_metadata() -> Option<String> {
    std::env::var("AWS_EC2_METADATA_DISABLED")
        .ok()
        .filter(|v| v.eq_ignore_ascii_case("true"))
        .map(|_| "AWS_EC2_METADATA_DISABLED is true".into())
}

/// The instance role when the template turns it off.
pub fn metadata_check_skipped() -> Option<String> {
    Some("not asked (skip_metadata_api_check = true)".into())
}
