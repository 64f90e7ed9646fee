//! EC2 (and IAM) clients from the access options: aws-config's credential chain
//! (template keys, environment, shared files and profiles, the instance role
//! over IMDSv2), `assume_role`, `custom_endpoint_ec2`, retries with backoff.

use super::config::Access;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_ec2::config::retry::RetryPartition;
use aws_sdk_ec2::Client;
use std::time::Duration;

/// Where to reach EC2 for one build: the shared SDK config and the region.
#[derive(Clone)]
pub struct Aws {
    sdk: SdkConfig,
    pub region: String,
    /// The shared-config profile in effect (the template's, else
    /// `AWS_PROFILE`, else `default`), for messages.
    profile: String,
}

/// The HTTP(S) client every AWS call goes through: rustls on ring for
/// `https://`, plain HTTP for an `http://` endpoint (moto, a local proxy).
pub fn http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls;
    SharedHttpClient::new(BySchemeClient {
        https: aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https(),
        // `build_http` is hidden from the crate's docs but public: the same
        // hyper client without TLS.
        http: aws_smithy_http_client::Builder::new().build_http(),
    })
}

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Picks the HTTPS client only for `https://` requests. The SDK's HTTPS
/// client reads the system's root certificates when it is set up (~150
/// files, a few ms and a few hundred kB at every start); behind this, a
/// build whose endpoints are all `http://` never reads them, and any other
/// reads them at its first HTTPS request, as Go's TLS does.
#[derive(Debug)]
struct BySchemeClient {
    https: SharedHttpClient,
    http: SharedHttpClient,
}

impl HttpClient for BySchemeClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BySchemeConnector {
            http: self.http.http_connector(settings, components),
            https: std::sync::OnceLock::new(),
            client: self.https.clone(),
            settings: settings.clone(),
            components: components.clone(),
        })
    }
}

#[derive(Debug)]
struct BySchemeConnector {
    http: SharedHttpConnector,
    https: std::sync::OnceLock<SharedHttpConnector>,
    client: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl HttpConnector for BySchemeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("http://") {
            return self.http.call(request);
        }
        self.https
            .get_or_init(|| self.client.http_connector(&self.settings, &self.components))
            .call(request)
    }
}

/// Credentials a provider fetched, handed out again until `margin` before
/// they expire (the SDK's own cache does not sit in front of
/// [`Aws::check_credentials`], and each region's client would ask anew).
#[derive(Debug)]
pub struct Reused {
    margin: Duration,
    slot: tokio::sync::Mutex<Option<Credentials>>,
}

impl Reused {
    pub fn new(margin: Duration) -> Reused {
        Reused {
            margin,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The credentials held, or `fetch`'s when none are fresh enough.
    pub async fn get<F>(
        &self,
        fetch: impl FnOnce() -> F,
    ) -> Result<Credentials, aws_credential_types::provider::error::CredentialsError>
    where
        F: std::future::Future<
            Output = Result<Credentials, aws_credential_types::provider::error::CredentialsError>,
        >,
    {
        let mut slot = self.slot.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| {
            c.expiry()
                .is_none_or(|e| e > std::time::SystemTime::now() + self.margin)
        }) {
            return Ok(c.clone());
        }
        let c = fetch().await?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// What aws-config's credential providers need from `access`: its region
/// and kiln's HTTP client.
pub fn provider_config(access: &Access) -> aws_config::provider_config::ProviderConfig {
    aws_config::provider_config::ProviderConfig::without_region()
        .with_region(Some(Region::new(access.region.clone())))
        .with_http_client(http_client())
}

/// Load the SDK config for `access` (credentials are resolved lazily by the
/// SDK; [`Aws::check_credentials`] resolves them up front).
pub async fn load(access: &Access) -> Aws {
    let client = if access.insecure_skip_tls_verify {
        // Only the build's own calls (EC2, IAM, STS): the credential
        // providers' endpoints keep their checks.
        match super::insecure::http_client() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("insecure_skip_tls_verify: {e}; certificates are checked");
                http_client()
            }
        }
    } else {
        http_client()
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(access.region.clone()))
        .http_client(client);
    let retries = access.max_retries.map(|n| n + 1).unwrap_or(8);
    // Standard mode: throttling, 5xx answers and dropped connections are
    // retried with full-jitter exponential backoff (0.25 s doubling to
    // 10 s), and every retry draws on the retry token bucket of the
    // client's retry partition, one per region (`ec2_in`): parallel builds
    // in a region share it, and stop retrying together when EC2 keeps
    // refusing. Not adaptive mode: its client-side rate limiter, fed by the
    // low call rate of a build, stalled calls 10-20 s after each throttle
    // (docs/builders/amazon-ebs.md has the figures).
    loader = loader.retry_config(
        RetryConfig::standard()
            .with_max_attempts(retries.max(1))
            .with_initial_backoff(Duration::from_millis(250))
            .with_max_backoff(Duration::from_secs(10)),
    );
    if let Some(e) = &access.endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(p) = &access.profile {
        loader = loader.profile_name(p);
    }
    let files = access.shared_credentials_file.as_ref().map(|f| {
        EnvConfigFiles::builder()
            .include_default_config_file(true)
            .with_file(EnvConfigFileKind::Credentials, f)
            .build()
    });
    if let Some(files) = &files {
        loader = loader.profile_files(files.clone());
    }
    // Credentials are chosen below; the loader's own chain would look at
    // the environment and the instance role for nothing.
    loader = loader.no_credentials();
    let pc = provider_config(access);
    let base = loader.load().await;
    let files = files.unwrap_or_default();
    let profile = |name: Option<&str>| {
        super::profile::ProfileProvider::new(
            name.map(str::to_string),
            files.clone(),
            pc.clone(),
            &base,
            access.mfa_code.clone(),
        )
    };
    // The first that applies: the template's keys, Vault, the template's
    // profile (even when the environment has keys too, as in Packer),
    // else the sources the AWS CLI tries.
    let chosen = if let (Some(ak), Some(sk)) = (&access.access_key, &access.secret_key) {
        match access.mfa_code {
            Some(_) => super::sts::refuse("mfa_code is set, but access_key/secret_key in the template need no MFA code: remove one of them"),
            None => SharedCredentialsProvider::new(Credentials::new(ak, sk, access.token.clone(), None, "template")),
        }
    } else if let Some(v) = &access.vault {
        SharedCredentialsProvider::new(super::vault::VaultProvider::new(v.clone()))
    } else if let Some(refusal) = mfa_mismatch(access, &files).await {
        refusal
    } else if let Some(p) = &access.profile {
        SharedCredentialsProvider::new(profile(Some(p)))
    } else {
        use super::credentials::*;
        let chain = Chain::new()
            .then_unless(
                "environment",
                no_environment_keys,
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .then("shared config profile", profile(None))
            .then_unless(
                "web identity",
                no_web_identity,
                aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder()
                    .configure(&pc)
                    .build(),
            )
            .then_unless(
                "container endpoint",
                no_container,
                aws_config::ecs::EcsCredentialsProvider::builder()
                    .configure(&pc)
                    .build(),
            );
        let chain = if access.skip_metadata_api_check {
            chain.skipped("instance role", metadata_check_skipped)
        } else {
            chain.then_unless(
                "instance role",
                no_instance_metadata,
                aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                    .configure(&pc)
                    .build(),
            )
        };
        SharedCredentialsProvider::new(chain)
    };
    let mut sdk = base.into_builder().credentials_provider(chosen).build();
    if let Some(role) = &access.assume_role {
        let provider = super::sts::AssumeRoleProvider::new(&sdk, role.clone(), None);
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    Aws {
        sdk,
        region: access.region.clone(),
        profile: access
            .profile
            .clone()
            .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
            .unwrap_or_else(|| "default".into()),
    }
}

impl Aws {
    /// A client for the build region.
    pub fn ec2(&self) -> Client {
        self.ec2_in(&self.region)
    }

    /// An IAM client (IAM is global; the build region signs the calls).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// `decode_authorization_messages`: append what STS decodes of an
    /// error's "Encoded authorization failure message", if it has one.
    pub async fn decode_authorization(&self, error: String) -> String {
        const MARK: &str = "Encoded authorization failure message: ";
        let Some(encoded) = error
            .split(MARK)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .filter(|e| !e.is_empty())
        else {
            return error;
        };
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        match sts
            .decode_authorization_message()
            .encoded_message(encoded)
            .send()
            .await
        {
            Ok(out) => format!(
                "{error}\n  decoded authorization failure message: {}",
                out.decoded_message().unwrap_or_default()
            ),
            Err(e) => format!(
                "{error}\n  (decoding the authorization failure message failed: {})",
                sdk_error("DecodeAuthorizationMessage", &e)
            ),
        }
    }

    /// A client for another region (`ami_regions` copies).
    pub fn ec2_in(&self, region: &str) -> Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .retry_partition(RetryPartition::new(format!("kiln-ec2-{region}")))
            .build();
        Client::from_conf(conf)
    }

    /// Resolve credentials now, so a build without any fails before it
    /// creates anything, with a message that says where kiln looked.
    pub async fn check_credentials(&self) -> Result<(), String> {
        let Some(p) = self.sdk.credentials_provider() else {
            return Err(format!("{NO_CREDENTIALS}: none configured"));
        };
        match p.provide_credentials().await {
            Ok(_) => Ok(()),
            // A set-up kiln refused (sts.rs) says what is wrong itself.
            Err(
                e
                @ aws_credential_types::provider::error::CredentialsError::InvalidConfiguration(_),
            ) => Err(format!(
                "AWS credentials: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string())
            )),
            Err(e) => {
                let chain = error_chain(&e);
                if let Some(m) = sso_login_expired(&self.profile, &chain) {
                    return Err(m);
                }
                // The chain's own list of what it tried says it all.
                let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(c) = cur {
                    if let Some(nf) = c.downcast_ref::<super::credentials::NotFound>() {
                        return Err(nf.to_string());
                    }
                    cur = c.source();
                }
                Err(format!(
                    "{NO_CREDENTIALS}: {}",
                    chain.trim_start_matches("the credential provider was not enabled: ")
                ))
            }
        }
    }

    /// The access key id in use (public; for tests and `-debug`).
    pub async fn access_key_id(&self) -> Option<String> {
        let p = self.sdk.credentials_provider()?;
        p.provide_credentials()
            .await
            .ok()
            .map(|c| c.access_key_id().to_string())
    }
}

/// A refusal when `mfa_code` is set but the credentials in effect need no
/// MFA code (the template's keys are checked by the caller).
async fn mfa_mismatch(
    access: &Access,
    files: &EnvConfigFiles,
) -> Option<SharedCredentialsProvider> {
    access.mfa_code.as_ref()?;
    // The environment's keys come before any profile but the template's own.
    if access.profile.is_none() && super::credentials::no_environment_keys().is_none() {
        return Some(super::sts::refuse("mfa_code is set, but the credentials come from AWS_ACCESS_KEY_ID in the environment, which needs no MFA code: unset one of them"));
    }
    let set = match super::profile::load(files, access.profile.as_deref()).await {
        Ok(s) => s,
        Err(e) => {
            return Some(super::sts::refuse(&format!(
                "mfa_code is set, but the shared config files could not be read: {e}"
            )))
        }
    };
    let name = set.selected_profile();
    let asks = set
        .get_profile(name)
        .is_some_and(|p| p.get("role_arn").is_some() && p.get("mfa_serial").is_some());
    (!asks).then(|| super::sts::refuse(&format!("mfa_code is set, but profile {name:?} assumes no role with MFA (it needs role_arn and mfa_serial in the shared config file)")))
}

/// When `profile` is an `aws sso login` profile and the SSO portal or the
/// token cache refused (an expired or missing login), the message that
/// says how to log in again.
fn sso_login_expired(profile: &str, chain: &str) -> Option<String> {
    let sso = shared_config_value(profile, "sso_start_url")
        .or_else(|| shared_config_value(profile, "sso_session"))
        .is_some();
    let refused = [
        "UnauthorizedException",
        "expired",
        "cached SSO token",
        "sso/cache",
    ]
    .iter()
    .any(|w| chain.contains(w));
    (sso && refused).then(|| {
        format!(
            "the AWS SSO login of profile {profile:?} has expired or is not valid: run `aws sso login --profile {profile}`, then build again\n  ({chain})"
        )
    })
}

/// `key` of `profile` in the shared config file (`AWS_CONFIG_FILE`, else
/// `~/.aws/config`), read as the AWS CLI's INI: `[profile NAME]`, or
/// `[default]`.
pub fn shared_config_value(profile: &str, key: &str) -> Option<String> {
    let path = std::env::var_os("AWS_CONFIG_FILE")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".aws/config"))
        })?;
    let text = crate::util::fs::read_regular_string(&path).ok()?;
    let wanted = |section: &str| {
        let s = section.trim();
        s == format!("profile {profile}") || (profile == "default" && s == "default")
    };
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(section) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = wanted(section);
        } else if inside {
            if let Some((k, v)) = l.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

const NO_CREDENTIALS: &str = "No valid credential sources found for AWS";

/// An error and its causes on one line (SDK errors hide the useful part in
/// their sources).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// The message of an SDK call's error: the service's code and message when
/// it answered, else the transport's reason.
pub fn sdk_error<E>(
    op: &str,
    e: &aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> String
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ec2::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{op}: {c}: {m}"),
                (Some(c), None) => format!("{op}: {c}"),
                _ => format!("{op}: the endpoint answered HTTP {} without an EC2 error in the body (does it implement {op}?)", s.raw().status().as_u16()),
            }
        }
        other => format!("{op}: {}", error_chain(other)),
    }
}

/// Whether a failed call says the thing it named does not exist (EC2's
/// `InvalidX.NotFound`/`.Unknown`, IAM's `NoSuchEntity`): deleting or
/// waiting on what is already gone counts as done.
pub fn is_not_found<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata,
{
    error_code(e)
        .is_some_and(|c| c.contains("NotFound") || c.contains(".Unknown") || c == "NoSuchEntity")
}

/// The service error code of a failed call, if the service answered.
pub fn error_code<E, R>(e: &aws_sdk_ec2::error::SdkError<E, R>) -> Option<String>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_ec2::error::SdkError::ServiceError(s) => s.err().code().map(str::to_string),
        _ => None,
    }
}
