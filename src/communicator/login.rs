//! Logging in once connected, trying in turn: an OpenSSH
//! certificate, the private key, the agent's keys, the password, then
//! keyboard-interactive (`ssh_bastion_interactive`, answered by the user
//! through [`super::prompt`]).

use super::ssh::{ConnectError, Login, Trusting};
use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::{load_secret_key, PrivateKey, PrivateKeyWithHashAlg};
use std::sync::Arc;

/// An auth call that failed for want of a connection (not a refusal): retried.
fn auth_err(e: russh::Error) -> ConnectError {
    ConnectError::Unreachable(e.to_string())
}

/// The private key to log in with: the builder's temporary one, or the file's.
pub(super) fn load_key(login: &Login) -> Result<Option<Arc<PrivateKey>>, String> {
    if let Some(k) = &login.private_key {
        return Ok(Some(k.clone()));
    }
    match &login.private_key_file {
        None => Ok(None),
        Some(p) => load_secret_key(p, None)
            .map(|k| Some(Arc::new(k)))
            .map_err(|e| format!("reading private key {}: {e}", p.display())),
    }
}

pub(super) async fn authenticate(
    h: &mut Handle<Trusting>,
    login: &Login,
    key: Option<&Arc<PrivateKey>>,
) -> Result<(), ConnectError> {
    if let (Some(key), Some(cert)) = (key, &login.certificate) {
        if h.authenticate_openssh_cert(&login.username, key.clone(), cert.clone())
            .await
            .map_err(auth_err)?
            .success()
        {
            return Ok(());
        }
    }
    if let Some(key) = key {
        let hash = h
            .best_supported_rsa_hash()
            .await
            .map_err(auth_err)?
            .flatten();
        let r = h
            .authenticate_publickey(
                &login.username,
                PrivateKeyWithHashAlg::new(key.clone(), hash),
            )
            .await
            .map_err(auth_err)?;
        if r.success() {
            return Ok(());
        }
    }
    if login.agent_auth {
        if let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await {
            if let Ok(ids) = agent.request_identities().await {
                for id in ids {
                    let hash = h
                        .best_supported_rsa_hash()
                        .await
                        .map_err(auth_err)?
                        .flatten();
                    let tried = match id {
                        AgentIdentity::PublicKey { key, .. } => {
                            h.authenticate_publickey_with(&login.username, key, hash, &mut agent)
                                .await
                        }
                        AgentIdentity::Certificate { certificate, .. } => {
                            h.authenticate_certificate_with(
                                &login.username,
                                certificate,
                                hash,
                                &mut agent,
                            )
                            .await
                        }
                    };
                    if let Ok(r) = tried {
                        if r.success() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    if let Some(pw) = &login.password {
        let r = h
            .authenticate_password(&login.username, pw)
            .await
            .map_err(auth_err)?;
        if r.success() {
            return Ok(());
        }
    }
    if login.interactive && keyboard_interactive(h, login).await? {
        return Ok(());
    }
    Err(ConnectError::Auth(format!(
        "ssh: handshake failed: ssh: unable to authenticate as {:?} on {}:{}, attempted methods [none{}{}{}{}], no supported methods remain",
        login.username,
        login.host,
        login.port,
        if key.is_some() { " publickey" } else { "" },
        if login.agent_auth { " agent" } else { "" },
        if login.password.is_some() { " password" } else { "" },
        if login.interactive { " keyboard-interactive" } else { "" }
    )))
}

/// Keyboard-interactive login: each round of the server's questions is
/// answered by the user ([`super::prompt`]). Whether the server let us in.
async fn keyboard_interactive(
    h: &mut Handle<Trusting>,
    login: &Login,
) -> Result<bool, ConnectError> {
    use russh::client::KeyboardInteractiveAuthResponse as R;
    let mut r = h
        .authenticate_keyboard_interactive_start(&login.username, None)
        .await
        .map_err(auth_err)?;
    // A server may ask any number of rounds; one that never ends is refused.
    for _ in 0..32 {
        match r {
            R::Success => return Ok(true),
            R::Failure { .. } => return Ok(false),
            R::InfoRequest {
                name,
                instructions,
                prompts,
            } => {
                let questions: Vec<super::prompt::Question> = prompts
                    .into_iter()
                    .map(|p| super::prompt::Question {
                        prompt: p.prompt,
                        echo: p.echo,
                    })
                    .collect();
                let who = format!("{}@{}", login.username, login.host);
                let answers = tokio::task::spawn_blocking(move || {
                    super::prompt::answer(&who, &name, &instructions, &questions)
                })
                .await
                .map_err(|e| ConnectError::Fatal(format!("ssh_bastion_interactive: {e}")))?
                .map_err(|e| ConnectError::Fatal(format!("ssh_bastion_interactive: {e}")))?;
                r = h
                    .authenticate_keyboard_interactive_respond(answers)
                    .await
                    .map_err(auth_err)?;
            }
        }
    }
    Ok(false)
}
