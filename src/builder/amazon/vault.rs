//! `vault_aws_engine`: credentials from HashiCorp Vault's AWS secrets engine
//! (`GET $VAULT_ADDR/v1/<engine_name>/creds/<name>`), found as Vault's own
//! client finds it: `VAULT_ADDR` (default `https://127.0.0.1:8200`),
//! `VAULT_TOKEN` (else `~/.vault-token`, the CLI's), `VAULT_NAMESPACE`, and
//! `VAULT_CACERT` for a private CA.

use super::client::Reused;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use std::time::{Duration, SystemTime};

/// The template's `vault_aws_engine` block.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VaultEngine {
    pub name: String,
    pub engine_name: String,
    pub role_arn: Option<String>,
    pub ttl: Option<String>,
}

/// Asks Vault once, then reuses the lease until shortly before it ends.
#[derive(Debug)]
pub struct VaultProvider {
    engine: VaultEngine,
    reused: Reused,
}

impl VaultProvider {
    pub fn new(engine: VaultEngine) -> VaultProvider {
        VaultProvider {
            engine,
            reused: Reused::new(Duration::from_secs(60)),
        }
    }

    async fn ask(&self) -> Result<Credentials, CredentialsError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || fetch(&engine))
            .await
            .map_err(|e| CredentialsError::provider_error(e.to_string()))?
            .map_err(CredentialsError::invalid_configuration)
    }
}

impl ProvideCredentials for VaultProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.reused.get(|| self.ask()))
    }
}

fn token() -> Result<String, String> {
    if let Some(t) = std::env::var("VAULT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(t.trim().to_string());
    }
    let file = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".vault-token"));
    match file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()).filter(|t| !t.trim().is_empty()) {
        Some(t) => Ok(t.trim().to_string()),
        None => Err("vault_aws_engine: no Vault token: set VAULT_TOKEN (or log in with `vault login`, which writes ~/.vault-token)".into()),
    }
}

fn agent() -> Result<ureq::Agent, String> {
    let mut cfg = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false);
    if let Some(ca) = std::env::var_os("VAULT_CACERT").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&ca).map_err(|e| {
            format!(
                "vault_aws_engine: reading VAULT_CACERT {}: {e}",
                ca.to_string_lossy()
            )
        })?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!(
                "vault_aws_engine: VAULT_CACERT {} holds no PEM certificate",
                ca.to_string_lossy()
            ));
        }
        cfg = cfg.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        );
    }
    Ok(cfg.build().into())
}

/// One read of the engine's credentials endpoint. Errors never carry the
/// answer's body when it could hold a secret (a 2xx).
fn fetch(engine: &VaultEngine) -> Result<Credentials, String> {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    // RFC 3986's unreserved characters stay as they are.
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let addr = std::env::var("VAULT_ADDR")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "https://127.0.0.1:8200".into());
    let seg = |s: &str| utf8_percent_encode(s, UNRESERVED).to_string();
    let path = format!(
        "{}/creds/{}",
        engine
            .engine_name
            .split('/')
            .map(seg)
            .collect::<Vec<_>>()
            .join("/"),
        seg(&engine.name)
    );
    let mut url = format!("{}/v1/{path}", addr.trim_end_matches('/'));
    let query: Vec<String> = [("role_arn", &engine.role_arn), ("ttl", &engine.ttl)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", seg(v))))
        .collect();
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let what = format!("reading {path} from Vault at {addr}");
    let mut req = agent()?.get(&url).header("X-Vault-Token", token()?);
    if let Some(ns) = std::env::var("VAULT_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
    {
        req = req.header("X-Vault-Namespace", ns);
    }
    let mut resp = req
        .call()
        .map_err(|e| format!("vault_aws_engine: {what}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("vault_aws_engine: {what}: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    if !(200..300).contains(&status) {
        let errors: Vec<String> = json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let why = if errors.is_empty() {
            "no reason given".to_string()
        } else {
            errors.join("; ")
        };
        let hint = if status == 404 {
            " (is the secrets engine mounted at that path, and the role named so?)"
        } else {
            ""
        };
        return Err(format!(
            "vault_aws_engine: {what}: Vault answered {status}: {why}{hint}"
        ));
    }
    let data = &json["data"];
    let (Some(ak), Some(sk)) = (data["access_key"].as_str(), data["secret_key"].as_str()) else {
        return Err(format!("vault_aws_engine: {what}: the answer has no data.access_key and data.secret_key (is {path} an AWS secrets engine role?)"));
    };
    let token = data["security_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let expiry = json["lease_duration"]
        .as_u64()
        .filter(|d| *d > 0)
        .map(|d| SystemTime::now() + Duration::from_secs(d));
    Ok(Credentials::new(ak, sk, token, expiry, "Vault"))
}
