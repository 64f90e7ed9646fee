//! Steps every builder with a communicator shares: connect, provision.

use crate::communicator::ssh::{Settings, Ssh};
use crate::communicator::Communicator;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;

/// Build state that holds a connection.
pub trait Connected: Send {
    fn ssh_slot(&mut self) -> &mut Option<Ssh>;
}

type SettingsFn<'a, S> = Box<dyn Fn(&S) -> Result<Option<Settings>, String> + Send + Sync + 'a>;

/// Connect over SSH with settings computed from what earlier steps found
/// (the instance's address, a temporary key); `None`: no communicator.
pub struct StepConnect<'a, S> {
    pub settings: SettingsFn<'a, S>,
}

impl<'a, S> StepConnect<'a, S> {
    pub fn new(f: impl Fn(&S) -> Result<Option<Settings>, String> + Send + Sync + 'a) -> Self {
        StepConnect {
            settings: Box::new(f),
        }
    }
}

#[async_trait]
impl<S: Connected + Sync> Step<S> for StepConnect<'_, S> {
    fn name(&self) -> &'static str {
        "StepConnect"
    }
    async fn run(&self, state: &mut S, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(settings) = (self.settings)(state)? else {
            ctx.set_generated("ConnType", "none");
            return Ok(());
        };
        ctx.set_generated("ConnType", "ssh");
        ctx.set_generated("Host", settings.target.host.clone());
        ctx.set_generated("Port", settings.target.port.to_string());
        ctx.set_generated("User", settings.target.username.clone());
        if let Some(k) = &settings.target.private_key_file {
            ctx.set_generated("SSHPrivateKeyFile", k.display().to_string());
        }
        // A temporary key (never on disk): `build.SSHPrivateKey` and
        // `build.SSHPublicKey` as Packer gives them, the private one masked
        // everywhere; the ansible provisioner writes it out for its run.
        if let Some(k) = &settings.target.private_key {
            if let Ok(pem) = k.to_openssh(russh::keys::ssh_key::LineEnding::LF) {
                ctx.ui.add_secret(pem.as_str());
                ctx.set_generated("SSHPrivateKey", pem.as_str());
            }
            if let Ok(public) = k.public_key().to_openssh() {
                ctx.set_generated("SSHPublicKey", public);
            }
        }
        if let Some(b) = &settings.bastion {
            ctx.set_generated("SSHBastionHost", b.host.clone());
        }
        let ssh = Ssh::connect(settings, ctx).await?;
        *state.ssh_slot() = Some(ssh);
        Ok(())
    }
    async fn cleanup(&self, state: &mut S, _ctx: &BuildContext) {
        if let Some(s) = state.ssh_slot().take() {
            s.close().await;
        }
    }
}

/// Run the build's provisioners over the connection (if any).
pub struct StepProvision<'h> {
    pub hook: &'h dyn ProvisionHook,
}

#[async_trait]
impl<S: Connected + Sync> Step<S> for StepProvision<'_> {
    fn name(&self) -> &'static str {
        "StepProvision"
    }
    async fn run(&self, state: &mut S, ctx: &BuildContext) -> Result<(), BuildError> {
        let comm = state.ssh_slot().as_ref().map(|s| s as &dyn Communicator);
        self.hook.provision(ctx, comm).await
    }
}

type PublicKeyFn<'a, S> = Box<dyn Fn(&S) -> Option<String> + Send + Sync + 'a>;

/// `ssh_clear_authorized_keys`: take the build's temporary public key out
/// of the login user's and root's `authorized_keys` before the image is
/// made, so that the image does not trust a key that lived for one build.
/// Lines are matched on the key itself (Packer matches the key's comment,
/// which the machine may not have kept). A failure does not fail the
/// build, but is said: the image may still accept the key.
pub struct StepCleanupTempKeys<'a, S> {
    pub enabled: bool,
    /// The temporary key's public half (`ssh-rsa AAAA…`), if the build made one.
    pub public_key: PublicKeyFn<'a, S>,
}

impl<'a, S> StepCleanupTempKeys<'a, S> {
    /// The step for a builder's `ssh_clear_authorized_keys`.
    pub fn new(enabled: bool, f: impl Fn(&S) -> Option<String> + Send + Sync + 'a) -> Self {
        StepCleanupTempKeys {
            enabled,
            public_key: Box::new(f),
        }
    }
}

/// The commands that drop the lines holding `blob` (a key's base64 field):
/// `sed -i.bak` (GNU and BSD sed alike) on the user's file, and through
/// `sudo -n` on root's.
fn clear_key_commands(blob: &str) -> [(String, &'static str); 2] {
    let sed = |file: &str| format!("sed -i.bak '\\|{blob}|d' {file} && rm -f {file}.bak");
    [
        (sed("~/.ssh/authorized_keys"), "~/.ssh/authorized_keys"),
        (
            format!("sudo -n sh -c \"{}\"", sed("/root/.ssh/authorized_keys")),
            "/root/.ssh/authorized_keys",
        ),
    ]
}

#[async_trait]
impl<S: Connected + Sync> Step<S> for StepCleanupTempKeys<'_, S> {
    fn name(&self) -> &'static str {
        "StepCleanupTempKeys"
    }
    async fn run(&self, state: &mut S, ctx: &BuildContext) -> Result<(), BuildError> {
        if !self.enabled {
            return Ok(());
        }
        // A key's OpenSSH line is "type base64 [comment]": base64 has no '|'.
        let Some(blob) = (self.public_key)(state)
            .and_then(|line| line.split_whitespace().nth(1).map(str::to_string))
        else {
            return Ok(());
        };
        let Some(comm) = state.ssh_slot().as_ref() else {
            return Ok(());
        };
        ctx.ui
            .say("Trying to remove ephemeral keys from authorized_keys files");
        for (cmd, file) in clear_key_commands(&blob) {
            let mut err = String::new();
            let result = comm
                .run(&cmd, &mut |o| {
                    if let crate::communicator::Output::Stderr(l) = o {
                        err.push_str(l);
                    }
                })
                .await;
            let why = match result {
                Ok(0) => continue,
                Ok(code) => format!(
                    "exit status {code}{}",
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err.trim())
                    }
                ),
                Err(e) => e,
            };
            ctx.ui.message(&format!("Could not remove the temporary key from {file} ({why}); the image may still accept it"));
        }
        Ok(())
    }
}
