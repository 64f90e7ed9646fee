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
        StepConnect { settings: Box::new(f) }
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
