//! shell: run commands and scripts on the machine over its communicator.

use super::{need_comm, Provisioner};
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{get_str, get_strings, Field, Kind};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

pub const FIELDS: &[Field] = &[
    Field("inline", Kind::Strings),
    Field("script", Kind::String),
    Field("scripts", Kind::Strings),
    Field("environment_vars", Kind::Strings),
    Field("env", Kind::StringMap),
    Field("env_var_format", Kind::String),
    Field("execute_command", Kind::String),
    Field("inline_shebang", Kind::String),
    Field("remote_folder", Kind::String),
    Field("remote_file", Kind::String),
    Field("remote_path", Kind::String),
    Field("skip_clean", Kind::Bool),
    Field("expect_disconnect", Kind::Bool),
    Field("start_retry_timeout", Kind::Duration),
    Field("valid_exit_codes", Kind::Any),
    Field("pause_after", Kind::Duration),
    Field("binary", Kind::Bool),
    Field("use_env_var_file", Kind::Bool),
];

pub fn validate(c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    let inline = get_strings(c, "inline");
    let mut scripts = get_strings(c, "scripts");
    if let Some(s) = get_str(c, "script") {
        scripts.push(s);
    }
    if inline.is_empty() && scripts.is_empty() {
        errs.push("Either a script file or inline script must be specified.".into());
    }
    if !inline.is_empty() && !scripts.is_empty() {
        errs.push("Only a script file or an inline script can be specified, not both.".into());
    }
    for s in &scripts {
        if let Err(e) = std::fs::metadata(s) {
            errs.push(format!("Bad script '{s}': {e}"));
        }
    }
    errs.extend(super::check_env_vars(c));
    errs
}

pub struct Shell {
    inline: Vec<String>,
}

impl Shell {
    pub fn new(c: &Config) -> Result<Shell, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        Ok(Shell { inline: get_strings(c, "inline") })
    }
}

#[async_trait]
impl Provisioner for Shell {
    async fn provision(&self, ctx: &BuildContext, comm: Option<&dyn Communicator>) -> Result<(), BuildError> {
        let comm = need_comm("shell", comm)?;
        let script = self.inline.join("\n");
        ctx.ui.say("Provisioning with shell script: inline");
        let ui = ctx.ui.clone();
        let code = comm
            .run(&script, &mut |o| match o {
                crate::communicator::Output::Stdout(l) => ui.message(l),
                crate::communicator::Output::Stderr(l) => ui.error(l),
            })
            .await?;
        if code != 0 {
            return Err(BuildError::Failed(format!("Script exited with non-zero exit status: {code}. Allowed exit codes are: [0]")));
        }
        Ok(())
    }
}
